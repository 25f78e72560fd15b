"""Calibrate the shipped models in place, without retraining: model.json gains `calibration`,
card.json and CARD.md gain its facts; model.safetensors is not touched (its SHA-256 is checked
before and after).

    python scripts/calibrate_pretrained.py [NAME ...] [--data-dir DIR] [--reading-only]

Temperature and shape-cue limits are fitted on the 5,000-image validation split, the
thresholds on it pooled with 2,300 of its digits drawn in the fit families' kinds,
the score (max probability or energy) picked with non-digits from the tuning seed, and the ECE
measured on the test set, exactly as `mnistlab calibrate` and training do. Then the string rule
for read numbers (calibration.reading) is fitted on numbers written with validation digits
(mnistlab.train.calibrate_reading), and checked on validation numbers of the kinds it left out;
`--reading-only` fits only that, keeping the rest of the calibration.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import torch

from mnistlab.data.splits import load_splits
from mnistlab.inference.predictor import Predictor
from mnistlab.runs import folder as run_folder
from mnistlab.runs.meta import Calibration
from mnistlab.runs.names import FEATURES
from mnistlab.synth.numbers import FIT_NUMBER_KINDS, HELD_OUT_NUMBER_KINDS
from mnistlab.train.calibrate import calibrate_model
from mnistlab.train.calibrate_reading import (
    FIT_COUNT,
    FIT_SEED,
    fit_reading_rule,
    judge,
    observe,
)

CHECK_COUNT = 200  # validation numbers per kind for the check after fitting

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "src" / "mnistlab" / "weights"
SCRIPT = "python scripts/calibrate_pretrained.py"
MARK = "- Calibration"


def card_facts(cal: Calibration) -> dict[str, Any]:
    """The calibration as a model card records it."""
    return {
        "temperature": cal.temperature,
        "score": cal.score,
        "threshold": cal.threshold,
        "max_marks": cal.max_marks,
        "max_loops": cal.max_loops,
        "val_false_reject": cal.val_false_reject,
        "test_ece_before": cal.test_ece[0] if cal.test_ece else None,
        "test_ece_after": cal.test_ece[1] if cal.test_ece else None,
        "fitted_on": cal.fitted_on,
        "feature_threshold": cal.features.threshold if cal.features else None,
        "feature_bank_rows": cal.features.rows if cal.features else None,
        "detector_threshold": cal.detector.threshold if cal.detector else None,
        "detector_confidence_weight": cal.detector.confidence_weight if cal.detector else None,
        "drawn_digits": cal.tuning.get("drawn_digits", 0),
        "script": SCRIPT,
    }


def card_line(facts: dict[str, Any]) -> str:
    """CARD.md's line for the calibration (train_pretrained.py writes the same)."""
    if facts.get("feature_threshold") is not None:
        rule = (
            f"its features' cosine similarity to the nearest of {facts['feature_bank_rows']:,} "
            f"training digits (features.safetensors) < {facts['feature_threshold']:.4g} "
            f"({facts['score']} < {facts['threshold']:.4g} without that file)"
        )
    else:
        rule = f"{facts['score']} < {facts['threshold']:.4g}"
    if facts.get("detector_threshold") is not None:
        weight = facts.get("detector_confidence_weight") or 0
        weighed = f" plus {weight:g} x the log-odds of its confidence" if weight else ""
        rule += (
            f", or when mnistlab's digit detector's score{weighed} is below "
            f"{facts['detector_threshold']:.4g}"
        )
    drawn = facts.get("drawn_digits") or 0
    where = "the 5,000 validation images"
    if drawn > 0:
        where += f" and {drawn:,} of them drawn in the fit families' kinds"
    return (
        f"{MARK} (`{facts['script']}`, on {where}): temperature "
        f"T = {facts['temperature']:.3f}; test ECE {100 * facts['test_ece_before']:.2f}% "
        f'before scaling, {100 * facts["test_ece_after"]:.2f}% after. "Not sure" (digit '
        f"null, with a reason) when {rule}, or with more "
        f"than {facts['max_marks']} separate marks or {facts['max_loops']} closed loops: "
        f"{100 * facts['val_false_reject']:.2f}% of validation digits.\n"
    )


def with_line(markdown: str, line: str) -> str:
    """CARD.md with its calibration line replaced, or added before the licence."""
    pattern = re.compile("^" + re.escape(MARK) + r".*?(?=^- |\Z)", re.S | re.M)
    if pattern.search(markdown):
        return pattern.sub(lambda _: line, markdown)
    return markdown.replace("- Licence:", line + "- Licence:", 1)


def calibrate_one(name: str, splits) -> None:
    folder = WEIGHTS / name
    weights = folder / run_folder.WEIGHTS
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    model, meta = run_folder.load_model(folder)
    cal = calibrate_model(model, meta, splits, bank_to=folder)
    meta = dataclasses.replace(meta, calibration=cal)
    run_folder.save_meta(folder, meta)
    card_path = folder / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["calibration"] = card_facts(cal)
    # the bank is checked like the weights: a damaged install is an error, not a wrong answer
    card["sha256"].pop(FEATURES, None)
    if cal.features is not None:
        card["sha256"][FEATURES] = cal.features.sha256
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    markdown = (folder / "CARD.md").read_text(encoding="utf-8")
    (folder / "CARD.md").write_text(with_line(markdown, card_line(card["calibration"])))
    assert (
        hashlib.sha256(weights.read_bytes()).hexdigest() == digest == card["sha256"][weights.name]
    )
    print(
        f"[{name}] T {cal.temperature:.3f}, test ECE {100 * cal.test_ece[0]:.2f}% -> "
        f"{100 * cal.test_ece[1]:.2f}%, {cal.score} threshold {cal.threshold:.4g}, "
        f"val false rejects {100 * cal.val_false_reject:.2f}%",
        flush=True,
    )


def fit_reading(name: str, splits, observed=None, checked=None) -> None:
    """Fit the model's string rule on validation numbers and write it into model.json; then
    check it on other validation numbers of every kind. `observed`, `checked`: the readings
    (calibrate_reading.observe) when already made."""
    folder = WEIGHTS / name
    model, meta = run_folder.load_model(folder)
    predictor = Predictor(model, meta)
    if observed is None:
        observed = observe(predictor, splits["val"], FIT_NUMBER_KINDS, FIT_COUNT, FIT_SEED)
    rule = fit_reading_rule(observed)
    cal = dataclasses.replace(meta.calibration, reading=rule)
    run_folder.save_meta(folder, dataclasses.replace(meta, calibration=cal))
    card_path = folder / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card.setdefault("calibration", {})["reading"] = rule.to_dict()
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(f"[{name}] string rule: {rule}", flush=True)
    if checked is None:
        kinds = FIT_NUMBER_KINDS + HELD_OUT_NUMBER_KINDS
        checked = observe(predictor, splits["val"], kinds, CHECK_COUNT, FIT_SEED + 1)
    for kind, counts in judge(checked, rule).items():
        held = "held out" if kind in HELD_OUT_NUMBER_KINDS else "fit kind"
        print(f"[{name}] validation {kind} ({held}): {counts}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("--data-dir")
    parser.add_argument(
        "--reading-only", action="store_true", help="fit only the string rule for read numbers"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # explicit, at the entry point: the same bits on any machine
    shipped = sorted(p.name for p in WEIGHTS.iterdir() if (p / "card.json").is_file())
    unknown = [n for n in args.names if n not in shipped]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(shipped)}")
    splits = load_splits("mnist", args.data_dir, download=False)
    for name in args.names or shipped:
        if not args.reading_only:
            calibrate_one(name, splits)
        fit_reading(name, splits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
