"""A read number judged as a whole: the evidence each digit brings to "the string is right".

Each digit of a reading is right only if these hold: the classifier read the part right (its
calibrated probability), the part is exactly one digit, not half of one or two (the one-digit
network), it is a digit at all (the digit detector), and the reader's choice of cuts and joins
that made it was right (its probability among the other choices, inference.reading). Their
logs, per digit, are what the model's ReadingRule weighs (calibration.rule.string_not_sure),
with one more: -1 for a part cut out of touching ink. The segmentation evidence rates a cut by
its parts' own look, and a wrong cut often leaves two parts that look like digits (a 7 whose
bar went to its neighbour); the rule's weight for the -1 is the doubt every such part carries.
mnistlab.train.calibrate_reading fits the weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mnistlab.calibration.detector import detector_scores
from mnistlab.calibration.types import EVIDENCE
from mnistlab.inference.one_digit import OneDigitNet, one_digit_log_odds, part_shape

TINY = 1e-12  # no log of zero


def digit_evidence(
    probabilities: np.ndarray,
    fields: np.ndarray,
    masks: list[np.ndarray],
    digit_height: float,
    one_digit: OneDigitNet | None,
    segmentation: np.ndarray,
    cut_out: np.ndarray,
    detector: Callable[[np.ndarray], torch.Tensor] | None = None,
) -> np.ndarray:
    """(N, EVIDENCE) float64 per digit: log P(the guess), log P(one digit), log P(a digit),
    log P(the segmentation), and -1 where the part was cut out of touching ink (else 0).

    `probabilities` (N,) the calibrated probability of each digit's guess; `fields` (N, 28,
    28) uint8 what the classifier saw; `masks` each part's ink; `segmentation` (N,) each
    part's share of the log-probability of the cuts and joins that made it; `cut_out` (N,)
    bool, the parts cut from a piece that held several digits; `detector`
    computes the digit detector's logits (default: the shipped detector in PyTorch)."""
    n = len(fields)
    out = np.zeros((n, EVIDENCE))
    if n == 0:
        return out
    out[:, 0] = np.log(np.maximum(np.asarray(probabilities, np.float64), TINY))
    if one_digit is not None:
        shapes = np.array([part_shape(mask, digit_height) for mask in masks])
        out[:, 1] = log_sigmoid(one_digit_log_odds(one_digit, fields, shapes))
    scores = (detector or detector_scores)(fields)
    out[:, 2] = log_sigmoid(scores.detach().cpu().double().numpy())
    out[:, 3] = np.minimum(np.asarray(segmentation, np.float64), 0.0)
    out[:, 4] = -np.asarray(cut_out, np.float64)
    return out


def log_sigmoid(logits: np.ndarray | float) -> np.ndarray:
    """log(sigmoid(x)), without overflow: the log-probability of a two-way choice whose log-odds
    is x (float64)."""
    return -np.logaddexp(0.0, -np.asarray(logits, np.float64))
