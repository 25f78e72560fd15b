"""The "not sure" budget over digits as they reach a model (issue 22): thresholds fitted on the
validation split pooled with its digits drawn in the fit families' kinds, and the digit
detector's score weighed with the model's confidence."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from mnistlab.calibration.core import allowed_rejects
from mnistlab.calibration.rule import detector_evidence, not_sure
from mnistlab.calibration.types import Calibration, DetectorRule
from mnistlab.data.splits import load_splits
from mnistlab.errors import CheckpointError
from mnistlab.runs import load_folder, resolve_model
from mnistlab.synth.families import fit_kinds, held_out_kinds
from mnistlab.train.calibrate import (
    DetectorFit,
    FeatureFit,
    drawn_in_fit_kinds,
    fit_calibration,
    refit_calibration,
)


def test_detector_evidence_adds_the_weighed_log_odds_of_the_top_probability():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [200.0, 0.0, 0.0]])
    detected = np.array([1.0, 1.0, -3.0])
    assert np.array_equal(detector_evidence(detected, logits, 1.0, 0.0), detected)
    found = detector_evidence(detected, logits, 2.0, 0.5)
    p = torch.softmax(logits[0] / 2.0, 0)[0].item()
    assert found[0] == pytest.approx(1.0 + 0.5 * np.log(p / (1 - p)))
    assert found[1] == pytest.approx(1.0 + 0.5 * np.log(0.5))  # a three-way tie: p = 1/3
    # a probability that rounds to 1 in float64 still has finite log-odds: 200 / 2 - log 2
    assert found[2] == pytest.approx(-3.0 + 0.5 * (100.0 - np.log(2.0)))


def test_a_confident_reading_keeps_a_digit_the_detector_finds_odd():
    rule = DetectorRule(threshold=0.0, sha256="x", confidence_weight=0.5)
    cal = Calibration(temperature=1.0, threshold=-1e9, detector=rule)
    logits = torch.tensor([[12.0] + [0.0] * 9, [1.0] + [0.0] * 9])
    counts = (np.zeros(2, int), np.zeros(2, int))
    verdict = not_sure(cal, logits, counts=counts, detected=torch.tensor([-2.0, -2.0]))
    assert verdict.refused.tolist() == [False, True]
    reason = verdict.reasons()[1]
    assert "digit detector score -2" in reason and "confidence weighed in" in reason
    alone = Calibration(temperature=1.0, threshold=-1e9, detector=DetectorRule(0.0, "x"))
    refused = not_sure(alone, logits, counts=counts, detected=torch.tensor([-2.0, -2.0])).refused
    assert refused.tolist() == [True, True]  # weight 0: the detector alone, as before


def test_the_confidence_weight_is_kept_in_model_json_and_checked():
    rule = DetectorRule(threshold=-0.3, sha256="ab", confidence_weight=0.5)
    cal = Calibration(threshold=1.0, detector=rule)
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
    older = {"threshold": 1.0, "detector": {"threshold": -1.5, "sha256": "ab"}}
    assert Calibration.from_dict(older).detector.confidence_weight == 0.0
    negative = {**rule.to_dict(), "confidence_weight": -1}
    with pytest.raises(CheckpointError, match="confidence_weight must be >= 0"):
        Calibration.from_dict({"threshold": 1.0, "detector": negative})


def _synthetic(n: int, drawn: int, g: torch.Generator):
    """Scores where the drawn digits look less familiar than the split's own (as rendered
    digits do to the rules), and non-digit kind "b" is told apart by the detector only."""
    logits = torch.randn(n + drawn, 10, generator=g) * 3
    pixels = np.zeros((n + drawn, 28, 28), np.uint8)
    pixels[:, 10:18, 13:15] = 255  # one stroke: no cue fires
    tuning = {k: (torch.randn(60, 10, generator=g), pixels[:60]) for k in "ab"}
    photos = (torch.randn(100, 10, generator=g) * 3, pixels[:100])
    lower = torch.cat([torch.zeros(n), torch.full((drawn,), 0.3)])
    features = FeatureFit(
        bank=torch.eye(4),
        val=torch.rand(n + drawn, generator=g) + 1.0 - lower,
        tuning={"a": torch.rand(60, generator=g), "b": torch.rand(60, generator=g) + 1.0},
        photos=torch.rand(100, generator=g) + 1.0,
    )
    detector = DetectorFit(
        val=torch.randn(n + drawn, generator=g) + 5.0 - 3 * lower,
        tuning={"a": torch.randn(60, generator=g) + 5.0, "b": torch.randn(60, generator=g) - 5},
        photos=torch.randn(100, generator=g) + 5.0,
    )
    return logits, pixels, tuning, photos, features, detector


def test_the_budget_holds_over_the_pool_of_split_and_drawn_digits():
    g = torch.Generator().manual_seed(0)
    n, drawn = 5000, 2300
    logits, pixels, tuning, photos, features, detector = _synthetic(n, drawn, g)
    labels = logits[:n].argmax(1)
    cal = fit_calibration(
        logits[:n],
        labels,
        pixels[:n],
        tuning,
        features,
        photos,
        None,
        detector,
        drawn=(logits[n:], pixels[n:]),
    )
    counts = (np.zeros(n + drawn, int), np.zeros(n + drawn, int))
    refused = not_sure(
        cal, logits, counts=counts, similarity=features.val, detected=detector.val
    ).refused
    pooled = allowed_rejects(n + drawn, 0.01, 0.95)
    assert cal.tuning["allowed_val_rejects"] == pooled and cal.tuning["pooled_digits"] == n + drawn
    assert pooled - 3 <= refused.sum() <= pooled
    # the drawn digits look odd, so they take most of the budget and the split's own fewer
    assert refused[:n].mean() == pytest.approx(cal.val_false_reject)
    assert cal.val_false_reject < allowed_rejects(n, 0.01, 0.95) / n
    assert refused[n:].mean() == pytest.approx(cal.tuning["drawn_refused"])
    assert "2,300 of its digits drawn" in cal.fitted_on
    # the temperature is the split's alone: the drawn digits have no labels
    alone = fit_calibration(logits[:n], labels, pixels[:n], None)
    assert cal.temperature == pytest.approx(alone.temperature)


def test_a_refit_refuses_as_many_of_the_split_as_its_base(real_data_dir):
    """An adapted model's quick refit keeps the base calibration's share of the validation
    split, not the whole budget a pool-fitted base left unused on the split."""
    model, meta = load_folder(resolve_model("lenet5"))
    val = load_splits("mnist", real_data_dir, download=False)["val"]
    # the logits rule alone (no bank, no detector), so only the budget decides the threshold
    base = dataclasses.replace(meta.calibration, features=None, detector=None)
    for share, expected in ((None, allowed_rejects(len(val), 0.01, 0.95)), (0.004, 20)):
        refit = refit_calibration(
            model,
            dataclasses.replace(base, val_false_reject=share),
            val,
            meta.normalization,
            "test",
        )
        assert expected - 2 <= refit.val_false_reject * len(val) <= expected, share


def test_drawn_digits_come_from_the_fit_kinds_only():
    assert not set(fit_kinds()) & set(held_out_kinds())
    rng = np.random.default_rng(0)
    images = np.zeros((3 * len(fit_kinds()), 28, 28), np.uint8)
    for image in images:  # an upright bar with a hook: a one anyone reads
        top = rng.integers(4, 7)
        image[top:24, 13:16] = 255
        image[top : top + 3, 10:13] = 255
    first = drawn_in_fit_kinds(images, per_kind=3, seed=5)
    assert first.dtype == np.uint8 and first.shape[1:] == (28, 28)
    assert len(images) - 5 <= len(first) <= len(images)  # a drawing may be found blank
    assert np.array_equal(first, drawn_in_fit_kinds(images, per_kind=3, seed=5))
    assert not np.array_equal(first, drawn_in_fit_kinds(images, per_kind=3, seed=6))
    assert len(drawn_in_fit_kinds(images[:4], per_kind=3, seed=5)) <= 4  # fewer kinds
    # a kind left out: the others draw the same digits with the same rngs as before
    left = drawn_in_fit_kinds(images, per_kind=3, seed=5, leave_out=(fit_kinds()[0],))
    assert len(first) - 3 <= len(left) < len(first)
    assert np.array_equal(left, first[len(first) - len(left) :])
