"""Digits written with a lifted pen: a 4, 5 or 7 drawn in two strokes that do not meet.

Many people write a 4 as an "L" and a separate down-stroke, a 5 with its flag apart from the
body, a 7 with its bar apart from the stem. MNIST's writers mostly joined them. A gap is made
by erasing a short band of ink (2 px of the 28x28 field) where erasing the least ink parts
the digit into two strokes of real size: where the pen would have been lifted.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

LIFTED_DIGITS = (4, 5, 7)
GAP = 2  # px of the 28x28 field erased between the two strokes (~0.1 of the digit's height)
SMALLEST = 0.12  # each stroke keeps at least this share of the ink: a real stroke, not a speck
LEVEL = 40  # uint8 ink above this is a stroke, for telling strokes apart


def lift(digit: np.ndarray) -> np.ndarray | None:
    """The digit (28x28 uint8) with a gap between two of its strokes, or None when no band of
    GAP rows or columns parts it into two strokes of at least SMALLEST of the ink each."""
    ink = np.asarray(digit)
    total = float(ink.sum())
    best: tuple[float, np.ndarray] | None = None
    for band in _bands(ink.shape):
        erased = float(ink[band].sum())
        if erased == 0 or (best is not None and erased >= best[0]):
            continue
        cut = ink.copy()
        cut[band] = 0
        if _two_strokes(cut, total):
            best = (erased, cut)
    return None if best is None else best[1]


def _bands(shape: tuple[int, int]):
    """Short bands GAP wide, vertical and horizontal, a third of the field long."""
    rows, cols = shape
    length = rows // 3
    for start in range(0, rows - length + 1, 2):
        for col in range(2, cols - 2 - GAP):
            yield (slice(start, start + length), slice(col, col + GAP))
    for start in range(0, cols - length + 1, 2):
        for row in range(2, rows - 2 - GAP):
            yield (slice(row, row + GAP), slice(start, start + length))


def _two_strokes(cut: np.ndarray, total: float) -> bool:
    labels, count = ndimage.label(cut > LEVEL, structure=np.ones((3, 3), bool))
    if count != 2:
        return False
    masses = ndimage.sum(cut, labels, [1, 2])
    return bool(min(masses) >= SMALLEST * total)
