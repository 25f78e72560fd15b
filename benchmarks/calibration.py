"""Calibration and "not sure" of the shipped models, on data none of it was tuned on.

    python -m benchmarks.calibration [--models sota-cpu,fast,lenet5] [--per-kind 500]
                                     [--seed 1] [--write]

For each model: the test-set ECE (15 bins) before and after its temperature, the share of the
10,000 clean test digits it calls "not sure", and the share of non-digits it refuses, per kind,
rendered from --seed (the calibration picked its score with seed 0's; its threshold and cue
limits saw only validation digits). A non-digit counts as refused whether preprocessing finds
no digit in it ("no digit found") or the model is not sure; both columns are printed. Because
a model can learn to refuse whatever went through mnistlab's preprocessing (MNIST's own pixels
never do), it is also measured on test digits drawn as photos (mnistlab.synth's "clean" family:
dark ink on paper, then the real preprocessing): the share refused and the accuracy. Output:
benchmarks/results/calibration.json; --write puts the table into docs/calibration.md and
docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._report import update_section
from mnistlab.data.splits import load_splits
from mnistlab.evaluate import predict_logits
from mnistlab.inference.predictor import Predictor
from mnistlab.runs import load_model
from mnistlab.system import header
from mnistlab.train.calibrate import TUNING_SEED, ece_before_after, nondigit_pixels, photographed

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "calibration.json"
DOC = ROOT / "docs" / "calibration.md"


def photographed_test(test, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` test digits drawn as dark ink on paper and preprocessed: (pixels, labels)."""
    images, labels = test.images[:count].numpy(), test.labels[:count].numpy()
    return photographed(images, seed), labels


def refusals(predictor: Predictor, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best guesses, which are "not sure") for (N, 28, 28) digits, by the Predictor itself:
    the feature rule when the folder has its bank (else the logits rule), the shape cues, and
    the digit detector when the calibration has a rule for it."""
    if not len(pixels):
        return np.zeros(0, int), np.zeros(0, bool)
    guesses, refused = [], []
    for start in range(0, len(pixels), 2000):
        for p in predictor.predict_pixels(np.ascontiguousarray(pixels[start : start + 2000])):
            guesses.append(p.guess)
            refused.append(p.digit is None)
    return np.asarray(guesses), np.asarray(refused, bool)


def measure(name: str, test, nondigits: dict, per_kind: int, photos) -> dict:
    model, meta = load_model(name)
    cal = meta.calibration
    if cal is None:
        raise SystemExit(f"{name} is not calibrated; run scripts/calibrate_pretrained.py")
    predictor = Predictor(model, meta)
    logits = predict_logits(model, test, meta.normalization)
    before, after = ece_before_after(logits, test.labels, cal.temperature)
    _, digits = refusals(predictor, test.images.numpy())
    photo_pixels, photo_labels = photos
    photo_guesses, photo_refused = refusals(predictor, photo_pixels)
    photo_accuracy = (photo_guesses == photo_labels).mean()
    kinds = {}
    for kind, (pixels, blank) in nondigits.items():
        unsure = int(refusals(predictor, pixels)[1].sum())
        kinds[kind] = {
            "refused": (blank + unsure) / per_kind,
            "no_digit": blank,
            "not_sure": unsure,
        }
    return {
        "model": name,
        "temperature": cal.temperature,
        "score": ("knn" if cal.features is not None else cal.score)
        + (" + detector" if cal.detector is not None else ""),
        "threshold": cal.features.threshold if cal.features is not None else cal.threshold,
        "fallback": [cal.score, cal.threshold] if cal.features is not None else None,
        "detector_threshold": cal.detector.threshold if cal.detector is not None else None,
        "test_ece_before": before,
        "test_ece_after": after,
        "test_accuracy": float((logits.argmax(1) == test.labels).double().mean()),
        "test_false_reject": float(digits.mean()),
        "photographed_false_reject": float(np.asarray(photo_refused).mean()),
        "photographed_accuracy": float(photo_accuracy),
        "val_false_reject": cal.val_false_reject,
        "nondigits": kinds,
        "nondigit_refused_mean": float(np.mean([k["refused"] for k in kinds.values()])),
    }


def table(rows: list[dict], kinds: list[str]) -> str:
    head = (
        "| model | T | score | test ECE before | test ECE after | test digits not sure | "
        "photographed test digits: not sure / accuracy | "
        + " | ".join(kinds)
        + " | non-digits, mean |"
    )
    lines = [head, "|" + "---|" * (8 + len(kinds))]
    for r in rows:
        cells = [f"{100 * r['nondigits'][k]['refused']:.1f}%" for k in kinds]
        lines.append(
            f"| {r['model']} | {r['temperature']:.3f} | {r['score']} | "
            f"{100 * r['test_ece_before']:.2f}% | {100 * r['test_ece_after']:.2f}% | "
            f"{100 * r['test_false_reject']:.2f}% | "
            f"{100 * r['photographed_false_reject']:.1f}% / "
            f"{100 * r['photographed_accuracy']:.1f}% | "
            + " | ".join(cells)
            + f" | {100 * r['nondigit_refused_mean']:.1f}% |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="sota-cpu,fast,lenet5")
    parser.add_argument("--per-kind", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--photos", type=int, default=1000, help="photographed test digits")
    parser.add_argument("--data-dir")
    parser.add_argument("--write", action="store_true", help="update docs/calibration.md")
    args = parser.parse_args(argv)
    if args.seed == TUNING_SEED:
        parser.error(f"--seed {TUNING_SEED} picked the score; report on another seed")
    torch.set_num_threads(1)  # the same bits on any machine, as the shipped models were made
    line = header("cpu")
    print(line, flush=True)
    start = time.perf_counter()
    test = load_splits("mnist", args.data_dir, download=False)["test"]
    nondigits = nondigit_pixels(args.seed, args.per_kind)
    kinds = list(nondigits)
    photos = photographed_test(test, args.photos, args.seed)
    rows = []
    for name in args.models.split(","):
        rows.append(measure(name, test, nondigits, args.per_kind, photos))
        print(json.dumps(rows[-1]), flush=True)
    command = "python -m benchmarks.calibration " + " ".join(argv or sys.argv[1:])
    result = {
        "command": command.strip(),
        "header": line,
        "nondigit_seed": args.seed,
        "tuning_seed": TUNING_SEED,
        "per_kind": args.per_kind,
        "seconds": time.perf_counter() - start,
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    markdown = (
        f"`{result['command']}` ({line}); non-digits: {args.per_kind} per kind from seed "
        f"{args.seed} (the score was picked with seed {TUNING_SEED}'s); share refused, "
        '"no digit found" and "not sure" together; photographed test digits: the first '
        f"{args.photos} test digits as dark ink on paper through the preprocessing.\n\n"
        + table(rows, kinds)
    )
    print(markdown)
    if args.write:
        update_section("calibration", markdown, DOC)
        update_section(
            "calibration", '### Calibration and "not sure" (docs/calibration.md)\n\n' + markdown
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
