"""A read number judged as a whole: the evidence each digit brings to "the string is right".

Each digit of a reading is right only if these hold: the classifier read the part right (its
calibrated probability), the part is exactly one digit, not half of one or two (the one-digit
network), it is a digit at all (the digit detector), and the reader's choice of cuts and joins
that made it was right (its probability among the other choices, inference.reading). Their
logs, per digit, are what the model's ReadingRule weighs (calibration.rule.string_not_sure),
with two more:
- -1 for a part cut out of touching ink. The segmentation evidence rates a cut by its parts'
  own look, and a wrong cut often leaves two parts that look like digits (a 7 whose bar went
  to its neighbour); the rule's weight for the -1 is the doubt every such part carries.
- -1 when not all of the NEIGHBOURS training digits nearest the part, in the model's own
  features (its feature bank, as `explain` shows them), are of the class it was read as. The
  surest wrong strings are digits misread with a calibrated probability of 0.95-0.99 (an open
  0 read as 6); the classifier's probability does not tell them from right ones, its
  neighbours more often do (validation: docs/reading.md). 0 for every part of a model without
  a bank.
mnistlab.train.calibrate_reading fits the weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mnistlab.calibration.detector import detector_scores
from mnistlab.calibration.types import EVIDENCE
from mnistlab.data.normalize import normalize
from mnistlab.inference.explain import bank_digits_of, nearest
from mnistlab.inference.one_digit import OneDigitNet, one_digit_log_odds, part_shape
from mnistlab.inference.predictor import Predictor

TINY = 1e-12  # no log of zero
NEIGHBOURS = 10  # training digits asked, fixed before it was fitted (the page shows as many)


def digit_evidence(
    probabilities: np.ndarray,
    fields: np.ndarray,
    masks: list[np.ndarray],
    digit_height: float,
    one_digit: OneDigitNet | None,
    segmentation: np.ndarray,
    cut_out: np.ndarray,
    detector: Callable[[np.ndarray], torch.Tensor] | None = None,
    agreeing: np.ndarray | None = None,
) -> np.ndarray:
    """(N, EVIDENCE) float64 per digit: log P(the guess), log P(one digit), log P(a digit),
    log P(the segmentation), -1 where the part was cut out of touching ink (else 0), and -1
    where fewer than all NEIGHBOURS of its nearest training digits are of its class (else 0).

    `probabilities` (N,) the calibrated probability of each digit's guess; `fields` (N, 28,
    28) uint8 what the classifier saw; `masks` each part's ink; `segmentation` (N,) each
    part's share of the log-probability of the cuts and joins that made it; `cut_out` (N,)
    bool, the parts cut from a piece that held several digits; `detector`
    computes the digit detector's logits (default: the shipped detector in PyTorch);
    `agreeing` (N,) how many of each part's NEIGHBOURS agree (neighbours_agreeing; None: the
    model has no bank)."""
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
    if agreeing is not None:
        out[:, 5] = -(np.asarray(agreeing) < NEIGHBOURS).astype(np.float64)
    return out


@torch.inference_mode()
def neighbours_agreeing(
    predictor: Predictor, fields: np.ndarray, guesses: np.ndarray
) -> np.ndarray | None:
    """(N,) how many of the NEIGHBOURS training digits nearest each field (N, 28, 28) uint8,
    in the model's features, are of the class in `guesses` (N,); None when the model has no
    bank of known digits (then the evidence is 0)."""
    bank = bank_digits_of(predictor.model, predictor.meta)
    if bank is None or not len(fields):
        return None
    device = next(predictor.model.parameters()).device
    x = normalize(
        torch.from_numpy(np.array(fields)).unsqueeze(1).to(device), predictor.normalization
    )
    _, rows = nearest(predictor.model, x, NEIGHBOURS)
    labels = np.asarray(bank.labels)[rows.numpy()]  # (N, NEIGHBOURS)
    return (labels == np.asarray(guesses)[:, None]).sum(axis=1)


def log_sigmoid(logits: np.ndarray | float) -> np.ndarray:
    """log(sigmoid(x)), without overflow: the log-probability of a two-way choice whose log-odds
    is x (float64)."""
    return -np.logaddexp(0.0, -np.asarray(logits, np.float64))
