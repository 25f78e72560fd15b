"""The one rule that decides "not sure": used by predictions (inference.Predictor) and by
fitting (mnistlab.train.calibrate) alike, so what is fitted is what answers.

Under a Calibration, an input is refused, in this order of reasons: by the shape cues (more
separate marks or closed loops than digits have), by its score (the feature rule's similarity
to training digits when the model has its bank, else the logits rule's digit_score), and by
the digit detector (when the calibration has its rule and the detector's scores are given).

A number read from an image is decided once more as a whole (`string_not_sure`, under the
calibration's ReadingRule): its digits may each be likely and the string still doubtful (a
digit cut in two reads as two confident 1s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mnistlab.calibration.core import Counts, digit_score, shape_counts
from mnistlab.calibration.types import Calibration, ReadingRule

FEATURE_RULE = "similarity to training digits"  # the feature rule's name in a reason


@dataclass(frozen=True)
class NotSure:
    """The rule's answer for a batch of N inputs: `refused` (N,) bool, and the numbers behind
    it, from which `reasons()` writes why each refused input is not taken for a digit."""

    refused: np.ndarray  # (N,) bool
    calibration: Calibration | None = None
    counts: Counts | None = None  # (marks, loops) when the cues apply
    scores: np.ndarray | None = None  # (N,) float64 of the deciding score rule
    score_name: str = ""
    threshold: float = 0.0
    detected: np.ndarray | None = None  # (N,) float64 detector scores when its rule applies
    evidence: np.ndarray | None = None  # (N,) what the detector rule compares: detector_evidence

    def reasons(self) -> list[str | None]:
        """Per input, why it is not taken for a digit; None: it is (the first rule that
        refuses it names the reason)."""
        out: list[str | None] = [None] * len(self.refused)
        cal = self.calibration
        if cal is None or self.scores is None:
            return out
        marks, loops = self.counts if self.counts is not None else (None, None)
        for i in np.flatnonzero(self.refused).tolist():
            score = float(self.scores[i])
            if marks is not None and marks[i] > cal.max_marks:
                out[i] = f"{marks[i]} separate marks; digits have at most {cal.max_marks}"
            elif loops is not None and loops[i] > cal.max_loops:
                out[i] = f"{loops[i]} closed loops; digits have at most {cal.max_loops}"
            elif score < self.threshold:
                out[i] = (
                    f"unlike the digits it knows ({self.score_name} {score:.3g} "
                    f"below {self.threshold:.3g})"
                )
            elif self.evidence is not None and cal.detector is not None:
                weighed = (
                    f"; {float(self.evidence[i]):.3g} with the model's confidence weighed in,"
                    if cal.detector.confidence_weight
                    else ""
                )
                out[i] = (
                    f"does not look like a digit (digit detector score "
                    f"{float(self.detected[i]):.3g}{weighed} below {cal.detector.threshold:.3g})"
                )
        return out


def not_sure(
    calibration: Calibration | None,
    logits: torch.Tensor,
    pixels: np.ndarray | None = None,
    *,
    counts: Counts | None = None,
    similarity: torch.Tensor | None = None,
    detected: torch.Tensor | None = None,
) -> NotSure:
    """Which of these N inputs `calibration` refuses, and why (see NotSure).

    `logits` (N, classes); `pixels` (N, 28, 28) uint8, read for the shape cues, or their
    `counts` (shape_counts) when a caller deciding many rules on one set computed them once.
    `similarity` (N,): nearest_similarity to the model's feature bank; with it and a feature
    rule, that rule decides; without (no bank in the folder), the logits rule does.
    `detected` (N,): the digit detector's scores (calibration.detector.detector_scores), which
    refuse too when the calibration has a detector rule. No calibration, or one without a
    threshold: nothing is refused."""
    n = len(logits)
    if calibration is None or calibration.threshold is None or n == 0:
        return NotSure(np.zeros(n, bool))
    rule = calibration.features if similarity is not None else None
    if rule is not None:
        name, threshold, scores = FEATURE_RULE, rule.threshold, similarity
    else:
        name, threshold = calibration.score, calibration.threshold
        scores = digit_score(logits, calibration.temperature, calibration.score)
    # compared in float64, as Python floats compare: the thresholds are float64 numbers
    values = scores.detach().cpu().double().numpy()
    refused = values < threshold
    if calibration.cues:
        if counts is None:
            counts = shape_counts(pixels)
        marks, loops = counts
        refused |= (marks > calibration.max_marks) | (loops > calibration.max_loops)
    else:
        counts = None
    found = evidence = None
    if calibration.detector is not None and detected is not None:
        found = detected.detach().cpu().double().numpy()
        evidence = detector_evidence(
            found, logits, calibration.temperature, calibration.detector.confidence_weight
        )
        refused |= evidence < calibration.detector.threshold
    return NotSure(refused, calibration, counts, values, name, threshold, found, evidence)


def detector_evidence(
    detected: np.ndarray, logits: torch.Tensor, temperature: float, weight: float
) -> np.ndarray:
    """(N,) float64: what the detector rule compares with its threshold, the detector's score
    plus `weight` times the log-odds of the model's calibrated top probability. The log-odds
    is computed as the top logit minus the log-sum-exp of the others (over T), exact where
    the probability rounds to 1 in float64."""
    found = np.asarray(detected, np.float64)
    if not weight or not len(found):
        return found
    scaled = logits.detach().cpu().double() / temperature
    top, best = scaled.max(1)
    others = scaled.scatter(1, best[:, None], float("-inf"))
    log_odds = (top - torch.logsumexp(others, 1)).numpy()
    return found + weight * log_odds


@dataclass(frozen=True)
class StringVerdict:
    """The string rule's answer for one read number of N digits."""

    confidence: float | None  # calibrated probability that the whole string is right; None:
    # the model has no string rule
    doubtful: tuple[int, ...]  # the digits to mark "?": refused themselves, or the weakest
    # ones without which the string would be sure
    threshold: float | None = None

    @property
    def sure(self) -> bool:
        return not self.doubtful


def string_not_sure(
    rule: ReadingRule | None, evidence: np.ndarray, refused: np.ndarray
) -> StringVerdict:
    """Whether a read number is sure as a whole. `evidence` (N, EVIDENCE): per digit, what the
    rule weighs (ReadingRule: four log-probabilities, then two -1-or-0 flags); `refused` (N,)
    bool: the digits `not_sure` refused. Without a rule the string is sure when every digit is
    (as before issue 26). A string below the threshold marks its weakest digits (the lowest
    weighted evidence), the fewest whose evidence, were they certain, would lift the string to
    the threshold."""
    doubtful = [int(i) for i in np.flatnonzero(refused)]
    if rule is None or len(evidence) == 0:
        return StringVerdict(None, tuple(doubtful))
    shares = np.asarray(evidence, np.float64) @ np.asarray(rule.weights, np.float64)  # (N,)
    logit = rule.bias + float(shares.sum())
    confidence = float(1.0 / (1.0 + np.exp(-logit)))
    if confidence < rule.threshold:
        needed = float(np.log(rule.threshold / (1.0 - rule.threshold)))
        for i in np.argsort(shares, kind="stable").tolist():
            if logit >= needed:
                break
            logit -= float(shares[i])  # as if digit i were certain
            if i not in doubtful:
                doubtful.append(i)
    return StringVerdict(confidence, tuple(sorted(doubtful)), rule.threshold)
