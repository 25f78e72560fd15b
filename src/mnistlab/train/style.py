"""A person's handwriting style measured from a few of their digits, and MNIST digits redrawn in it.

The style is the part of handwriting that an affine map carries: how far the digits lean and how
wide and tall they are, each against MNIST's digits of the same class (a 1 is narrow for
everyone). It is measured from the ink's second moments, the statistics classic deskewing uses
(LeCun et al. 1998; Bottou et al. 1994), so a few dozen digits are enough to pin it down.
Redrawing replayed MNIST digits in that style lets a fine-tune learn the person's lean on
thousands of shapes instead of their few dozen (train.personal: FinetuneConfig.restyle). What an
affine map cannot carry (a crossed 7, an open 4, a heavy pen) is left to the person's own digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mnistlab.data.augment import warp
from mnistlab.data.splits import Split

REFERENCE_DIGITS = 10_000  # MNIST digits whose per-class moments the person's are compared with
# a few odd digits can give an odd measure: beyond these a redrawn digit is no longer legible
# (45 degrees; half or twice MNIST's width or height).
MOST_LEAN = 1.0
SCALES = (0.5, 2.0)


@dataclass(frozen=True)
class HandStyle:
    """A style against MNIST's: `lean` is the horizontal move per unit of height (> 0: the top
    to the right), `width` and `height` the ink's spread as a ratio to MNIST's same digits."""

    lean: float = 0.0
    width: float = 1.0
    height: float = 1.0

    @property
    def degrees(self) -> float:
        return math.degrees(math.atan(self.lean))

    def describe(self) -> str:
        side = "right" if self.lean > 0 else "left"
        return (
            f"leaning {abs(self.degrees):.0f} degrees {side} of MNIST's, "
            f"{self.width:.2f}x as wide and {self.height:.2f}x as tall"
        )


def shape_moments(pixels: torch.Tensor) -> torch.Tensor:
    """(N, 3) for (N, 28, 28) digits (ink bright): skew (x against y, per row; > 0 leans left,
    rows counting down), log of the horizontal spread once the skew is taken out, log of the
    vertical spread."""
    ink = pixels.float()
    mass = ink.sum((1, 2)).clamp_min(1e-6)
    rows, cols = torch.meshgrid(
        torch.arange(ink.shape[1], dtype=torch.float32),
        torch.arange(ink.shape[2], dtype=torch.float32),
        indexing="ij",
    )
    dy = rows - ((ink * rows).sum((1, 2)) / mass).view(-1, 1, 1)
    dx = cols - ((ink * cols).sum((1, 2)) / mass).view(-1, 1, 1)
    var_y = ((ink * dy * dy).sum((1, 2)) / mass).clamp_min(1e-3)
    var_x = (ink * dx * dx).sum((1, 2)) / mass
    cov = (ink * dx * dy).sum((1, 2)) / mass
    skew = cov / var_y
    upright_x = (var_x - cov * cov / var_y).clamp_min(1e-3)
    return torch.stack([skew, 0.5 * torch.log(upright_x), 0.5 * torch.log(var_y)], 1)


def measure_style(person: Split, reference: Split, seed: int = 0) -> HandStyle:
    """The style of `person`'s digits against the mean moments of `reference`'s digits of the
    same class (REFERENCE_DIGITS of them, drawn by `seed`): width and height from the spreads
    (the upright spread does not change with a lean), then the lean, averaged over the digits."""
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(reference), generator=generator)[:REFERENCE_DIGITS]
    moments = shape_moments(reference.images[chosen])
    labels = reference.labels[chosen]
    means = torch.zeros(10, 3)
    for digit in range(10):
        of_digit = moments[labels == digit]
        if len(of_digit):
            means[digit] = of_digit.mean(0)
    mine, theirs = shape_moments(person.images), means[person.labels]
    log_width, log_height = (mine[:, 1:] - theirs[:, 1:]).mean(0).tolist()
    # widening by w and heightening by h turn a skew s into (w / h) s (MNIST's digits lean:
    # their mean skew is not 0), then the lean is taken off it
    aspect = math.exp(log_width - log_height)
    lean = float((aspect * theirs[:, 0] - mine[:, 0]).mean())
    return HandStyle(
        lean=min(max(lean, -MOST_LEAN), MOST_LEAN),
        width=min(max(math.exp(log_width), SCALES[0]), SCALES[1]),
        height=min(max(math.exp(log_height), SCALES[0]), SCALES[1]),
    )


def in_style(pixels: torch.Tensor, style: HandStyle) -> torch.Tensor:
    """(n, 1, h, w) float pixels in 0..1 (ink bright) redrawn in `style`: scaled about the
    centre by its width and height, then leant. An affine map on the batch (augment.warp)."""
    n = len(pixels)
    # output -> input in affine_grid's [-1, 1] frame (x right, y down): the inverse of
    # x' = width x - lean height y, y' = height y
    inverse = torch.tensor(
        [[1 / style.width, style.lean / style.width, 0.0], [0.0, 1 / style.height, 0.0]],
        dtype=torch.float32,
        device=pixels.device,
    )
    return warp(pixels, inverse.expand(n, 2, 3))


__all__ = ["HandStyle", "in_style", "measure_style", "shape_moments"]
