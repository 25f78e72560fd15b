"""Digits as image files bring them: low resolution enlarged by a viewer, area-averaged,
binarised, heavily compressed, dithered or screened for print, drawn in a paint program.

Each kind draws an MNIST digit (28x28 uint8, white on black) from the rng alone, as dark ink on
a light ground. The low-resolution kinds come in a tight variant too (cut to the ink: strokes
touch the edges), the way a digit cropped from a form or a screenshot arrives (issue 22: such
digits, enlarged to ~100 px with visible pixel blocks, were refused for their texture).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageOps

from mnistlab.synth import render as r

Kind = Callable[[np.ndarray, np.random.Generator], Image.Image]

LOW_HEIGHT = (6.0, 16.0)  # the digit's box in the small source, px
SHOWN_HEIGHT = (60.0, 120.0)  # ...and as the viewer shows it, enlarged
TIGHT_LEVEL = 0.3  # coverage that counts as ink when cutting to it
BINARY_HEIGHTS = (10, 14, 20, 28, 40, 64, 96)  # scans at a few resolutions


def _source(digit: np.ndarray, rng, height: float, tight: bool) -> Image.Image:
    """The digit `height` px tall as a small image of its own: ink on paper with a margin, or
    cut to the ink (`tight`)."""
    alpha = r.ink_alpha(digit, height)  # area-averaged from MNIST's 28 px
    alpha = r.crop_to_ink(alpha, TIGHT_LEVEL if tight else 0.05)
    return r.to_image(r.on_paper(alpha, rng, 0.0 if tight else 0.3))


def _shown(image: Image.Image, height: float, rng, resampler: str) -> Image.Image:
    """`image`, whose digit is `height` px tall, enlarged so that the digit is 60-120 px."""
    factor = float(rng.uniform(*SHOWN_HEIGHT)) / height
    return r.resize(image, factor, resampler)


def _any_resampler(rng) -> str:
    return str(rng.choice(list(r.RESAMPLERS)))


def low_res(resampler: str, tight: bool = False) -> Kind:
    """A digit 6-16 px tall, enlarged 4-20x by `resampler` (nearest: visible pixel blocks)."""

    def kind(digit, rng) -> Image.Image:
        height = float(rng.uniform(*LOW_HEIGHT))
        return _shown(_source(digit, rng, height, tight), height, rng, resampler)

    kind.__doc__ = f"a digit 6-16 px tall{', cut to the ink' if tight else ''}, {resampler}"
    return kind


def box_average(tight: bool = False) -> Kind:
    """A large rendering (the whole image) reduced by area averaging so that the digit is 8-16 px
    tall, then enlarged by any of the viewers' resamplers (a thumbnail opened again)."""

    def kind(digit, rng) -> Image.Image:
        large = float(rng.uniform(150, 250))
        alpha = r.crop_to_ink(r.ink_alpha(digit, large), TIGHT_LEVEL if tight else 0.1)
        image = r.to_image(r.on_paper(alpha, rng, 0.0 if tight else 0.3))
        small = float(rng.uniform(8, 16))
        reduced = image.resize(
            (
                max(1, round(image.width * small / large)),
                max(1, round(image.height * small / large)),
            ),
            Image.BOX,
        )
        return _shown(reduced, small, rng, _any_resampler(rng))

    return kind


def binarised(tight: bool = False) -> Kind:
    """A black-and-white scan: pure black ink on pure white, aliased edges, the digit 10-96 px
    tall, enlarged by nearest neighbour (keeping it two-level) when under 60 px."""

    def kind(digit, rng) -> Image.Image:
        height = float(rng.choice(BINARY_HEIGHTS))
        ink = r.ink_alpha(digit, height) > rng.uniform(0.35, 0.6)  # the scanner's threshold
        ink = r.crop_to_ink(ink.astype(np.float32)) > 0.5  # cut to the two-level ink
        if not tight:
            ink = r.pad(ink, round(0.3 * ink.shape[0]))
        image = Image.fromarray(np.where(ink, 0, 255).astype(np.uint8)).convert("RGB")
        if height < SHOWN_HEIGHT[0]:
            image = _shown(image, height, rng, "nearest")
        return image

    return kind


def jpeg_small(tight: bool = False) -> Kind:
    """A 16-40 px image saved as JPEG at quality 5-25 (blocks, ringing), then enlarged."""

    def kind(digit, rng) -> Image.Image:
        side = float(rng.uniform(16, 40))  # the whole image's height
        height = side if tight else side / 1.6  # the digit's, inside a margin of 0.3 a side
        small = r.jpeg(_source(digit, rng, height, tight), int(rng.integers(5, 26)))
        return _shown(small, height, rng, _any_resampler(rng))

    return kind


def _print_scan(digit, rng) -> tuple[Image.Image, float]:
    """The digit 24-64 px tall on paper, grey (L), ready for a print process; half of them
    levelled first (a scanner's auto levels: the paper white, no dots on it)."""
    height = float(rng.uniform(24, 64))
    alpha = r.crop_to_ink(r.ink_alpha(digit, height))
    grey = r.to_image(r.on_paper(alpha, rng)).convert("L")
    return (ImageOps.autocontrast(grey, cutoff=1) if rng.random() < 0.5 else grey), height


def _enlarge_print(image: Image.Image, height: float, rng) -> Image.Image:
    """A print scanned back or viewed: enlarged with nearest neighbour if the digit is small."""
    image = image.convert("RGB")
    return _shown(image, height, rng, "nearest") if height < SHOWN_HEIGHT[0] else image


def dither_fs(digit, rng) -> Image.Image:
    """Floyd-Steinberg error diffusion to black and white (PIL's convert('1')), as a fax or a
    thermal printer prints grey: the paper's tone becomes scattered dots."""
    grey, height = _print_scan(digit, rng)
    return _enlarge_print(grey.convert("1"), height, rng)


BAYER_4 = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]])
BAYER_8 = np.block([[4 * BAYER_4, 4 * BAYER_4 + 2], [4 * BAYER_4 + 3, 4 * BAYER_4 + 1]])


def dither_ordered(digit, rng) -> Image.Image:
    """Ordered dither with a 4x4 or 8x8 Bayer matrix: a regular cross-hatch of dots."""
    grey, height = _print_scan(digit, rng)
    matrix = BAYER_8 if rng.random() < 0.5 else BAYER_4
    matrix = (matrix + 0.5) / matrix.size  # thresholds in (0, 1)
    darkness = 1.0 - np.asarray(grey, np.float32) / 255.0
    reps = (darkness.shape[0] // len(matrix) + 1, darkness.shape[1] // len(matrix) + 1)
    screen = np.tile(matrix, reps)[: darkness.shape[0], : darkness.shape[1]]
    two_level = np.where(darkness > screen, 0, 255).astype(np.uint8)
    return _enlarge_print(Image.fromarray(two_level), height, rng)


def halftone(digit, rng) -> Image.Image:
    """A clustered-dot halftone screen (newspaper print, photocopies): dots of 3-6 px period at
    0, 15, 45 or 75 degrees, growing with the darkness; the digit 60-120 px tall."""
    height = float(rng.uniform(*SHOWN_HEIGHT))
    alpha = r.crop_to_ink(r.ink_alpha(digit, height))
    darkness = 1.0 - r.on_paper(alpha, rng).mean(axis=2) / 255.0
    period = float(rng.uniform(3, 6))
    angle = np.deg2rad(float(rng.choice([0, 15, 45, 75])))
    y, x = np.mgrid[0 : darkness.shape[0], 0 : darkness.shape[1]].astype(np.float32)
    u = (x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period
    v = (-x * np.sin(angle) + y * np.cos(angle)) * 2 * np.pi / period
    screen = (np.cos(u) + np.cos(v) + 2.0) / 4.0  # 0..1, lowest at the dots' centres
    two_level = np.where(darkness > screen, 0, 255).astype(np.uint8)
    return Image.fromarray(two_level).convert("RGB")


PAINT_INKS = ((0, 0, 0), (0, 0, 0), (20, 40, 200), (200, 20, 30), (40, 40, 40))


def paint_screenshot(digit, rng) -> Image.Image:
    """A digit drawn with a paint program's brush and screenshotted: hard-edged strokes with a
    1-2 px anti-aliased rim, on a pure white canvas of 200-400 px, no paper, no noise."""
    side = int(rng.integers(200, 401))
    height = side * float(rng.uniform(0.45, 0.8))
    alpha = r.crop_to_ink(r.ink_alpha(digit, height))
    radius = round(height * float(rng.uniform(0.0, 0.04)))  # a broader brush, sometimes
    alpha = r.thicken(alpha, radius) if radius else alpha
    alpha = np.clip((alpha - 0.5) * 3.0 + 0.5, 0.0, 1.0)  # a brush's edge, not a soft pen's
    canvas = np.zeros((side, side), np.float32)
    top = int(rng.integers(0, max(1, side - alpha.shape[0])))
    left = int(rng.integers(0, max(1, side - alpha.shape[1])))
    alpha = alpha[: side - top, : side - left]
    canvas[top : top + alpha.shape[0], left : left + alpha.shape[1]] = alpha
    ink = PAINT_INKS[int(rng.integers(len(PAINT_INKS)))]
    return r.to_image(r.compose(canvas, np.full((side, side, 3), 255.0, np.float32), ink))


DIGITAL_KINDS: dict[str, Kind] = {
    "lowres-nearest": low_res("nearest"),
    "lowres-bilinear": low_res("bilinear"),
    "lowres-bicubic": low_res("bicubic"),
    "lowres-lanczos": low_res("lanczos"),
    "box-average": box_average(),
    "binarised": binarised(),
    "jpeg-small": jpeg_small(),
    "lowres-nearest-tight": low_res("nearest", tight=True),
    "lowres-bilinear-tight": low_res("bilinear", tight=True),
    "lowres-bicubic-tight": low_res("bicubic", tight=True),
    "lowres-lanczos-tight": low_res("lanczos", tight=True),
    "box-average-tight": box_average(tight=True),
    "binarised-tight": binarised(tight=True),
    "jpeg-small-tight": jpeg_small(tight=True),
    "dither-fs": dither_fs,
    "dither-ordered": dither_ordered,
    "halftone": halftone,
    "paint-screenshot": paint_screenshot,
}
