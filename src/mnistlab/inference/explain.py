"""Why the model answered what it did: the nearest training digits and a saliency map.

The nearest digits come from the feature bank shipped beside the model (runs.features): the
input's features (the input of its last linear layer, as the "not sure" rule reads them) are
compared by cosine similarity with the bank's 6,000 training digits, whose images and labels
mnistlab ships too (runs.bank_digits); a model trained or fine-tuned here, whose bank holds the
same digits, finds them by matching (inference.bank_match). The saliency map is
inference.saliency's. A "not sure" answer is explained like any other: for its best guess.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mnistlab.calibration.core import feature_layer, features_and_logits
from mnistlab.data.normalize import normalize
from mnistlab.inference.answers import (  # noqa: F401 (the answer types, where they were)
    Explanation,
    ExplanationDict,
    Neighbour,
    NeighbourDict,
    Prediction,
)
from mnistlab.inference.bank_match import matched_bank_digits
from mnistlab.inference.saliency import METHODS, saliency
from mnistlab.runs.bank_digits import BankDigits, shipped_bank_digits
from mnistlab.runs.features import bank_of
from mnistlab.runs.meta import RunMeta

DEFAULT_NEIGHBOURS = 5
MAX_NEIGHBOURS = 50
# picked by faithfulness: benchmarks/saliency.py, docs/explain.md
DEFAULT_SALIENCY = "integrated_gradients"
NO_BANK = (
    "this model has no feature bank of mnistlab's training digits (none in its folder, or one "
    "of other digits)"
)


def check_request(k: int, method: str) -> None:
    """ValueError, in one line, for a neighbour count or saliency method not offered."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_NEIGHBOURS:
        raise ValueError(f"neighbours must be a whole number from 1 to {MAX_NEIGHBOURS}, not {k!r}")
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; known: {', '.join(METHODS)}")


def bank_digits_of(model: nn.Module, meta: RunMeta) -> BankDigits | None:
    """The training digits of the model's bank, or None (no bank, or one of other digits): a
    shipped bank's by its SHA-256, a bank made here by matching its rows (bank_match)."""
    rule = meta.calibration.features if meta.calibration is not None else None
    if rule is None or bank_of(model) is None or feature_layer(model) is None:
        return None
    digits = shipped_bank_digits(rule.sha256)
    if digits is None and meta.dataset == "mnist":
        digits = matched_bank_digits(model, meta.normalization, rule.sha256)
    return digits


@torch.inference_mode()
def nearest(model: nn.Module, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """((N, k) similarity, (N, k) bank rows) of the bank rows nearest normalised inputs x:
    cosine similarity of the model's features, on the device the model is on."""
    bank = bank_of(model)
    assert bank is not None  # bank_digits_of said so
    features, _ = features_and_logits(model, x)
    unit = torch.nn.functional.normalize(features, dim=1)
    similarity, rows = (unit @ bank.to(unit.device, torch.float32).T).topk(k, dim=1)
    # the bank's int8 rows are unit vectors to within 0.4%: keep what is shown a cosine
    return similarity.clamp(-1, 1).cpu(), rows.cpu()


def explain_batch(
    model: nn.Module,
    meta: RunMeta,
    predictions: Sequence[Prediction],
    labels: Sequence[str],
    k: int = DEFAULT_NEIGHBOURS,
    method: str = DEFAULT_SALIENCY,
) -> list[Explanation]:
    """An Explanation for each prediction (of Predictor.predict_pixels; its pixels are what is
    explained), with the k nearest bank digits and the saliency for its best guess. `labels`:
    the class names."""
    check_request(k, method)
    if not predictions:
        return []
    device = next(model.parameters()).device
    batch = torch.from_numpy(np.stack([p.pixels for p in predictions])).to(device)
    x = normalize(batch.unsqueeze(1), meta.normalization)  # (N, 1, 28, 28)
    target = torch.tensor([p.guess for p in predictions], device=device)
    maps = saliency(model, x, target, meta.normalization, method).numpy()
    digits = bank_digits_of(model, meta)
    if digits is None:
        found = [[] for _ in predictions]
    else:
        similarity, rows = nearest(model, x, min(k, len(digits.labels)))
        found = [
            [_neighbour(digits, int(r), float(s), labels) for s, r in zip(sims, idx, strict=True)]
            for sims, idx in zip(similarity.tolist(), rows.tolist(), strict=True)
        ]
    note = NO_BANK if digits is None else None
    return [
        Explanation(p, n, m.astype(np.float32), method, p.guess, note)
        for p, n, m in zip(predictions, found, maps, strict=True)
    ]


def _neighbour(digits: BankDigits, row: int, similarity: float, labels: Sequence[str]):
    digit = int(digits.labels[row])
    label = labels[digit] if digit < len(labels) else str(digit)
    return Neighbour(digits.images[row], digit, label, similarity, row)
