"""Ink of one digit into MNIST's 28x28 field, as MNIST's digits were made (LeCun's procedure):
the digit's bounding box scaled so that its longer side is 20 px, keeping the aspect ratio, with
anti-aliasing, then placed in the field with its centre of mass at the centre. Also the field
given as 784 numbers, and NoDigitError, for an image with no ink to read.

inference.preprocess finds the ink in real images; this module only shapes it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from mnistlab.errors import MnistlabError
from mnistlab.inference.images import ImageError

SIZE = 28  # the MNIST field
BOX = 20  # the digit's longer side inside it
INK_LEVEL = 0.25  # ink values above this form a number's pieces (reading) and signs' dots
# Below this contrast (0..1) between ink and background an image counts as blank.
MIN_CONTRAST = 0.1
# MNIST's stroke width by stroke_width(): 10th-90th percentile 1.42-2.68 px over 5,000 training
# digits (median 1.94). Wider or narrower strokes are eroded or dilated back into this range,
# to the given targets, at FINE times the field's resolution.
STROKE_RANGE = (1.1, 3.2)
STROKE_TARGET_THICK = 2.8
STROKE_TARGET_THIN = 1.3
FINE = 4


class NoDigitError(MnistlabError):
    """The image is blank: there is no ink to recognise."""

    def __init__(self, message: str = "no digit found: the image is blank"):
        super().__init__(message)


def ink_box(values: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the nonzero values; right and bottom exclusive."""
    rows = np.flatnonzero(values.any(axis=1))
    cols = np.flatnonzero(values.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def field_from_ink(crop: np.ndarray) -> np.ndarray:
    """Ink cropped to one digit -> the (28, 28) uint8 field, as MNIST's digits were made."""
    if not (crop > 0).any():
        raise NoDigitError()
    left, top, right, bottom = ink_box(crop > 0)
    crop = crop[top:bottom, left:right]
    return _center_of_mass_field(_fit_box(crop))


def pixels_from_values(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """784 numbers already in MNIST's form (white on black; 0..255, or 0..1 when none exceeds 1)
    -> (28, 28) uint8. These are used as they are: no cropping or centring. A list (as JSON
    gives it) holds numbers only: NumPy would also take true and "12" for numbers."""
    if isinstance(values, (list, tuple)) and not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool)
        for v in np.asarray(values, dtype=object).reshape(-1)
    ):
        raise ImageError("pixels must be 784 numbers (not strings, booleans or null)")
    try:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise ImageError("pixels must be a flat list of 784 numbers") from None
    if array.size != SIZE * SIZE:
        raise ImageError(f"expected {SIZE * SIZE} pixel values (28x28), got {array.size}")
    low, high = float(array.min()), float(array.max())  # NaN or inf shows up in one of them
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
        raise ImageError("pixel values must be finite numbers between 0 and 255")
    if high <= 1.0:
        array, high = array * 255.0, high * 255.0
    if high < 255.0 * MIN_CONTRAST:
        raise NoDigitError()
    return np.rint(array).astype(np.uint8).reshape(SIZE, SIZE)


def _fit_box(digit: np.ndarray) -> np.ndarray:
    """Scale so the longer side is BOX px, keeping the aspect ratio, anti-aliased; a stroke far
    wider or narrower than MNIST's is brought back inside MNIST's range (STROKE_RANGE), and
    ink reaches its full strength, as MNIST's strokes do."""
    box = _full_strength(_resize_longer(digit, BOX))
    measured = stroke_width(box)  # of full-strength ink: grey hairlines passed for thick ones
    low, high = STROKE_RANGE
    if low <= measured <= high or measured == 0:
        return box
    from scipy import ndimage

    # erode or dilate at FINE times the resolution, so the change can be a fraction of a pixel
    target = STROKE_TARGET_THICK if measured > high else STROKE_TARGET_THIN
    radius = int(round(abs(measured - target) * FINE / 2))
    if not radius:
        return box
    fine = _resize_longer(digit, BOX * FINE)
    change = ndimage.grey_erosion if measured > high else ndimage.grey_dilation
    changed = change(fine, footprint=disc(radius))
    # erosion also dims a soft stroke's centre: give the ink back its full strength
    peak = _peak(changed)
    if peak <= 0:
        return box  # eroded away: the ink as it is, rather than none
    return _downsample(np.clip(changed / peak, 0.0, 1.0))


def _full_strength(box: np.ndarray) -> np.ndarray:
    """The box with its brightest ink (99.5th percentile) at 1. A ball-point's stroke, a
    thirtieth of the digit's height, is under one pixel wide in the box and averages to grey.
    Measured on the ink over 0.5 (stroke_width), a grey hairline passed for MNIST's thinnest
    stroke, and stayed grey (a fine pencil's connected 4 counted "3 separate marks"), or for a
    marker's, and was eroded to nothing (a whole number "blank"). MNIST's own reach 1."""
    peak = _peak(box)
    return np.clip(box / peak, 0.0, 1.0) if 0.0 < peak < 1.0 else box


def _peak(ink: np.ndarray) -> float:
    """The brightest ink, robust to a lone pixel: the 99.5th percentile of `ink` (0..1). Most
    boxes have enough ink at 1 for it to be 1, which a count says: np.percentile on each of
    the reader's thousands of candidate parts cost it 1.2x (benchmarks.reading_cost)."""
    if np.count_nonzero(ink >= 1.0) >= ink.size - int(0.995 * (ink.size - 1)):
        return 1.0
    return float(np.percentile(ink, 99.5))


def _resize_longer(digit: np.ndarray, longer: int) -> np.ndarray:
    from PIL import Image

    height, width = digit.shape
    factor = longer / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = Image.fromarray(digit.astype(np.float32)).resize(size, Image.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _downsample(fine: np.ndarray) -> np.ndarray:
    from PIL import Image

    height, width = fine.shape
    size = (max(1, round(width / FINE)), max(1, round(height / FINE)))
    small = Image.fromarray(fine).resize(size, Image.BOX)
    return np.clip(np.asarray(small, dtype=np.float32), 0.0, 1.0)


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the ink's area over its outline's length (a long
    stroke of width w and length L has area wL and outline 2L). The outline is counted on the
    ink thresholded at 0.5, along rows and columns. 0 for no ink."""
    mask = np.pad(ink > 0.5, 1)
    outline = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(
        mask[:, 1:] != mask[:, :-1]
    )
    return 2.0 * float(ink.sum()) / outline if outline else 0.0


def disc(radius: int) -> np.ndarray:
    """A round footprint of `radius` px for grey erosion and dilation."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius + radius


def _center_of_mass_field(box: np.ndarray) -> np.ndarray:
    """Place the box in a 28x28 field with its centre of mass at (14, 14), as MNIST's are."""
    height, width = box.shape
    total = float(box.sum())
    if total <= 0:
        raise NoDigitError()
    cy = float((box.sum(axis=1) * np.arange(height)).sum()) / total
    cx = float((box.sum(axis=0) * np.arange(width)).sum()) / total
    top, left = int(round(SIZE / 2 - cy)), int(round(SIZE / 2 - cx))
    field = np.zeros((SIZE, SIZE), dtype=np.float32)
    # Clip the paste to the field: a lopsided digit may stick out by a pixel or two.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, SIZE), min(left + width, SIZE)
    field[y0:y1, x0:x1] = box[y0 - top : y1 - top, x0 - left : x1 - left]
    return np.rint(field * 255.0).astype(np.uint8)
