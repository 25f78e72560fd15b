"""Saliency over a 28x28 input: which pixels decided the model's answer.

Two methods, both measured against the same "nothing here" the deletion check uses, a black
pixel (MNIST's background):
- occlusion: cover a PATCH x PATCH square with background, at every STRIDE, and credit each
  pixel with the mean drop of the class's probability over the squares covering it; squares
  over background alone change nothing and are not run;
- integrated gradients (Sundararajan et al. 2017): the gradient of the class's probability
  along the straight path from a black image to the input, averaged over STEPS midpoints and
  times (input - black): the attributions sum to about p(input) - p(black).

Which one a reader gets is picked by faithfulness (deletion_curve; benchmarks/saliency.py,
docs/explain.md). Everything runs on the device the model is on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mnistlab.data.normalize import normalize

SIDE = 28
PATCH = 4  # occlusion: a stroke is 2-4 px wide, so a square this size can take one away
STRIDE = 2
STEPS = 8  # integrated gradients: path midpoints; 16 or 32 were no more faithful (deletion
# area, 200 test digits, lenet5 and sota-cpu) and cost 2-4x the time
DELETE_STEP = 8  # deletion curve: pixels removed between two points


def probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, classes) softmax of the model's output (an ensemble's log-probabilities too)."""
    return torch.softmax(model(x).float(), dim=1)


def background(x: torch.Tensor, normalization: str) -> torch.Tensor:
    """A black image, normalised as x is: what a removed pixel becomes."""
    zeros = torch.zeros(1, 1, SIDE, SIDE, dtype=torch.uint8, device=x.device)
    return normalize(zeros, normalization).to(x.dtype)


def _patches(device: torch.device) -> torch.Tensor:
    """(P, 28, 28) float masks, one square of PATCH x PATCH at every STRIDE."""
    starts = range(0, SIDE - PATCH + 1, STRIDE)
    masks = torch.zeros(len(starts) ** 2, SIDE, SIDE, device=device)
    for i, (top, left) in enumerate((t, s) for t in starts for s in starts):
        masks[i, top : top + PATCH, left : left + PATCH] = 1
    return masks


@torch.inference_mode()
def occlusion(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, normalization: str
) -> torch.Tensor:
    """(N, 28, 28) drop of p(target) when each pixel's squares are covered, for normalised
    inputs x (N, 1, 28, 28)."""
    masks = _patches(x.device)  # (P, 28, 28)
    black = background(x, normalization)
    coverage = masks.sum(0)  # (28, 28) squares over each pixel
    out = torch.zeros(len(x), SIDE, SIDE, device=x.device)
    base = probabilities(model, x).gather(1, target[:, None])[:, 0]  # (N,)
    for i in range(len(x)):
        ink = (x[i, 0] != black[0, 0]).float()  # (28, 28)
        used = masks[(masks * ink).flatten(1).any(1)]  # (U, 28, 28) squares touching ink
        if not len(used):
            continue
        covered = x[i] * (1 - used[:, None]) + black * used[:, None]  # (U, 1, 28, 28)
        drop = base[i] - probabilities(model, covered)[:, target[i]]  # (U,)
        out[i] = (drop[:, None, None] * used).sum(0) / coverage
    return out.float().cpu()


def integrated_gradients(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, normalization: str
) -> torch.Tensor:
    """(N, 28, 28) integrated gradients of p(target) from a black image, for normalised
    inputs x (N, 1, 28, 28). Gradients are taken for the inputs only; the weights' .grad is
    never written, so concurrent requests on one model do not meet."""
    alphas = (torch.arange(STEPS, device=x.device) + 0.5) / STEPS  # (S,)
    # outside inference mode (a caller's may be on), on copies that autograd may record
    with torch.inference_mode(False), torch.enable_grad():
        black = background(x, normalization).clone()
        delta = x.clone().float() - black  # (N, 1, 28, 28)
        path = black + alphas[None, :, None, None, None] * delta[:, None]  # (N, S, 1, 28, 28)
        path = path.reshape(-1, 1, SIDE, SIDE).requires_grad_(True)
        chosen = probabilities(model, path.to(x.dtype))
        chosen = chosen.gather(1, target.repeat_interleave(STEPS)[:, None]).sum()
        (grad,) = torch.autograd.grad(chosen, path)  # (N * S, 1, 28, 28)
        mean = grad.reshape(len(x), STEPS, SIDE, SIDE).mean(1)
        return (mean * delta[:, 0]).detach().float().cpu()


METHODS: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor, str], torch.Tensor]] = {
    "occlusion": occlusion,
    "integrated_gradients": integrated_gradients,
}


def saliency(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, normalization: str, method: str
) -> torch.Tensor:
    """(N, 28, 28) CPU float32 saliency by `method` (METHODS): positive where a pixel speaks
    for `target`, negative where it speaks against it. ValueError for an unknown method."""
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; known: {', '.join(METHODS)}")
    return METHODS[method](model, x, target, normalization)


@torch.inference_mode()
def deletion_curve(
    model: nn.Module,
    pixels: torch.Tensor,
    order: torch.Tensor,
    target: torch.Tensor,
    normalization: str,
    step: int = DELETE_STEP,
) -> torch.Tensor:
    """(N, points) p(target) as the pixels of uint8 digits (N, 28, 28) are set to black,
    `step` at a time in `order` (N, 784: flat indices, first removed first), starting with
    none removed and ending when every ink pixel is gone. The mean of a curve is its area:
    lower means the order found the pixels the answer rests on (Petsiuk et al. 2018)."""
    device = next(model.parameters()).device
    flat = pixels.reshape(len(pixels), -1).to(device)
    order = order.to(device)
    most_ink = int((flat > 0).sum(1).max())
    points = []
    for removed in range(0, most_ink + step, step):
        kept = flat.clone()
        kept.scatter_(1, order[:, :removed], 0)
        x = normalize(kept.reshape(-1, 1, SIDE, SIDE), normalization)
        points.append(probabilities(model, x).gather(1, target.to(device)[:, None])[:, 0])
    return torch.stack(points, 1).cpu()


def most_salient_first(saliency_map: torch.Tensor) -> torch.Tensor:
    """(N, 784) flat pixel indices, most salient first (ties in reading order)."""
    return torch.argsort(-saliency_map.reshape(len(saliency_map), -1), dim=1, stable=True)
