"""One digit per image, in the conditions people bring. Each kind draws an MNIST digit
(28x28 uint8, white on black) as dark ink on paper unless its name says otherwise.

DIGIT_KINDS is the registry of every kind; mnistlab.synth.families groups them into families
(the unit a fit leaves out). Kinds are only ever appended: a kind's place in the registry seeds
its renders, so earlier kinds keep their images.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from mnistlab.synth import render as r
from mnistlab.synth.digital import DIGITAL_KINDS

Kind = Callable[[np.ndarray, np.random.Generator], Image.Image]


def _height(rng: np.random.Generator) -> float:
    return float(rng.uniform(56, 112))  # the digit's box on a phone photo or a scan


_on_paper = r.on_paper


def _clean(digit, rng) -> Image.Image:
    return r.to_image(_on_paper(r.crop_to_ink(r.ink_alpha(digit, _height(rng))), rng))


def _tight(digit, rng) -> Image.Image:
    """Cut out to the ink: strokes touch all four edges (a digit cropped from a form)."""
    return r.to_image(_on_paper(r.crop_to_ink(r.ink_alpha(digit, _height(rng)), 0.3), rng, 0.0))


def _tight_pad(digit, rng) -> Image.Image:
    """A cut-out with a sliver of paper: 2-5% margins."""
    alpha = r.crop_to_ink(r.ink_alpha(digit, _height(rng)), 0.3)
    return r.to_image(_on_paper(alpha, rng, float(rng.uniform(0.02, 0.05))))


def _small(height: float) -> Kind:
    """A digit only `height` px tall (a low-resolution scan), upscaled 4-8x by the viewer."""

    def family(digit, rng) -> Image.Image:
        alpha = r.crop_to_ink(r.ink_alpha(digit, height), 0.05)
        image = r.to_image(_on_paper(alpha, rng))
        return r.upscale(image, float(rng.uniform(4, 8)))

    family.__doc__ = f"a digit {height:g} px tall, upscaled"
    return family


def _large(digit, rng) -> Image.Image:
    return r.to_image(_on_paper(r.crop_to_ink(r.ink_alpha(digit, 300)), rng))


def _thick(digit, rng) -> Image.Image:
    """A marker: strokes 1.6-2.2x MNIST's width."""
    height = _height(rng)
    alpha = r.thicken(r.ink_alpha(digit, height), max(1, round(height * rng.uniform(0.05, 0.08))))
    return r.to_image(_on_paper(r.crop_to_ink(alpha), rng))


def _soft_thick(digit, rng) -> Image.Image:
    """A felt pen photographed out of focus: thick and soft. (Much more of either and the
    loops of 8s and 6s fill in the image itself: no reader can tell those apart.)"""
    height = _height(rng)
    alpha = r.thicken(r.ink_alpha(digit, height), max(1, round(height * 0.04)))
    return r.blur(r.to_image(_on_paper(r.crop_to_ink(alpha), rng)), height * 0.03)


def _thin(digit, rng) -> Image.Image:
    """A fine pen: strokes about half MNIST's width."""
    height = _height(rng)
    alpha = r.thin(r.ink_alpha(digit, height), max(1, round(height * 0.03)))
    alpha = np.clip(alpha * 1.6, 0.0, 1.0)  # a fine pen is still solid ink
    return r.to_image(_on_paper(r.crop_to_ink(alpha), rng))


def _rotated(digit, rng) -> Image.Image:
    angle = float(rng.uniform(12, 22) * rng.choice([-1, 1]))
    alpha = r.rotate(r.ink_alpha(digit, _height(rng)), angle)
    return r.to_image(_on_paper(r.crop_to_ink(alpha), rng))


def _lined(digit, rng) -> Image.Image:
    """Written on ruled paper: lines cross the digit."""
    height = _height(rng)
    alpha = r.pad(r.crop_to_ink(r.ink_alpha(digit, height)), round(0.4 * height))
    sheet = r.ruled_lines(r.paper(*alpha.shape, rng), height * rng.uniform(0.45, 0.7), rng)
    return r.to_image(r.compose(alpha, sheet, r.dark_ink(rng)))


def _grid(digit, rng) -> Image.Image:
    """Written on squared paper."""
    height = _height(rng)
    alpha = r.pad(r.crop_to_ink(r.ink_alpha(digit, height)), round(0.4 * height))
    spacing = height * rng.uniform(0.25, 0.4)
    sheet = r.ruled_lines(r.paper(*alpha.shape, rng), spacing, rng)
    sheet = r.ruled_lines(sheet, spacing, rng, vertical=True)
    return r.to_image(r.compose(alpha, sheet, r.dark_ink(rng)))


def _noise(digit, rng) -> Image.Image:
    return r.add_noise(_clean(digit, rng), float(rng.uniform(15, 30)), rng)


def _blur(digit, rng) -> Image.Image:
    height = _height(rng)
    image = r.to_image(_on_paper(r.crop_to_ink(r.ink_alpha(digit, height)), rng))
    return r.blur(image, height * rng.uniform(0.025, 0.045))


def _jpeg(digit, rng) -> Image.Image:
    return r.jpeg(_clean(digit, rng), int(rng.integers(10, 30)))


def _shadow(digit, rng) -> Image.Image:
    canvas = _on_paper(r.crop_to_ink(r.ink_alpha(digit, _height(rng))), rng)
    return r.to_image(r.shadow(canvas, rng))


def _pen(colour: tuple[float, float, float]) -> Kind:
    def family(digit, rng) -> Image.Image:
        jitter = rng.uniform(-15, 15, size=3)
        alpha = r.crop_to_ink(r.ink_alpha(digit, _height(rng)))
        return r.to_image(_on_paper(alpha, rng, ink=np.clip(np.add(colour, jitter), 0, 255)))

    family.__doc__ = f"ink of colour {colour}"
    return family


def _pencil(digit, rng) -> Image.Image:
    """Light pencil: grey ink, a third of the contrast of a pen."""
    alpha = r.crop_to_ink(r.ink_alpha(digit, _height(rng)))
    return r.to_image(_on_paper(alpha, rng, ink=np.full(3, rng.uniform(140, 170))))


def _chalk(digit, rng) -> Image.Image:
    """Light ink on a dark board."""
    alpha = r.pad(r.crop_to_ink(r.ink_alpha(digit, _height(rng))), 30)
    board = r.paper(*alpha.shape, rng, tone=rng.uniform([20, 40, 30], [60, 80, 60]))
    return r.to_image(r.compose(alpha, board, np.full(3, rng.uniform(200, 245))))


def _in_photo(digit, rng) -> Image.Image:
    """A whole photo of the page, not cropped to the digit: the digit 40-70 px tall somewhere
    in a frame of 1000-1600 px, with a little noise (what a phone camera sends)."""
    height = float(rng.uniform(40, 70))
    alpha = r.crop_to_ink(r.ink_alpha(digit, height))
    side = int(rng.uniform(1000, 1600))
    frame = (int(side * 0.75), side)
    top = int(rng.integers(0, frame[0] - alpha.shape[0]))
    left = int(rng.integers(0, frame[1] - alpha.shape[1]))
    placed = np.zeros(frame, np.float32)
    placed[top : top + alpha.shape[0], left : left + alpha.shape[1]] = alpha
    sheet = r.paper(*frame, rng)
    return r.add_noise(r.to_image(r.compose(placed, sheet, r.dark_ink(rng))), 6.0, rng)


def _fills_box(digit, rng) -> Image.Image:
    """A broad marker in a small box: strokes 2-3x MNIST's width, hard-edged, the digit cut out
    with a sliver of margin; loops narrowed, mostly open (still legible; broader closes them)."""
    height = _height(rng)
    alpha = r.ink_alpha(digit, height)
    alpha = r.thicken(alpha, max(1, round(height * float(rng.uniform(0.045, 0.065)))))
    alpha = r.crop_to_ink(np.clip((alpha - 0.4) * 3.0, 0.0, 1.0), 0.3)  # a marker's hard edge
    return r.to_image(_on_paper(alpha, rng, float(rng.uniform(0.0, 0.05))))


DIGIT_KINDS: dict[str, Kind] = {
    "clean": _clean,
    "tight-crop": _tight,
    "tight-crop-sliver": _tight_pad,
    "small-8px": _small(8),
    "small-12px": _small(12),
    "small-16px": _small(16),
    "large-300px": _large,
    "thick-pen": _thick,
    "thick-soft": _soft_thick,
    "thin-pen": _thin,
    "rotated": _rotated,
    "lined-paper": _lined,
    "squared-paper": _grid,
    "noise": _noise,
    "blur": _blur,
    "jpeg": _jpeg,
    "shadow": _shadow,
    "blue-pen": _pen((30, 60, 170)),
    "red-pen": _pen((190, 30, 40)),
    "pencil": _pencil,
    "chalkboard": _chalk,
    "small-in-photo": _in_photo,
    # appended 2026-12-06 (issue 22): digits as files bring them, and strokes filling the box
    **DIGITAL_KINDS,
    "fills-box": _fills_box,
}

# The first 22 kinds, the suite the shipped digit detector (scripts/train_detector.py) and the
# shipped calibration were fit on. Kept under its old name for those callers: new code uses
# DIGIT_KINDS, and mnistlab.synth.families to leave families out of a fit.
FIRST_KINDS: tuple[str, ...] = tuple(DIGIT_KINDS)[: list(DIGIT_KINDS).index("small-in-photo") + 1]
FAMILIES: dict[str, Kind] = {k: DIGIT_KINDS[k] for k in FIRST_KINDS}


def render_digit(kind: str, digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One MNIST digit drawn in the conditions of `kind` (a key of DIGIT_KINDS)."""
    return DIGIT_KINDS[kind](np.asarray(digit, dtype=np.uint8), rng)
