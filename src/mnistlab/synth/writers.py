"""Simulated writers: one fixed handwriting style applied to many MNIST digits.

A writer slants, widens or narrows, thickens or thins and stretches every digit the same way,
and has habits of their own (a crossed 7, a 1 with a flag or a base, a slashed 0, an open 4).
Each digit they write is an MNIST digit (someone else's shape) warped by that style plus a little
jitter, drawn as dark ink on paper and brought to MNIST's form by the real preprocessing, as a
scan of the person's digits would be. Used to measure personal fine-tuning
(benchmarks/personal.py); no training recipe uses writers, so the base models never saw them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from mnistlab.synth import render as r

HABITS = ("seven_bar", "one_flag", "one_base", "zero_slash", "four_open")
SCALE_HEIGHT = 80.0  # px of the digit's 20-px box while the style is applied (4x MNIST)
JITTER = 0.04  # how much one digit's slant and width wander around the writer's


@dataclass(frozen=True)
class Writer:
    """A handwriting style; `write` applies it to an MNIST digit."""

    slant: float = 0.0  # horizontal shear per unit of height (0.3: about 17 degrees right)
    width: float = 1.0  # horizontal scale
    pen: int = 0  # stroke radius change at 4x MNIST's scale: >0 thicker, <0 thinner
    top: float = 1.0  # proportions: < 1 a larger upper half, > 1 a larger lower half
    habits: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        unknown = [h for h in self.habits if h not in HABITS]
        if unknown:
            raise ValueError(f"unknown habits {unknown}; known: {', '.join(HABITS)}")

    @classmethod
    def random(cls, seed: int) -> Writer:
        """A writer drawn from `seed`: the same seed gives the same writer everywhere."""
        rng = np.random.default_rng([seed, 0x57A1])
        habits = tuple(h for h in HABITS if rng.random() < 0.5)
        return cls(
            slant=float(rng.choice([-1, 1]) * rng.uniform(0.15, 0.55)),
            width=float(np.exp(rng.uniform(np.log(0.6), np.log(1.35)))),
            pen=int(rng.integers(-1, 4)),
            top=float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))),
            habits=habits,
        )

    def write(self, digit: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
        """(28, 28) uint8 in MNIST's form: `digit` (an MNIST digit of class `label`) written in
        this style, with `rng` drawing the jitter of this one digit."""
        from mnistlab.inference.preprocess import preprocess_array

        alpha = r.pad(r.ink_alpha(digit, SCALE_HEIGHT), 24)  # (160, 160): room for the warp
        if self.pen > 0:
            alpha = r.thicken(alpha, self.pen)
        elif self.pen < 0:
            alpha = r.thin(alpha, -self.pen)
        alpha = _with_habits(alpha, label, self.habits, stroke=2 + max(self.pen, 0))
        slant = self.slant + rng.normal(0.0, JITTER)
        width = self.width * np.exp(rng.normal(0.0, JITTER))
        alpha = _warp(alpha, slant, width, self.top)
        return preprocess_array(1.0 - alpha).pixels  # dark ink on white, as a scan

    def to_dict(self) -> dict:
        return {**asdict(self), "habits": list(self.habits)}


def write_digits(
    writer: Writer, images: np.ndarray, labels: np.ndarray, seed: int = 0
) -> np.ndarray:
    """(N, 28, 28) uint8: each MNIST digit of `images` (N, 28, 28) written by `writer`."""
    out = np.zeros((len(images), 28, 28), np.uint8)
    for i, (digit, label) in enumerate(zip(images, labels, strict=True)):
        out[i] = writer.write(digit, int(label), np.random.default_rng([seed, i]))
    return out


def _warp(alpha: np.ndarray, slant: float, width: float, top: float) -> np.ndarray:
    """Shear, horizontal scale and a vertical power law about the ink's box (inverse map)."""
    t, b, left, right = r.ink_bbox(alpha)
    height = max(b - t, 1)
    cy, cx = (t + b) / 2, (left + right) / 2
    ys, xs = np.mgrid[0 : alpha.shape[0], 0 : alpha.shape[1]].astype(np.float32)
    # output row y came from the source row whose relative height, raised to `top`, is y's
    rel = np.clip((ys - t) / height, 0.0, 1.0)
    src_y = np.where((ys >= t) & (ys <= b), t + height * rel ** (1.0 / top), ys)
    src_x = (xs - cx) / width + cx + slant * (src_y - cy)  # slant > 0 leans right
    return np.clip(ndimage.map_coordinates(alpha, [src_y, src_x], order=1), 0.0, 1.0)


def _line(alpha: np.ndarray, p0, p1, radius: int) -> None:
    """Draw a stroke from p0 to p1 ((row, col)) into `alpha` in place."""
    n = int(max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))) + 1
    rows = np.linspace(p0[0], p1[0], n).round().astype(int)
    cols = np.linspace(p0[1], p1[1], n).round().astype(int)
    mask = np.zeros(alpha.shape, bool)
    keep = (rows >= 0) & (rows < alpha.shape[0]) & (cols >= 0) & (cols < alpha.shape[1])
    mask[rows[keep], cols[keep]] = True
    mask = ndimage.binary_dilation(mask, structure=r.disc(radius))
    alpha[mask] = 1.0


def _with_habits(alpha: np.ndarray, label: int, habits: tuple[str, ...], stroke: int):
    """The writer's habits for this class, drawn on the upright digit before the warp."""
    t, b, left, right = r.ink_bbox(alpha)
    h, w = b - t, right - left
    out = alpha.copy()
    if label == 7 and "seven_bar" in habits:
        row = t + 0.55 * h
        cols = np.nonzero(alpha[int(row)] > 0.3)[0]
        mid = float(cols.mean()) if cols.size else (left + right) / 2
        _line(out, (row, mid - 0.28 * w), (row, mid + 0.28 * w), stroke)
    if label == 1 and "one_flag" in habits:
        cols = np.nonzero(alpha[t + 1] > 0.3)[0]
        tip = (t + 1, float(cols.mean()) if cols.size else (left + right) / 2)
        _line(out, tip, (tip[0] + 0.3 * h, tip[1] - 0.3 * h), stroke)
    if label == 1 and "one_base" in habits:
        cols = np.nonzero(alpha[b - 2] > 0.3)[0]
        mid = float(cols.mean()) if cols.size else (left + right) / 2
        _line(out, (b - 2, mid - 0.25 * h), (b - 2, mid + 0.25 * h), stroke)
    if label == 0 and "zero_slash" in habits:
        _line(out, (t + 0.1 * h, right - 0.15 * w), (b - 0.1 * h, left + 0.15 * w), stroke)
    if label == 4 and "four_open" in habits:
        # the left stroke stops below the top: the two upper strokes never meet
        out[t : int(t + 0.3 * h), left : int(left + 0.55 * w)] = 0.0
    return out
