"""Numbers laid out as people write them, not as mnistlab.synth lays them out, read by
`read_number` as `mnistlab read --json` reads them and counted on both sides of "sure"
(issue 26: "sure" only when the whole string is right).

    python -m benchmarks.as_people_write [--ref REV] [--numbers 100] [--model sota-cpu] [--write]

Each number is 3-5 MNIST TEST digits (drawn after every choice of the reader's was made, on
validation numbers and on a walkthrough's hand-drawn images), black ink on white, 28 px digits
enlarged 4x, in one of these layouts (this file's own):

- plain: gaps of 2-8 px, no other change (the control: a doubt must cost nothing here);
- light: one digit at 20-45% of the others' darkness (a pencil pressed lightly);
- light-photo: the same under uneven light, with sensor noise, through JPEG at quality 70;
- apart: two numbers of 2-3 digits on one line, 3-5 digit heights apart (truth "42 17": no
  single number is right, so every sure answer is wrong);
- raised: the last digit at half size, its ink 0.4 of the height above the line (a
  power or a footnote, "5²": no answer without the raise is right).

The same PNG files are read in a fresh process by this checkout and, with --ref, by an earlier
commit (a temporary git worktree), one torch thread each. right: sure and right; wrong: sure
and wrong; wasted: not sure, best reading right; saved: not sure, best reading wrong; strings:
the best reading right, sure or not.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks._report import commit_ref, read_numbers, readers, update_section
from benchmarks.outside_numbers import counts

OUT = Path(__file__).parent / "results" / "as_people_write.json"
LAYOUTS = ("plain", "light", "light-photo", "apart", "raised")
SEED = 2614  # the numbers drawn; fixed before the first run
SCALE = 4


def _line(images, labels, layout: str, rng: np.random.Generator) -> tuple[str, Image.Image]:
    """One number in `layout`: (its truth, the image)."""
    count = int(rng.integers(4, 7)) if layout == "apart" else int(rng.integers(3, 6))
    chosen = rng.integers(0, len(images), size=count)
    text = "".join(str(int(labels[i])) for i in chosen)
    gaps = [int(rng.integers(2, 9)) for _ in range(count - 1)]
    dark = np.ones(count)
    sizes, lifts = np.ones(count), np.zeros(count, int)
    if layout.startswith("light"):
        dark[int(rng.integers(count))] = rng.uniform(0.2, 0.45)
    if layout == "apart":
        split = int(rng.integers(2, count - 1))
        gaps[split - 1] = int(rng.uniform(3, 5) * 20)  # MNIST's digits are ~20 px tall
        text = f"{text[:split]} {text[split:]}"
    if layout == "raised":
        sizes[-1], lifts[-1] = 0.5, 10  # its ink ~0.4 of the height above the line
        text = f"{text[:-1]}^{text[-1]}"
    canvas = np.zeros((84, 60 + sum(gaps) + 28 * count), np.float32)
    x = 30
    for i, index in enumerate(chosen):
        side = round(28 * sizes[i])
        digit = Image.fromarray(images[index]).resize((side, side), Image.BILINEAR)
        top = 64 - lifts[i] - side
        area = canvas[top : top + side, x : x + side]
        np.maximum(area, np.asarray(digit, np.float32) / 255 * dark[i], out=area)
        x += side + (gaps[i] if i < len(gaps) else 0)
    paper = 1.0 - canvas
    if layout == "light-photo":
        height, width = paper.shape
        light = (
            0.72 + 0.22 * np.linspace(0, 1, width)[None] + 0.05 * np.linspace(0, 1, height)[:, None]
        )
        paper = light * (1.0 - 0.85 * canvas) + rng.normal(0, 0.015, paper.shape)
    image = Image.fromarray(np.uint8(np.clip(np.rint(255 * paper), 0, 255)))
    image = image.resize((image.width * SCALE, image.height * SCALE), Image.BILINEAR)
    if layout == "light-photo":
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=70)
        image = Image.open(buffer).convert("L")
    return text, image


def draw(folder: Path, layout: str, count: int, images, labels) -> dict[str, str]:
    """`count` numbers in `layout` as PNG files in `folder`; {file stem: true string}."""
    rng = np.random.default_rng([SEED, LAYOUTS.index(layout)])
    truths = {}
    for i in range(count):
        truth, image = _line(images, labels, layout, rng)
        stem = f"{layout}-{i:03d}"
        image.save(folder / f"{stem}.png")
        truths[stem] = truth
    return truths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ref", type=commit_ref, help="also read with an earlier commit (any git revision)"
    )
    parser.add_argument("--numbers", type=int, default=100, help="numbers per layout")
    parser.add_argument("--model", default="sota-cpu")
    parser.add_argument("--write", action="store_true", help="also write docs/RESULTS.md")
    args = parser.parse_args(argv)
    if args.numbers < 1:
        parser.error("--numbers must be at least 1")
    from mnistlab.data.splits import load_splits
    from mnistlab.system import header

    test = load_splits(download=False)["test"]
    images, labels = test.images.numpy(), test.labels.numpy()
    record = {
        "command": "python -m benchmarks.as_people_write " + " ".join(argv or sys.argv[1:]),
        "header": f"{header('cpu')} (each reader: 1 torch thread); model {args.model}; "
        f"{args.numbers} numbers per layout, seed {SEED}",
        "rows": [],
    }
    print(record["header"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        truths: dict[str, str] = {}
        for layout in LAYOUTS:
            truths.update(draw(folder, layout, args.numbers, images, labels))
        with readers(args.ref) as commits:
            for label, src in commits:
                readings = read_numbers(src, folder, args.model)
                for layout in LAYOUTS:
                    mine = {k: v for k, v in truths.items() if k.rsplit("-", 1)[0] == layout}
                    row = {"layout": layout, "reader": label, **counts(readings, mine)}
                    record["rows"].append(row)
                    print(f"{layout:<12} {label:<14} {row}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    if args.write:
        update_section("as-people-write", _markdown(record))
    return 0


def _markdown(record: dict) -> str:
    lines = [
        "### Numbers laid out as people write them (issue 26)",
        "",
        f"`{record['command']}`: {record['header']}. MNIST test digits in this script's own "
        "layouts (not mnistlab.synth's; its docstring says how each is drawn). strings: the "
        "best reading right; sure and right / wrong; wasted / saved: not sure with a right / "
        "wrong best reading. apart and raised have no right single reading: there every sure "
        "answer is wrong. Shares of the numbers.",
        "",
        "| layout | reader | strings | sure and right | sure and wrong | wasted | saved |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in record["rows"]:
        n = max(1, row["numbers"])
        cells = [
            f"{100 * row[k] / n:.1f}%" for k in ("strings", "right", "wrong", "wasted", "saved")
        ]
        lines.append(f"| {row['layout']} | {row['reader']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
