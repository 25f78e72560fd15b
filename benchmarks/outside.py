"""The outside check: digits written by other people, as people would show them, read by the
default shipped model, counted on both sides of "not sure" per rendering.

    python -m benchmarks.outside [--model NAME] [--limit N] [--size 100]

Sources (nothing downloaded):
- scikit-learn's `load_digits` (UCI optdigits' test part: 1,797 digits of 8x8 px with 17 grey
  levels, written by 13 people; the data ships in the scikit-learn wheel; `pip install
  scikit-learn`, in the dev extra), drawn black on white, cut to the ink ("tight") or with a
  margin of a quarter of the digit's height ("margin"), and enlarged so that the digit is ~SIZE
  px tall with each of nearest, bilinear, bicubic and Lanczos;
- the digits 0-9 of the handwriting fonts that are installed (Debian: `apt-get install
  fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-rufscript fonts-sjfonts
  fonts-kristi fonts-dancingscript fonts-kaushanscript`), at SIZE px, and at 12 px enlarged
  with nearest neighbour; fonts not installed are left out and named.

Both sources stay outside every fit and every tuning: no detector, threshold, temperature or
preprocessing constant may be fit or chosen on them, and no script but this one reads them.
They are how we learn whether what was fit on MNIST renders (mnistlab.synth) holds for digits
nobody here drew; tuning on them would turn this check into one more training set.

right: answered the right digit; wrong: answered a wrong one; wasted: "not sure", best guess
right; saved: "not sure", best guess wrong; blank: preprocessing found no digit; guess: the best
guess's accuracy, refused or not.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import mnistlab
from benchmarks._report import update_section
from mnistlab.bench.outcomes import HEADER, Tally, answer_images, cells, tally
from mnistlab.runs import default_pretrained
from mnistlab.synth.render import RESAMPLERS
from mnistlab.system import header

OUT = Path(__file__).parent / "results" / "outside.json"
FONTS = (
    "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgBd.ttf",
    "/usr/share/fonts/truetype/breip/Breip.ttf",
    "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
    "/usr/share/fonts/truetype/rufscript/Rufscript010.ttf",
    "/usr/share/fonts/truetype/sjfonts/Delphine.ttf",
    "/usr/share/fonts/truetype/sjfonts/SteveHand.ttf",
    "/usr/share/fonts/truetype/kristi/Kristi.ttf",
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf",
    "/usr/share/fonts/opentype/kaushanscript/KaushanScript-Regular.otf",
)
FONT_SMALL = 12  # px: the low-resolution font rendering, before enlarging


def optdigit_image(values: np.ndarray, size: int, resampler: str, tight: bool) -> Image.Image:
    """An 8x8 optdigits digit (0..16, ink high) as black ink on white, enlarged so that its ink
    is about `size` px tall."""
    grey = np.rint(255 - values * (255 / 16)).astype(np.uint8)  # (8, 8)
    rows, cols = np.nonzero(values > 0)
    grey = grey[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height = grey.shape[0]
    if not tight:
        margin = max(1, round(height / 4))
        grey = np.pad(grey, margin, constant_values=255)
    factor = size / height
    image = Image.fromarray(grey)
    out = (max(1, round(grey.shape[1] * factor)), max(1, round(grey.shape[0] * factor)))
    return image.resize(out, RESAMPLERS[resampler]).convert("RGB")


def font_image(path: str, digit: int, size: int, small: bool) -> Image.Image:
    """The digit in a font, black on white with a margin of a quarter of its height, its ink
    `size` px tall (or FONT_SMALL px, area-averaged, then enlarged with nearest neighbour)."""
    font = ImageFont.truetype(path, 200)
    canvas = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(canvas).text((200, 200), str(digit), fill=0, font=font, anchor="mm")
    grey = np.asarray(canvas)
    rows, cols = np.nonzero(grey < 250)
    grey = grey[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    grey = np.pad(grey, round(grey.shape[0] / 4), constant_values=255)
    height = FONT_SMALL if small else size
    scale = height / (rows.max() - rows.min() + 1)  # the ink's height, not the font size
    shape = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    image = Image.fromarray(grey).resize(shape, Image.BOX)
    if small:
        image = image.resize((shape[0] * size // height, shape[1] * size // height), Image.NEAREST)
    return image.convert("RGB")


def renderings(size: int, limit: int | None):
    """(name, images, labels) per rendering of each source."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images, labels = data.images[:limit], data.target[:limit]
    for tight in (True, False):
        for resampler in RESAMPLERS:
            name = f"optdigits {'tight' if tight else 'margin'} {resampler}"
            drawn = [optdigit_image(v, size, resampler, tight) for v in images]
            yield name, drawn, [int(k) for k in labels]
    fonts = [f for f in FONTS if Path(f).exists()]
    for small in (False, True):
        name = f"fonts {f'{FONT_SMALL} px, nearest' if small else f'{size} px'}"
        drawn = [font_image(f, d, size, small) for f in fonts for d in range(10)]
        if drawn:
            yield name, drawn, [d for _ in fonts for d in range(10)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="default: the default shipped model")
    parser.add_argument("--limit", type=int, default=None, help="optdigits used (default all)")
    parser.add_argument("--size", type=int, default=100, help="the digit's height shown, px")
    parser.add_argument(
        "--write",
        type=Path,
        metavar="EARLIER_JSON",
        help="also write the table into docs/RESULTS.md beside an earlier run's saved output",
    )
    args = parser.parse_args(argv)
    import sklearn

    predictor = mnistlab.load(args.model)  # None: the default shipped model
    fonts = [f for f in FONTS if Path(f).exists()]
    missing = [Path(f).name for f in FONTS if f not in fonts]
    lines = [
        f"outside check: model {args.model or default_pretrained()}; {header('cpu')}; "
        f"scikit-learn {sklearn.__version__}",
        f"fonts: {', '.join(Path(f).name for f in fonts) or 'none'}"
        + (f"; not installed: {', '.join(missing)}" if missing else ""),
        f"{'rendering':<34}{HEADER}",
    ]
    print("\n".join(lines), flush=True)
    rows, total = {}, Tally()
    for name, drawn, labels in renderings(args.size, args.limit):
        counts = tally(answer_images(predictor, drawn), labels)
        rows[name] = counts
        total = total + counts
        lines.append(f"{name:<34}{cells(counts)}")
        print(lines[-1], flush=True)
    lines.append(f"{'all renderings':<34}{cells(total)}")
    print(lines[-1])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "header": lines[0],
        "fonts": [Path(f).name for f in fonts],
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rows": {name: {**asdict(c), "accuracy": c.accuracy} for name, c in rows.items()},
    }
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    if args.write:
        update_section("outside", results_section(record, json.loads(args.write.read_text())))
    return 0


def results_section(record: dict, earlier: dict) -> str:
    """The docs/RESULTS.md section: this run's table beside an earlier run's (same script)."""

    def share(row: dict, key: str) -> str:
        return f"{100 * row[key] / max(1, row['images']):.1f}%"

    lines = [
        "### Digits written by other people: the outside check (issue 22)",
        "",
        f"`python -m benchmarks.outside`: {record['header']}. Earlier run, the same script: "
        f"{earlier['header']}. Both sources stay outside every fit and every tuning "
        '(benchmarks/outside.py). Shares of each rendering\'s images; wasted: "not sure" '
        'with a right best guess; saved: "not sure" with a wrong one; guess: the best '
        "guess right, refused or not.",
        "",
        "| rendering | images | right | wrong | wasted | saved | guess | earlier: right / "
        "wasted / guess |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in record["rows"].items():
        before = earlier["rows"].get(name)
        then = (
            f"{share(before, 'right')} / {share(before, 'wasted')} / "
            f"{100 * before['accuracy']:.1f}%"
            if before
            else "-"
        )
        lines.append(
            f"| {name} | {row['images']} | {share(row, 'right')} | {share(row, 'wrong')} | "
            f"{share(row, 'wasted')} | {share(row, 'saved')} | {100 * row['accuracy']:.1f}% | "
            f"{then} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
