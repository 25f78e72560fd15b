"""Calibration maths on logits and 28x28 digits: temperature, ECE, "not sure" scores and cues.

Everything here is a pure function of tensors or arrays; the rule that decides "not sure" is
`mnistlab.calibration.rule`, and fitting on a model's data lives above inference
(`mnistlab.train.calibrate`), so inference can apply a calibration without importing
synthesis or the data pipeline.
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np
import torch
from torch import nn

SCORES = ("max_prob", "energy")
INK = 96  # a pixel is ink above this (of 255); MNIST strokes are ~255 at their centre
SPECK = 4  # ink parts smaller than this many pixels are specks, not marks

Counts = tuple[np.ndarray, np.ndarray]  # (marks, loops) per image, from shape_counts


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100) -> float:
    """The T > 0 that minimises the NLL of softmax(logits / T) on (N, C) logits.

    Optimised over log T, so T stays positive without a constraint; the problem is convex in
    1/T, so LBFGS finds the one minimum."""
    logits = logits.detach().double().clone()  # also leaves inference mode
    labels = labels.detach().to(torch.int64).clone()
    if not len(labels):
        return 1.0
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    return temperature if math.isfinite(temperature) else 1.0


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE: the gap |accuracy - confidence| averaged over equal-width confidence bins,
    weighted by the share of samples in each bin (Guo et al. 2017)."""
    if not len(labels):
        return 0.0
    confidence, predicted = probs.double().max(1)
    correct = (predicted == labels).double()
    # bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of 0 joins bin 0
    index = (torch.ceil(confidence * bins).long() - 1).clamp(0, bins - 1)
    count = torch.bincount(index, minlength=bins).double()
    gap = torch.bincount(index, weights=correct - confidence, minlength=bins).abs()
    return float(gap.sum() / count.sum())


def ece_before_after(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> list[float]:
    """[before, after] temperature scaling."""
    return [
        expected_calibration_error(logits.softmax(1), labels),
        expected_calibration_error((logits / temperature).softmax(1), labels),
    ]


def digit_score(logits: torch.Tensor, temperature: float, score: str) -> torch.Tensor:
    """(N,) how digit-like each input looks; higher is more. "max_prob": the calibrated
    probability of the best class; "energy": T * logsumexp(logits / T), minus the energy of
    Liu et al. 2020, which also sees how large the logits are, not only how peaked."""
    scaled = logits.double() / temperature
    if score == "max_prob":
        return scaled.softmax(1).amax(1)
    if score == "energy":
        return temperature * torch.logsumexp(scaled, 1)
    raise ValueError(f"unknown score {score!r}; known: {', '.join(SCORES)}")


def threshold_at(scores: torch.Tensor, false_reject: float) -> float:
    """The score below which `false_reject` of these (digit) scores fall."""
    return float(torch.quantile(scores.double(), false_reject))


def allowed_rejects(n: int, budget: float, confidence: float = 0.95) -> int:
    """The most of `n` validation digits a rule may refuse so that the one-sided Clopper-Pearson
    upper bound (at `confidence`) on its false-reject rate stays <= `budget`.

    Refusing exactly budget * n would put the true rate above the budget about half the time
    (the test set then sees 1.1-1.3%, not 1%). The bound is <= budget exactly when
    P(Binomial(n, budget) <= r) <= 1 - confidence: the largest such r."""
    from scipy.stats import binom  # here, not at import: predictions never need it

    if n <= 0:
        return 0
    alpha = 1 - confidence
    allowed = int(binom.ppf(alpha, n, budget))  # the smallest r whose CDF reaches alpha
    if binom.cdf(allowed, n, budget) > alpha:
        allowed -= 1
    return max(allowed, 0)


def threshold_rejecting(scores: torch.Tensor, count: int) -> float:
    """The threshold that refuses exactly the `count` lowest of these scores (fewer on ties):
    "below threshold" is refused, so it is the (count + 1)-th smallest score."""
    ordered = scores.double().sort().values
    if count <= 0:
        return float(ordered[0]) if len(ordered) else 0.0
    if count >= len(ordered):
        return float(ordered[-1]) + 1.0
    return float(ordered[count])


def feature_layer(model: nn.Module) -> nn.Linear | None:
    """The layer whose input is the model's feature vector: its last linear layer (the
    classifier). None for an ensemble (several classifiers) or a model without one. Found once
    per model: walking the modules on every prediction cost more than a small model's forward
    pass."""
    if model not in _FEATURE_LAYERS:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        single = not hasattr(model, "members")  # runs.ensemble.Ensemble: no one feature space
        _FEATURE_LAYERS[model] = linears[-1] if linears and single else None
    return _FEATURE_LAYERS[model]


_FEATURE_LAYERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def features_and_logits(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """((N, D) features, (N, classes) logits) in one forward pass, weights untouched.

    A forward pre-hook reads the classifier's input. It is registered for this call only and
    keeps only what this thread's forward passes it, so concurrent predictions on one model
    (serve's threads) never see each other's features."""
    layer = feature_layer(model)
    if layer is None:
        raise ValueError(f"{type(model).__name__} has no single last linear layer")
    caught: list[torch.Tensor] = []
    me = threading.get_ident()

    def hook(_module: nn.Module, args: tuple) -> None:
        if threading.get_ident() == me:
            caught.append(args[0])

    handle = layer.register_forward_pre_hook(hook)
    try:
        logits = model(x)
    finally:
        handle.remove()
    return caught[-1].flatten(1).float(), logits.float()


def nearest_similarity(features: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """(N,) cosine similarity of each feature vector to its nearest row of `bank` (rows already
    L2-normalised): k-NN with k = 1, on the device the features are on."""
    unit = torch.nn.functional.normalize(features.float(), dim=1)
    return (unit @ bank.to(unit.device, torch.float32).T).amax(1).cpu()


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected parts of a batch of (N, H, W) masks, all images in one call to SciPy's C
    labelling (a 3-D structure that links pixels within an image, never across images; 4x
    faster than the label propagation in NumPy it replaced, the same counts). Returns (parts per
    image (N,), pixels per part for every part of the batch)."""
    from scipy import ndimage

    n, h, w = mask.shape
    within_image = np.zeros((3, 3, 3), bool)
    within_image[1] = True
    labels, count = ndimage.label(mask, structure=within_image)
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=count + 1)[1:]
    owner = np.zeros(count + 1, np.intp)
    owner[flat] = np.repeat(np.arange(n), h * w)  # every pixel of a part is in one image
    return np.bincount(owner[1:], minlength=n), sizes


def shape_counts(pixels: np.ndarray) -> Counts:
    """(marks, loops) per (N, 28, 28) uint8 digit: separate ink parts of SPECK pixels or more,
    and holes (background regions the outside cannot reach)."""
    ink = np.asarray(pixels) > INK
    n = len(ink)
    if n == 0:
        return np.zeros(0, int), np.zeros(0, int)
    marks = np.zeros(n, int)
    parts, sizes = _components(ink)
    owner = np.repeat(np.arange(n), parts)
    np.add.at(marks, owner, sizes >= SPECK)
    return marks, parts - euler_number(ink)


def euler_number(mask: np.ndarray) -> np.ndarray:
    """(N,) parts minus holes of (N, H, W) masks, 8-connected ink (so 4-connected holes),
    from counts of 2x2 pixel patterns (Gray's bit quads): no labelling needed."""
    framed = np.pad(mask, ((0, 0), (1, 1), (1, 1))).astype(np.int8)
    a, b = framed[:, :-1, :-1], framed[:, :-1, 1:]
    c, d = framed[:, 1:, :-1], framed[:, 1:, 1:]
    total = a + b + c + d
    one = (total == 1).sum((1, 2))
    three = (total == 3).sum((1, 2))
    diagonal = ((total == 2) & (a == d)).sum((1, 2))
    return (one - three - 2 * diagonal) // 4
