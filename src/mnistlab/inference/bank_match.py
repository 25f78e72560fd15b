"""Which training digits a feature bank made here was built from, so that a model trained or
fine-tuned here shows its nearest training digits too.

A bank built here (train.calibrate.feature_bank, or a personal model's, train.personal_run)
holds the features of the same 6,000 training digits as the shipped models' banks (the first
of the train split, the same with or without --full-train), but it is not a shipped file, so
runs.bank_digits has no row index under its SHA-256. It is matched instead: a few of its rows,
spread over the bank, are compared with the model's features of the shipped digits in those
rows. The same digits agree to a cosine of 0.99 or more (the bank is int8, the shipped images
16 grey levels); other digits agree to about 0.5 at best, in the median (measured on the
shipped models, rows shifted by one).
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from torch import nn

from mnistlab.calibration.core import feature_layer, features_and_logits
from mnistlab.data.normalize import normalize
from mnistlab.runs.bank_digits import BankDigits, shipped_digit_sets
from mnistlab.runs.features import bank_of

SAMPLE = 48  # rows compared: one forward pass of 48 digits, about a millisecond
AGREE = 0.95  # the median cosine over them that says "the same digits"
MAX_REMEMBERED = 64  # banks whose answer is kept (a server may hold many personal models)

_FOUND: dict[str, BankDigits | None] = {}
_LOCK = threading.Lock()


def matched_bank_digits(
    model: nn.Module, normalization: str, bank_sha256: str
) -> BankDigits | None:
    """The shipped digits the model's bank was built from, row for row, or None (no bank, or
    one of other digits). Remembered by the bank's SHA-256 (model.json's calibration.features)."""
    bank = bank_of(model)
    if bank is None or feature_layer(model) is None:
        return None
    with _LOCK:
        if bank_sha256 and bank_sha256 in _FOUND:
            return _FOUND[bank_sha256]
    found = next(
        (d for d in shipped_digit_sets() if _agrees(model, bank, d.images, normalization)), None
    )
    if bank_sha256:
        with _LOCK:
            while len(_FOUND) >= MAX_REMEMBERED:
                _FOUND.pop(next(iter(_FOUND)))
            _FOUND[bank_sha256] = found
    return found


@torch.inference_mode()
def _agrees(model: nn.Module, bank: torch.Tensor, images: np.ndarray, normalization: str) -> bool:
    """Whether the model's features of `images` are `bank`'s rows, judged on SAMPLE rows."""
    if len(images) != len(bank):
        return False
    rows = np.unique(np.linspace(0, len(bank) - 1, SAMPLE).round().astype(np.int64))
    device = bank.device
    x = normalize(torch.from_numpy(images[rows]).unsqueeze(1).to(device), normalization)
    features, _ = features_and_logits(model, x)  # (SAMPLE, D)
    unit = torch.nn.functional.normalize(features.float(), dim=1)
    cosine = (unit * bank[torch.from_numpy(rows).to(device)].float()).sum(1)
    return float(cosine.median()) >= AGREE
