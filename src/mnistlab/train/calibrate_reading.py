"""Fitting a model's string rule (calibration.reading): when a number read from an image is
"sure" as a whole.

Numbers are written with VALIDATION digits (never test digits) in the FIT_NUMBER_KINDS only;
HELD_OUT_NUMBER_KINDS (whole kinds: lifted strokes, mixed pens, a slanted line, a number small
in a whole photo) are left out of the fit so that they can judge it. Each number is read once,
with the model's digit rules but no string rule, keeping the evidence its digits bring
(inference.whole). A logistic fit of
"the whole string is right" on the summed evidence gives the calibrated confidence (weights
kept non-negative: more doubt about any digit never makes the string likelier); the threshold
is the lowest confidence at which at most SURE_WRONG of the fit numbers are sure and wrong.

    python scripts/calibrate_pretrained.py --reading-only [NAME ...]   # the shipped models
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from mnistlab.calibration.detector import SHA256 as DETECTOR_SHA256
from mnistlab.calibration.types import EVIDENCE, ReadingRule
from mnistlab.data.splits import Split
from mnistlab.inference.field import NoDigitError
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.reading import Reading, read_number
from mnistlab.inference.signs import digits_of
from mnistlab.synth.numbers import FIT_NUMBER_KINDS, HELD_OUT_NUMBER_KINDS, draw_numbers

FIT_COUNT = 300  # numbers per fit kind
FIT_SEED = 2600  # the fit's numbers; held-out checks and reports use other seeds
SURE_WRONG = 0.01  # at most this share of fit numbers sure and wrong (the target).
# Half of it (0.005) refused 37% of right strings on validation (sota-cpu, fit kinds, seed
# 2600); 0.01 refuses ~20%: the evidence does not part right from wrong strings well enough for
# both targets (<= 1% sure and wrong, <= 3% wasted) while ~7% of strings are misread.
LENGTHS = (2, 8)


@dataclass(frozen=True)
class Observed:
    """One number read without a string rule: what the rule needs to decide it."""

    kind: str
    truth: str
    number: str  # the best reading ("" when no ink was found)
    evidence: np.ndarray  # (N, EVIDENCE) per digit (inference.whole.digit_evidence)
    refused: np.ndarray  # (N,) bool: digits the digit rules refused
    doubted: bool = False  # the reading's signs made it not sure (Reading.doubt)

    @property
    def right(self) -> bool:
        return self.number == self.truth  # signs too: "-12.5"

    @property
    def digits_read(self) -> str:
        """The digits of `number`, one per row of `evidence` (signs left out)."""
        return digits_of(self.number)

    @property
    def digits_written(self) -> str:
        return digits_of(self.truth)

    @property
    def digits_sure(self) -> bool:
        """Read, and sure by the digit rules and the signs (the string rule aside)."""
        return self.number != "" and not self.refused.any() and not self.doubted


def without_string_rule(predictor: Predictor) -> Predictor:
    """The same predictor whose calibration has no string rule: readings keep only the digit
    rules' refusals, and the evidence the string rule would weigh."""
    cal = predictor.meta.calibration
    if cal is None or cal.reading is None:
        return predictor
    meta = dataclasses.replace(predictor.meta, calibration=dataclasses.replace(cal, reading=None))
    return Predictor(predictor.model, meta, predictor.forward, predictor.detector, predictor.reject)


def readings(
    predictor: Predictor, split: Split, kinds: tuple[str, ...], count: int, seed: int
) -> Iterator[tuple[str, str, Reading | None]]:
    """(kind, truth, reading) for `count` numbers of each kind, drawn from `split` with `seed`
    and read without string rule; the reading is None where no ink was found."""
    reader = without_string_rule(predictor)
    images, labels = split.images.numpy(), split.labels.numpy()
    for kind in kinds:
        for truth, image in draw_numbers(images, labels, kind, count, seed, LENGTHS):
            try:
                yield kind, truth, read_number(reader, image)
            except NoDigitError:
                yield kind, truth, None


def observed(kind: str, truth: str, reading: Reading | None) -> Observed:
    """What the string rule needs of one reading (readings())."""
    if reading is None:
        return Observed(kind, truth, "", np.zeros((0, EVIDENCE)), np.zeros(0, bool))
    refused = np.array([d.digit is None for d in reading.digits], bool)
    return Observed(
        kind, truth, reading.number, reading.evidence, refused, reading.doubt is not None
    )


def observe(
    predictor: Predictor, split: Split, kinds: tuple[str, ...], count: int, seed: int
) -> list[Observed]:
    """`count` numbers of each kind, drawn from `split` with `seed`, read without string rule."""
    return [observed(*r) for r in readings(predictor, split, kinds, count, seed)]


def fit_reading(predictor: Predictor, val: Split, count: int = FIT_COUNT) -> ReadingRule:
    """The string rule for `predictor` (its digit rules as they are now), fitted on `count`
    validation numbers of each fit kind (seed FIT_SEED)."""
    return fit_reading_rule(observe(predictor, val, FIT_NUMBER_KINDS, count, FIT_SEED))


def fit_reading_rule(observed: list[Observed], sure_wrong: float = SURE_WRONG) -> ReadingRule:
    """The string rule fitted on these readings (see the module's docstring). The neighbours'
    evidence (the last column) is weighed only where, at the threshold, it refuses fewer right
    fit strings than the rule without it: a sixth term can fit the likelihood better and still
    part the surest strings worse (validation, weighed: sota-cpu's fit refused 186 -> 165
    right strings, lenet5's 249 -> 228, but fast's 133 -> 158, so fast's leaves it out)."""
    x = np.stack([o.evidence.sum(axis=0) for o in observed])  # (M, EVIDENCE)
    y = np.array([o.right for o in observed], np.float64)
    digits_sure = np.array([o.digits_sure for o in observed])
    without, weighed = (_fit(x, y, digits_sure, sure_wrong, weigh) for weigh in (False, True))
    chosen = weighed if weighed.wasted < without.wasted else without
    sure = digits_sure & (chosen.confidence >= chosen.threshold)
    kinds = sorted({o.kind for o in observed}, key=lambda k: FIT_NUMBER_KINDS.index(k))
    return ReadingRule(
        weights=[float(w) for w in chosen.weights],
        bias=float(chosen.bias),
        threshold=float(chosen.threshold),
        fit_kinds=kinds,
        held_out=list(HELD_OUT_NUMBER_KINDS),
        detector_sha256=DETECTOR_SHA256,
        fitted_on=(
            f"{len(observed)} numbers of {LENGTHS[0]}-{LENGTHS[1]} validation digits (seed "
            f"{FIT_SEED}); sure and wrong {int((sure & (y == 0)).sum())}, refused with a right "
            f"best reading {int((~sure & (y == 1)).sum())}; the neighbours' evidence "
            f"{'weighed' if chosen is weighed else 'left out'} (refused right: "
            f"{weighed.wasted} with it, {without.wasted} without)"
        ),
    )


@dataclass(frozen=True)
class _Fit:
    weights: np.ndarray
    bias: float
    threshold: float
    confidence: np.ndarray  # (M,) of the fit numbers
    wasted: int  # right fit numbers refused, by the digit rules or this rule


def _fit(
    x: np.ndarray, y: np.ndarray, digits_sure: np.ndarray, sure_wrong: float, neighbours: bool
) -> _Fit:
    """The logistic fit and its threshold, with or without the last column (the neighbours')."""
    used = x if neighbours else np.concatenate([x[:, :-1], np.zeros((len(x), 1))], axis=1)
    weights, bias = _logistic(used, y)
    if not neighbours:
        weights[-1] = 0.0  # a column of zeros keeps its starting weight: none
    confidence = 1.0 / (1.0 + np.exp(-(bias + used @ weights)))
    threshold = _threshold(confidence, digits_sure, y.astype(bool), sure_wrong)
    wasted = int((~(digits_sure & (confidence >= threshold)) & (y == 1)).sum())
    return _Fit(weights, bias, threshold, confidence, wasted)


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights (>= 0) and bias of a logistic regression of y on x, by L-BFGS-B."""

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[-1] + x @ params[:-1]
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(np.sum(np.logaddexp(0.0, z) - y * z))
        grad = np.concatenate([x.T @ (p - y), [np.sum(p - y)]])
        return value, grad

    bounds = [(0.0, None)] * x.shape[1] + [(None, None)]
    start = np.concatenate([np.ones(x.shape[1]), [3.0]])
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return found.x[:-1], float(found.x[-1])


def _threshold(
    confidence: np.ndarray, digits_sure: np.ndarray, right: np.ndarray, budget: float
) -> float:
    """The lowest confidence at which at most `budget` of the numbers are sure and wrong."""
    allowed = int(np.floor(budget * len(confidence)))
    wrong = np.sort(confidence[digits_sure & ~right])[::-1]  # the surest wrong ones first
    if len(wrong) <= allowed:
        return float(min(0.5, confidence.min()))
    # sure: confidence >= threshold; just above the (allowed + 1)-th surest wrong string
    return float(np.nextafter(wrong[allowed], 1.0))


def judge(observed: list[Observed], rule: ReadingRule | None) -> dict[str, dict[str, int]]:
    """Per kind, how `rule` (with the digit rules) answers these readings: numbers, right
    (sure and right), wrong (sure and wrong), wasted (refused, best reading right), saved
    (refused, best reading wrong), blank (no ink found)."""
    from mnistlab.calibration.rule import string_not_sure

    out: dict[str, dict[str, int]] = {}
    for o in observed:
        counts = out.setdefault(o.kind, dict.fromkeys(OUTCOMES, 0))
        counts["numbers"] += 1
        if o.number == "":
            counts["blank"] += 1
            continue
        sure = o.digits_sure and string_not_sure(rule, o.evidence, o.refused).sure
        counts[
            ("right" if o.right else "wrong") if sure else ("wasted" if o.right else "saved")
        ] += 1
    return out


OUTCOMES = ("numbers", "right", "wrong", "wasted", "saved", "blank")
