"""Digits in a phone's photo of a whole page: a 4000x3000 JPEG with one handwritten digit
somewhere on it, 20-90 px tall (a digit 2-8 mm tall on a page that fills the frame), answered
as `mnistlab predict --json` answers it; beside it, the same digit cropped around with a margin
(what a user sends who crops first). With --numbers, the same for numbers of 2-6 digits
(laid out as synth.numbers' "gaps"), read as `mnistlab read --json` reads them.

    python -m benchmarks.phone_photos [--ref REV] [--digits 100] [--numbers 0] [--split test]
        [--model sota-cpu] [--write]

MNIST test digits (seed 2613, fixed before the first run), drawn as dark ink of MNIST's
stroke on paper of a random tone with sensor noise (sigma 4 grey levels), saved as JPEG
(quality 90). The files are read in a fresh process by this checkout and, with --ref, by an
earlier commit (a temporary git worktree), one torch thread each. The finer look at a digit
too small for the first look (inference.preprocess._finer_look) and the look at the file's own
pixels (inference.images.FullDetail) were designed on validation digits drawn this way
(--split val); test digits are read for the report only.

right: answered the right digit (the whole string, for numbers); guess: the best guess right,
"not sure" or not; not sure: refused; no digit: no ink found.
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

from benchmarks._report import commit_ref, readers, run_child, update_section

OUT = Path(__file__).parent / "results" / "phone_photos.json"
SEED = 2613
FRAME = (3000, 4000)  # a 12-megapixel phone photo, landscape
BANDS = ((20, 30), (30, 50), (50, 90))  # the digit's height in the photo, px
MARGIN = 150  # px of page kept around the digit in the cropped copy
NUMBER_LENGTHS = (2, 6)  # digits per number

CHILD = """
import json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
import mnistlab
from mnistlab.inference import Predictor
from mnistlab.inference.field import NoDigitError
from mnistlab.inference.reading import read_number
predictor = Predictor.from_path(sys.argv[2])
out = {}
for f in sorted(Path(sys.argv[1]).glob("*.jpg")):
    try:
        if f.stem.startswith("number"):
            r = read_number(predictor, f)
            out[f.stem] = {"digit": r.number if r.sure else None, "guess": r.number}
        else:
            a = predictor.predict(f)
            out[f.stem] = {"digit": a.digit, "guess": a.guess}
    except NoDigitError as error:  # no ink found: counted, not fatal (anything else is)
        out[f.stem] = {"digit": None, "guess": None, "error": str(error)}
print(json.dumps({"mnistlab": mnistlab.__file__, "answers": out}))
"""


def photograph(digit: np.ndarray, height: float, rng: np.random.Generator):
    """(the whole photo, the digit cropped with MARGIN px of page) as PIL images."""
    from mnistlab.synth import render

    return photograph_ink(render.crop_to_ink(render.ink_alpha(digit, height)), rng)


def number_ink(digits: list[np.ndarray], height: float, rng: np.random.Generator) -> np.ndarray:
    """The ink (0..1) of a number written with `digits` on one line, its tallest digit
    `height` px tall."""
    from mnistlab.synth import render
    from mnistlab.synth.numbers import lay_out

    ink, placed = lay_out(digits, rng, jitter=False, touch=False)
    alpha = render.crop_to_ink(ink)
    factor = height / max(a.shape[0] for a, _, _ in placed)
    size = (max(1, round(alpha.shape[1] * factor)), max(1, round(alpha.shape[0] * factor)))
    return np.asarray(Image.fromarray(alpha).resize(size, Image.LANCZOS)).clip(0.0, 1.0)


def photograph_ink(alpha: np.ndarray, rng: np.random.Generator):
    """(the whole photo, the ink cropped with MARGIN px of page) as PIL images."""
    top = int(rng.integers(MARGIN, FRAME[0] - alpha.shape[0] - MARGIN))
    left = int(rng.integers(MARGIN, FRAME[1] - alpha.shape[1] - MARGIN))
    page = np.empty((*FRAME, 3), np.float32)
    page[:] = rng.uniform(225, 250, size=3)
    page += rng.normal(0, 4, (*FRAME, 1)).astype(np.float32)
    region = page[top : top + alpha.shape[0], left : left + alpha.shape[1]]
    region[:] = (
        region * (1 - alpha[..., None]) + np.array([30, 30, 60], np.float32) * alpha[..., None]
    )
    photo = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    box = (
        left - MARGIN,
        top - MARGIN,
        left + alpha.shape[1] + MARGIN,
        top + alpha.shape[0] + MARGIN,
    )
    return photo, photo.crop(box)


def draw(folder: Path, count: int, split, numbers: int = 0) -> dict[str, int | str]:
    """`count` digits per band as JPEG files in `folder` ({band}-{i}-whole / -cropped), and
    `numbers` numbers (number-{band}-{i}-...); {file stem without the view: the truth}."""
    images, labels = split
    truths: dict[str, int | str] = {}
    for b, (low, high) in enumerate(BANDS):
        rng = np.random.default_rng([SEED, b])
        for i in range(count):
            j = int(rng.integers(len(labels)))
            views = photograph(images[j], float(rng.uniform(low, high)), rng)
            truths[_save(folder, f"{low}-{high}px-{i:03d}", views)] = int(labels[j])
        rng = np.random.default_rng([SEED, len(BANDS) + b])  # the digits' draws stay as they were
        for i in range(numbers):
            chosen = rng.integers(0, len(labels), int(rng.integers(*NUMBER_LENGTHS) + 1))
            ink = number_ink([images[j] for j in chosen], float(rng.uniform(low, high)), rng)
            stem = _save(folder, f"number-{low}-{high}px-{i:03d}", photograph_ink(ink, rng))
            truths[stem] = "".join(str(int(labels[j])) for j in chosen)
    return truths


def _save(folder: Path, stem: str, views) -> str:
    for view, image in zip(("whole", "cropped"), views, strict=True):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        (folder / f"{stem}-{view}.jpg").write_bytes(buffer.getvalue())
    return stem


def answer_all(src: Path, folder: Path, model: str) -> dict[str, dict]:
    """Each file's answer by the mnistlab in `src`, in a fresh process."""
    return run_child(CHILD, src, folder, model)["answers"]


def counts(answers: dict[str, dict], truths: dict, band: str, view: str) -> dict:
    out = dict.fromkeys(("digits", "right", "guess", "not sure", "no digit"), 0)
    for stem, truth in truths.items():
        if not stem.startswith(band):
            continue
        answer = answers[f"{stem}-{view}"]
        out["digits"] += 1
        out["right"] += answer["digit"] == truth
        out["guess"] += answer["guess"] == truth
        out["no digit"] += "error" in answer
        out["not sure"] += "error" not in answer and answer["digit"] is None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ref", type=commit_ref, help="also answer with an earlier commit (any git revision)"
    )
    parser.add_argument("--model", default="sota-cpu")
    parser.add_argument("--digits", type=int, default=100, help="digits per height band")
    parser.add_argument("--numbers", type=int, default=0, help="numbers per height band")
    parser.add_argument(
        "--split", choices=("test", "val"), default="test", help="val while designing"
    )
    parser.add_argument("--write", action="store_true", help="also write docs/RESULTS.md")
    parser.add_argument("--data-dir", help="the MNIST files (default: MNISTLAB_DATA_DIR)")
    args = parser.parse_args(argv)
    if args.digits < 1 or args.numbers < 0:
        parser.error("--digits must be at least 1 and --numbers at least 0")
    if args.write and args.split != "test":
        parser.error("--write reports test digits only; drop --write for a --split val check")
    from mnistlab.data.splits import load_splits
    from mnistlab.errors import MnistlabError
    from mnistlab.system import header

    try:
        split = load_splits("mnist", args.data_dir, download=False)[args.split]
    except MnistlabError as error:
        parser.exit(2, f"phone_photos: error: {error}\n")
    record = {
        "command": "python -m benchmarks.phone_photos " + " ".join(argv or sys.argv[1:]),
        "header": f"{header('cpu')} (each reader: 1 torch thread); model {args.model}; "
        f"{args.digits} {args.split} digits and {args.numbers} numbers per band, seed {SEED}",
        "rows": {},
    }
    print(record["header"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pool = (split.images.numpy(), split.labels.numpy())
        truths = draw(folder, args.digits, pool, args.numbers)
        with readers(args.ref) as answering:
            for label, src in answering:
                answers = answer_all(src, folder, args.model)
                for what in ("", "number-") if args.numbers else ("",):
                    for low, high in BANDS:
                        for view in ("whole", "cropped"):
                            row = counts(answers, truths, f"{what}{low}-{high}px", view)
                            noun = "numbers" if what else "digits"
                            name = f"{noun} {low}-{high} px, {view} ({label})"
                            record["rows"][name] = row
                            print(f"{name}: {row}", flush=True)
    if args.split != "test":
        return 0  # a design check: neither the report's file nor RESULTS.md
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    if args.write:
        update_section("phone-photos", results_section(record))
    return 0


def results_section(record: dict) -> str:
    lines = [
        "### A digit or a number in a phone's photo of a whole page",
        "",
        f"`{record['command']}`: {record['header']}. A 4000x3000 JPEG (quality 90) of paper "
        "with sensor noise and one MNIST test digit 20-90 px tall, or a number of "
        f"{NUMBER_LENGTHS[0]}-{NUMBER_LENGTHS[1]} test digits that tall (`mnistlab read`; "
        "right: the whole string, sure); 'cropped': the same ink "
        f"with {MARGIN} px of the page around it. Shares of the digits or numbers.",
        "",
        "| height, view (reader) | images | right | best guess right | not sure | no digit found |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in record["rows"].items():
        n = max(1, row["digits"])
        lines.append(
            f"| {name} | {row['digits']} | "
            + " | ".join(
                f"{100 * row[k] / n:.0f}%" for k in ("right", "guess", "not sure", "no digit")
            )
            + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
