"""A written number on one line, from MNIST digits, with the true string."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mnistlab.synth import render as r

NUMBER_KINDS = ("gaps", "touching", "jitter")
CONTACT = 0.3  # coverage both digits must reach on one pixel for them to touch


def render_number(
    kind: str, digits: list[np.ndarray], rng: np.random.Generator
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """Digits (28x28 uint8 each) written left to right; returns the image and each digit's
    (left, top, right, bottom) box in it.

    - "gaps": clear space between digits (15-50% of their height);
    - "touching": as "gaps", but one neighbouring pair is pushed together until the ink touches;
    - "jitter": small gaps, each digit with its own size (+-15%), tilt (+-8 deg) and baseline.
    """
    if kind not in NUMBER_KINDS:
        raise ValueError(f"unknown number kind {kind!r}; expected one of {NUMBER_KINDS}")
    ink, placed = lay_out(digits, rng, jitter=kind == "jitter", touch=kind == "touching")
    boxes = [(left, top, left + a.shape[1], top + a.shape[0]) for a, top, left in placed]
    ink = ink[:, : max(b[2] for b in boxes) + boxes[0][0]]  # the left margin on the right too
    sheet = r.paper(*ink.shape, rng)
    return r.to_image(r.compose(ink, sheet, r.dark_ink(rng))), boxes


def lay_out(
    digits: list[np.ndarray], rng: np.random.Generator, jitter: bool, touch: bool
) -> tuple[np.ndarray, list[tuple[np.ndarray, int, int]]]:
    """Digits (28x28 uint8 each) placed left to right on one line: the ink of all of them
    together, and each digit's (ink, top, left). With `jitter`, each digit gets its own size,
    tilt and baseline and the gaps are small; with `touch`, one neighbouring pair is pushed
    together until the ink touches. (scripts/train_one_digit.py lays numbers out here too, to
    label the parts of each digit's own ink.)"""
    height = float(rng.uniform(48, 80))
    alphas = []
    for digit in digits:
        size = height * (rng.uniform(0.85, 1.15) if jitter else 1.0)
        alpha = r.ink_alpha(digit, size)
        if jitter:
            alpha = r.rotate(alpha, float(rng.uniform(-8, 8)))
        alphas.append(r.crop_to_ink(alpha))
    low, high = (0.08, 0.25) if jitter else (0.15, 0.5)
    gaps = [height * rng.uniform(low, high) for _ in digits[1:]]
    touching = int(rng.integers(0, len(gaps))) if touch and gaps else -1
    baseline = [height * rng.uniform(-0.12, 0.12) if jitter else 0.0 for _ in digits]

    margin = int(height * 0.5)
    tallest = max(a.shape[0] for a in alphas)
    canvas_h = int(tallest + 2 * margin + 0.3 * height)
    width = int(sum(a.shape[1] for a in alphas) + sum(gaps) + 2 * margin + 2)
    ink = np.zeros((canvas_h, width), np.float32)
    placed = []
    x = float(margin)
    for i, alpha in enumerate(alphas):
        h, w = alpha.shape
        # digits share a baseline (their bottoms line up), as handwriting does
        top = int(round(margin + 0.15 * height + tallest - h + baseline[i]))
        left = int(round(x))
        if i - 1 == touching:
            left = _touching_left(ink, alpha, top, left)
        region = ink[top : top + h, left : left + w]
        np.maximum(region, alpha[:, : region.shape[1]], out=region)
        placed.append((alpha, top, left))
        x = left + w + (gaps[i] if i < len(gaps) else 0)
    return ink, placed


def _touching_left(ink: np.ndarray, alpha: np.ndarray, top: int, left: int) -> int:
    """The leftmost-needed position: slide the digit left from `left` until its ink meets the
    ink already drawn, then one more pixel so the contact is solid."""
    h, w = alpha.shape
    strong = alpha > CONTACT
    for candidate in range(left, max(-1, left - 3 * w), -1):
        if candidate < 0:
            return 0
        region = ink[top : top + h, candidate : candidate + w] > CONTACT
        if (region & strong[:, : region.shape[1]]).any():
            return max(0, candidate - 1)
    return left
