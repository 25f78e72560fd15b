"""The outside check for read numbers: numbers written with digits by other people, laid out
here without mnistlab.synth, read by `read_number` as `mnistlab read --json` reads them,
counted on both sides of "sure" (issue 26).

    python -m benchmarks.outside_numbers [--ref REV] [--numbers 200] [--model sota-cpu] [--write]

Digits: scikit-learn's `load_digits` (UCI optdigits' test part, 8x8 px, 13 writers; outside
every fit and tuning, as in benchmarks.outside), enlarged with bicubic resampling; and, for the
"mixed" numbers, MNIST test digits beside them (the issue's own trial: "MNIST test digits and other
writers' digits on one line"). Layout (this file's own, so that the reader is not judged only
on the renderer it was tuned with): 2-6 digits, a line height of 40-80 px, each digit its own
size (+-10%) and baseline (+-5% of the height), gaps of 10-50% of the height, black ink on
white. The same PNG files are read in a fresh process by this checkout and, with --ref, by an
earlier commit (a temporary git worktree), one torch thread each.

right: sure and right; wrong: sure and wrong; wasted: not sure, best reading right; saved: not
sure, best reading wrong; strings: the best reading right, sure or not; blank: no ink found
(counted as not sure and wrong).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks._report import commit_ref, read_numbers, readers, update_section

OUT = Path(__file__).parent / "results" / "outside_numbers.json"
SOURCES = ("optdigits", "mixed")
SEED = 2612  # the numbers drawn; fixed before the first run


def ink_of_optdigit(values: np.ndarray, height: int) -> np.ndarray:
    """An 8x8 optdigits digit (0..16) cut to its ink, enlarged (bicubic) to `height` px: ink
    coverage 0..1."""
    rows, cols = np.nonzero(values > 0)
    cut = values[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] / 16.0
    return _enlarged(cut, height, Image.BICUBIC)


def ink_of_mnist(pixels: np.ndarray, height: int) -> np.ndarray:
    """A 28x28 MNIST digit (uint8, ink high) cut to its ink, resized to `height` px."""
    rows, cols = np.nonzero(pixels > 0)
    cut = pixels[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] / 255.0
    return _enlarged(cut, height, Image.BILINEAR)


def _enlarged(ink: np.ndarray, height: int, resample: int) -> np.ndarray:
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    image = Image.fromarray(np.float32(ink), mode="F").resize((width, height), resample)
    return np.clip(np.asarray(image), 0.0, 1.0)


def lay_out_line(inks: list[np.ndarray], height: int, rng: np.random.Generator) -> Image.Image:
    """Digits' ink left to right with uneven gaps and baselines, black on white."""
    margin = height // 2
    lefts, left = [], margin
    for ink in inks:
        lefts.append(left)
        left += ink.shape[1] + int(rng.uniform(0.1, 0.5) * height)
    page = np.zeros((int(1.3 * height) + 2 * margin, left + margin))
    for ink, x in zip(inks, lefts, strict=True):
        top = margin + height - ink.shape[0] + int(rng.uniform(-0.05, 0.05) * height)
        area = page[top : top + ink.shape[0], x : x + ink.shape[1]]
        np.maximum(area, ink, out=area)
    return Image.fromarray(np.uint8(np.rint(255 * (1.0 - page)))).convert("RGB")


def draw(folder: Path, source: str, count: int, optdigits, mnist) -> dict[str, str]:
    """`count` numbers of `source` as PNG files in `folder`; {file stem: true string}."""
    rng = np.random.default_rng([SEED, SOURCES.index(source)])
    (opt_images, opt_labels), (mnist_images, mnist_labels) = optdigits, mnist
    truths = {}
    for i in range(count):
        height = int(rng.uniform(40, 80))
        inks, truth = [], ""
        for _ in range(int(rng.integers(2, 7))):
            size = max(8, round(height * rng.uniform(0.9, 1.1)))
            if source == "optdigits" or rng.random() < 0.5:
                j = int(rng.integers(len(opt_labels)))
                inks.append(ink_of_optdigit(opt_images[j], size))
                truth += str(int(opt_labels[j]))
            else:
                j = int(rng.integers(len(mnist_labels)))
                inks.append(ink_of_mnist(mnist_images[j], size))
                truth += str(int(mnist_labels[j]))
        stem = f"{source}-{i:03d}"
        lay_out_line(inks, height, rng).save(folder / f"{stem}.png")
        truths[stem] = truth
    return truths


def counts(readings: dict[str, dict], truths: dict[str, str]) -> dict[str, int]:
    out = dict.fromkeys(("numbers", "strings", "right", "wrong", "wasted", "saved", "blank"), 0)
    for stem, truth in truths.items():
        reading = readings[stem]
        good = reading["number"] == truth
        out["numbers"] += 1
        out["blank"] += "error" in reading
        out["strings"] += good
        key = ("right" if good else "wrong") if reading["sure"] else ("wasted" if good else "saved")
        out[key] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ref", type=commit_ref, help="also read with an earlier commit (any git revision)"
    )
    parser.add_argument("--model", default="sota-cpu")
    parser.add_argument("--numbers", type=int, default=200, help="numbers per source")
    parser.add_argument("--write", action="store_true", help="also write docs/RESULTS.md")
    parser.add_argument("--data-dir", help="the MNIST files (default: MNISTLAB_DATA_DIR)")
    args = parser.parse_args(argv)
    if args.numbers < 1:
        parser.error("--numbers must be at least 1")
    import sklearn
    from sklearn.datasets import load_digits

    from mnistlab.data.splits import load_splits
    from mnistlab.errors import MnistlabError
    from mnistlab.system import header

    data = load_digits()
    try:
        test = load_splits("mnist", args.data_dir, download=False)["test"]
    except MnistlabError as error:
        parser.exit(2, f"outside_numbers: error: {error}\n")
    optdigits = (data.images, data.target)
    mnist = (test.images.numpy(), test.labels.numpy())
    record = {
        "command": "python -m benchmarks.outside_numbers " + " ".join(argv or sys.argv[1:]),
        "header": f"{header('cpu')} (each reader: 1 torch thread); scikit-learn "
        f"{sklearn.__version__}; model {args.model}; {args.numbers} numbers per source, seed "
        f"{SEED}",
        "rows": {},
    }
    print(record["header"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        truths: dict[str, str] = {}
        for source in SOURCES:
            truths.update(draw(folder, source, args.numbers, optdigits, mnist))
        with readers(args.ref) as commits:
            for label, src in commits:
                readings = read_numbers(src, folder, args.model)
                for source in SOURCES:
                    mine = {k: v for k, v in truths.items() if k.startswith(source)}
                    row = counts(readings, mine)
                    record["rows"][f"{source} ({label})"] = row
                    print(f"{source:<10} {label:<14} {row}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    if args.write:
        update_section("outside-numbers", results_section(record))
    return 0


def results_section(record: dict) -> str:
    lines = [
        "### Numbers written with other people's digits: the outside check (issue 26)",
        "",
        f"`{record['command']}`: {record['header']}. optdigits: every digit "
        "from scikit-learn's load_digits (13 writers, 8x8 px, enlarged); mixed: each digit "
        "from load_digits or the MNIST test split at random. The layout is the script's own, "
        "not mnistlab.synth's. Shares of the numbers.",
        "",
        "| numbers (reader) | numbers | strings right | sure and right | sure and wrong | "
        "wasted | saved |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in record["rows"].items():
        n = max(1, row["numbers"])
        lines.append(
            f"| {name} | {row['numbers']} | "
            + " | ".join(
                f"{100 * row[k] / n:.1f}%" for k in ("strings", "right", "wrong", "wasted", "saved")
            )
            + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
