"""Fitting a calibration for a trained model: the temperature and the "not sure" rules on the
validation split, the score picked with generated non-digits, the test ECE reported.

What is tuned, and on what: the temperature, the cue limits and the threshold see only
validation digits; the choice between the two scores also sees non-digits rendered from
TUNING_SEED. Reports (benchmarks/calibration.py) use test digits and other seeds.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnistlab.calibration.core import (
    SCORES,
    digit_score,
    expected_calibration_error,
    fit_temperature,
    shape_counts,
    threshold_at,
)
from mnistlab.data.normalize import normalize
from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.evaluate import predict_logits
from mnistlab.runs.meta import Calibration, RunMeta

FALSE_REJECT = 0.01  # the budget: at most 1% of clean digits "not sure"
CUE_BUDGET = 0.0025  # of that budget, at most this share of validation digits per shape cue
TUNING_SEED = 0
TUNING_PER_KIND = 60
FIRST_LIMITS = {"marks": 2, "loops": 2}  # a digit can have two strokes (4, 5, 7) and loops (8)


@functools.lru_cache(maxsize=4)
def nondigit_pixels(seed: int, per_kind: int) -> dict[str, tuple[np.ndarray, int]]:
    """kind -> ((n, 28, 28) uint8 preprocessed non-digits, how many preprocessing itself
    found no digit in), `per_kind` rendered per kind from `seed`. Cached: it costs seconds."""
    from mnistlab.inference.preprocess import NoDigitError, preprocess
    from mnistlab.synth.nondigits import NONDIGIT_KINDS, render_nondigit

    out = {}
    for offset, kind in enumerate(NONDIGIT_KINDS):
        rng = np.random.default_rng([seed, offset])
        pixels, blank = [], 0
        for _ in range(per_kind):
            try:
                pixels.append(preprocess(render_nondigit(kind, rng)).pixels)
            except NoDigitError:
                blank += 1
        array = np.stack(pixels) if pixels else np.zeros((0, 28, 28), np.uint8)
        array.flags.writeable = False
        out[kind] = (array, blank)
    return out


@torch.inference_mode()
def logits_of(model: nn.Module, pixels: np.ndarray, normalization: str) -> torch.Tensor:
    """(N, 10) CPU logits for (N, 28, 28) uint8 digits."""
    if not len(pixels):
        return torch.empty(0, 10)
    device = next(model.parameters()).device
    x = normalize(torch.from_numpy(np.array(pixels)).unsqueeze(1).to(device), normalization)
    return model.eval()(x).float().cpu()


Counts = tuple[np.ndarray, np.ndarray]  # (marks, loops) per image, from shape_counts


def cue_limits(counts: Counts, budget: float = CUE_BUDGET) -> dict[str, int]:
    """The smallest limits on marks and loops that reject at most `budget` of these digits."""
    limits = {}
    for name, values in zip(("marks", "loops"), counts, strict=True):
        limit = FIRST_LIMITS[name]
        while len(values) and (values > limit).mean() > budget:
            limit += 1
        limits[name] = limit
    return limits


def rejected(logits: torch.Tensor, counts: Counts, cal: Calibration) -> np.ndarray:
    """(N,) bool: which inputs `cal` calls "not sure"."""
    out = np.zeros(len(logits), bool)
    if cal.threshold is None or not len(logits):
        return out
    if cal.cues:
        marks, loops = counts
        out |= (marks > cal.max_marks) | (loops > cal.max_loops)
    return out | (digit_score(logits, cal.temperature, cal.score).numpy() < cal.threshold)


def rule_for(
    score: str, temperature: float, logits: torch.Tensor, counts: Counts, limits: dict
) -> Calibration:
    """The threshold that, with the cues, rejects FALSE_REJECT of these validation digits."""
    by_cue = (counts[0] > limits["marks"]) | (counts[1] > limits["loops"])
    rest = digit_score(logits[torch.from_numpy(~by_cue)], temperature, score)
    share = (FALSE_REJECT * len(logits) - by_cue.sum()) / max(len(rest), 1)
    return Calibration(
        temperature=temperature,
        score=score,
        threshold=threshold_at(rest, float(np.clip(share, 0.0, 1.0))),
        false_reject=FALSE_REJECT,
        cues=True,
        max_marks=limits["marks"],
        max_loops=limits["loops"],
    )


def fit_calibration(
    val_logits: torch.Tensor,
    val_labels: torch.Tensor,
    val_pixels: np.ndarray,
    tuning: dict[str, tuple[torch.Tensor, np.ndarray]] | None,
) -> Calibration:
    """Temperature and rules from validation digits; `tuning` (kind -> (logits, pixels) of
    non-digits) picks the score that rejects more of them. No `tuning`: temperature only."""
    temperature = fit_temperature(val_logits, val_labels)
    ece = ece_before_after(val_logits, val_labels, temperature)
    fitted_on = f"validation split ({len(val_labels):,} images)"
    if not tuning:
        return Calibration(temperature=temperature, fitted_on=fitted_on, val_ece=ece)
    val_counts = shape_counts(val_pixels)
    limits = cue_limits(val_counts)
    others = {kind: (logits, shape_counts(pixels)) for kind, (logits, pixels) in tuning.items()}
    rates: dict[str, dict[str, float]] = {}
    rules = {}
    for score in SCORES:
        rules[score] = rule_for(score, temperature, val_logits, val_counts, limits)
        rates[score] = {
            kind: float(rejected(logits, counts, rules[score]).mean()) if len(logits) else 1.0
            for kind, (logits, counts) in others.items()
        }
    best = max(SCORES, key=lambda s: np.mean(list(rates[s].values())))
    return dataclasses.replace(
        rules[best],
        fitted_on=fitted_on + f"; score picked on non-digits from seed {TUNING_SEED}",
        val_false_reject=float(rejected(val_logits, val_counts, rules[best]).mean()),
        val_ece=ece,
        tuning={"seed": TUNING_SEED, "nondigit_reject": rates},
    )


def calibrate_model(
    model: nn.Module,
    meta: RunMeta,
    splits: dict[str, Split],
    device: torch.device | str = "cpu",
    per_kind: int = TUNING_PER_KIND,
) -> Calibration:
    """Fit on `splits["val"]` and report the ECE on `splits["test"]` (when there is one)."""
    val = splits.get("val")
    if val is None or not len(val):
        raise MnistlabError("no validation split to calibrate on")
    val_logits = predict_logits(model, val, meta.normalization, device)
    tuning = None
    if meta.dataset == "mnist":  # non-digits are what MNIST models must refuse
        tuning = {
            kind: (logits_of(model, pixels, meta.normalization), pixels)
            for kind, (pixels, _) in nondigit_pixels(TUNING_SEED, per_kind).items()
        }
    cal = fit_calibration(val_logits, val.labels, val.images.numpy(), tuning)
    test = splits.get("test")
    if test is not None and len(test):
        logits = predict_logits(model, test, meta.normalization, device)
        cal = dataclasses.replace(
            cal, test_ece=ece_before_after(logits, test.labels, cal.temperature)
        )
    return cal


def ece_before_after(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> list[float]:
    """[before, after] temperature scaling."""
    return [
        expected_calibration_error(logits.softmax(1), labels),
        expected_calibration_error((logits / temperature).softmax(1), labels),
    ]


def calibrate_folder(
    folder: str | Path,
    data_dir: str | Path | None = None,
    mirrors: list[str] | None = None,
    per_kind: int = TUNING_PER_KIND,
) -> RunMeta:
    """Calibrate a model folder in place: its model.json gains `calibration` (written
    atomically, like every model.json); returns the new record."""
    from mnistlab.data.splits import load_splits
    from mnistlab.runs import folder as run_folder

    model, meta = run_folder.load_model(folder)
    if meta.full_train:
        raise MnistlabError(
            f"{folder}: trained on all 60,000 training images (--full-train), so no unseen "
            "validation split is left to calibrate on; it stays uncalibrated"
        )
    splits = load_splits(meta.dataset, data_dir, mirrors=mirrors)
    meta = dataclasses.replace(
        meta, calibration=calibrate_model(model, meta, splits, "cpu", per_kind)
    )
    run_folder.save_meta(Path(folder), meta)
    return meta
