"""Times written with a colon ("9:45", "23:07"), read by `read_number` as `mnistlab read`
reads them, counted on both sides of "sure" (docs/reading.md, "A colon").

    python -m benchmarks.written_times [--ref REV] [--split val] [--count 200] [--seed 2]
        [--write]

Digits: MNIST digits of the split (validation by default: the test split is for the record,
once), each as its own 28x28 pixels side by side, so the digits are MNIST's own and not
mnistlab.synth's. The colon is drawn here with PIL: two round dots 1.5-3.5 px across (at
MNIST's scale, where a digit is about 20 px tall), the upper centred 30-55% of the way down
the digits' height and the lower 80-97%, each up to 0.5 px off the column, in a gap 9-15 px
wide; the line is then enlarged 4x (bicubic), dark ink on white paper. The same PNG files are
read in a fresh process by this checkout and, with --ref, by an earlier commit (a temporary
git worktree), one torch thread each.

right: sure and right; wrong: sure and wrong; wasted: not sure, best reading right; saved: not
sure, best reading wrong; strings: the best reading right, sure or not; colon: a colon read
where it was written (the digits aside); doubted: not sure for the signs (Reading.doubt).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks._report import commit_ref, read_numbers, readers, update_section

OUT = Path(__file__).parent / "results" / "written_times.json"
SCALE = 4  # the drawing's resolution, and the line's enlargement


def colon(rng: np.random.Generator) -> np.ndarray:
    """A colon's column of MNIST's height (28 px, ink high, uint8), drawn at SCALE and
    reduced."""
    width = int(rng.integers(9, 16))
    slot = Image.new("L", (width * SCALE, 28 * SCALE), 0)
    draw = ImageDraw.Draw(slot)
    radius = rng.uniform(1.5, 3.5) * SCALE / 2
    for down in (rng.uniform(0.3, 0.55), rng.uniform(0.8, 0.97)):
        x = (width / 2 + rng.uniform(-0.5, 0.5)) * SCALE
        y = (4 + 20 * down) * SCALE  # MNIST's digits fill rows 4-24
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(slot.resize((width, 28), Image.BOX))


def draw(folder: Path, images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> dict:
    """`count` times as PNG files in `folder`; {file stem: true string}."""
    rng = np.random.default_rng(seed)
    truths = {}
    for i in range(count):
        text = f"{rng.integers(0, 24)}:{rng.integers(0, 60):02d}"
        columns = []
        for character in text:
            if character == ":":
                columns.append(colon(rng))
                continue
            same = np.flatnonzero(labels == int(character))
            columns.append(images[int(rng.choice(same))])
        strip = np.pad(np.concatenate(columns, axis=1), 10)
        line = Image.fromarray(255 - strip)
        line = line.resize((line.width * SCALE, line.height * SCALE), Image.BICUBIC)
        stem = f"time-{i:03d}"
        line.save(folder / f"{stem}.png")
        truths[stem] = text
    return truths


def counts(readings: dict[str, dict], truths: dict[str, str]) -> dict[str, int]:
    keys = ("numbers", "strings", "colon", "right", "wrong", "wasted", "saved", "doubted")
    out = dict.fromkeys(keys, 0)
    for stem, truth in truths.items():
        reading = readings[stem]
        good = reading["number"] == truth
        out["numbers"] += 1
        out["strings"] += good
        out["colon"] += reading["number"].find(":") == truth.index(":")
        out["doubted"] += reading["doubted"]
        key = ("right" if good else "wrong") if reading["sure"] else ("wasted" if good else "saved")
        out[key] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ref", type=commit_ref, help="also read with an earlier commit (any git revision)"
    )
    parser.add_argument("--model", default="sota-cpu")
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--count", type=int, default=200, help="times drawn")
    parser.add_argument("--seed", type=int, default=2, help="the times drawn (seed 1: chosen on)")
    parser.add_argument("--write", action="store_true", help="also write docs/RESULTS.md")
    parser.add_argument("--data-dir", help="the MNIST files (default: MNISTLAB_DATA_DIR)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    from mnistlab.data.splits import load_splits
    from mnistlab.errors import MnistlabError
    from mnistlab.system import header

    try:
        split = load_splits("mnist", args.data_dir, download=False)[args.split]
    except MnistlabError as error:
        parser.exit(2, f"written_times: error: {error}\n")
    record = {
        "command": "python -m benchmarks.written_times " + " ".join(argv or sys.argv[1:]),
        "header": f"{header('cpu')} (each reader: 1 torch thread); model {args.model}; "
        f"{args.count} times of {args.split} digits, seed {args.seed}",
        "rows": {},
    }
    print(record["header"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        images, labels = split.images.numpy(), split.labels.numpy()
        truths = draw(folder, images, labels, args.count, args.seed)
        with readers(args.ref) as commits:
            for label, src in commits:
                readings = read_numbers(src, folder, args.model)
                record["rows"][label] = counts(readings, truths)
                print(f"{label:<14} {record['rows'][label]}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    if args.write:
        update_section("written-times", results_section(record))
    return 0


def results_section(record: dict) -> str:
    lines = [
        '### Times written with a colon (docs/reading.md, "A colon")',
        "",
        f"`{record['command']}`: {record['header']}. MNIST's own digits side by side, the "
        "colon drawn by the script (two round dots of varied size and place). Shares of the "
        "times; colon: read where it was written; doubted: not sure for the signs.",
        "",
        "| reader | times | strings right | colon read | sure and right | sure and wrong "
        "| wasted | saved | doubted |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in record["rows"].items():
        n = row["numbers"]
        cells = [f"{100 * row[k] / n:.1f}%" for k in ("strings", "colon", "right", "wrong")]
        cells += [f"{100 * row[k] / n:.1f}%" for k in ("wasted", "saved", "doubted")]
        lines.append(f"| {label} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
