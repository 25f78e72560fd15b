"""Training outliers for outlier exposure: non-digits made from training digits and from new
stroke code, passed through the real preprocessing, so they look like what a model sees at
inference.

Two paths: "field" (the first attempt) runs only `field_from_ink`, the field step, on the
outliers, while the training digits stay MNIST's own pixels, so "went through the
preprocessing" alone told a model it was no digit (it refused 92.6% of photographed digits).
"photo" draws every image, outlier or training digit (`photo_digits`), as dark ink on paper and
runs it through the whole `preprocess`, by one function (`photograph`), so that cue is gone.

None of this shares code or kinds with `mnistlab.synth.nondigits`, which renders the held-out
evaluation set: no letters or font glyphs at all (letters stay an outside check of outlier
exposure; the digit detector also learns mnistlab.synth.letters' handwritten ones), and the
scribbles and shapes here are drawn by other code with other parameters. Evaluation on
scribbles and shapes is still close to what these teach; evaluation on letters is not.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from mnistlab.inference.field import NoDigitError, field_from_ink
from mnistlab.inference.preprocess import preprocess
from mnistlab.synth import render as r

CANVAS = 56  # digits are pasted at 28 px into this; drawn strokes use CANVAS * 2


def _digit(digits: np.ndarray, rng: np.random.Generator, avoid_ones: bool = False) -> np.ndarray:
    """A random training digit as float ink in 0..1, (28, 28)."""
    while True:
        image = digits[int(rng.integers(len(digits)))].astype(np.float32) / 255.0
        # a "1" stays a "1" when halved or cut up: it would teach the model to doubt real ones
        if not avoid_ones or _box(image)[3] - _box(image)[2] > 8:
            return image


def _box(ink: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(ink > 0.2)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def _overlap(digits, rng) -> np.ndarray:
    """Two training digits on top of each other, the second shifted by 4-12 px."""
    canvas = np.zeros((CANVAS, CANVAS), np.float32)
    canvas[14:42, 14:42] = _digit(digits, rng)
    dy, dx = rng.integers(-12, 13, size=2)
    if abs(dy) + abs(dx) < 4:
        dx = 6
    canvas[14 + dy : 42 + dy, 14 + dx : 42 + dx] = np.maximum(
        canvas[14 + dy : 42 + dy, 14 + dx : 42 + dx], _digit(digits, rng)
    )
    return canvas


def _half(digits, rng) -> np.ndarray:
    """The top, bottom, left or right 35-55% of a training digit."""
    ink = _digit(digits, rng, avoid_ones=True)
    top, bottom, left, right = _box(ink)
    share = rng.uniform(0.35, 0.55)
    side = int(rng.integers(4))
    out = np.zeros_like(ink)
    if side == 0:
        cut = top + int(share * (bottom - top))
        out[:cut] = ink[:cut]
    elif side == 1:
        cut = bottom - int(share * (bottom - top))
        out[cut:] = ink[cut:]
    elif side == 2:
        cut = left + int(share * (right - left))
        out[:, :cut] = ink[:, :cut]
    else:
        cut = right - int(share * (right - left))
        out[:, cut:] = ink[:, cut:]
    return out


def _pieces(digits, rng) -> np.ndarray:
    """A training digit cut into four quadrants at its centre, put back in another order."""
    ink = _digit(digits, rng, avoid_ones=True)
    top, bottom, left, right = _box(ink)
    cy, cx = (top + bottom) // 2, (left + right) // 2
    crop = ink[top:bottom, left:right]
    cy, cx = cy - top, cx - left
    parts = [crop[:cy, :cx], crop[:cy, cx:], crop[cy:, :cx], crop[cy:, cx:]]
    order = rng.permutation(4)
    while (order == np.arange(4)).all():
        order = rng.permutation(4)
    canvas = np.zeros((CANVAS, CANVAS), np.float32)
    for slot, piece in zip(order, parts, strict=True):
        y, x = 2 + 26 * (slot // 2), 2 + 26 * (slot % 2)
        canvas[y : y + piece.shape[0], x : x + piece.shape[1]] = piece
    return canvas


def _blot(digits, rng) -> np.ndarray:
    """A training digit dilated into a blob, or eroded into fragments."""
    ink = np.pad(_digit(digits, rng), 6)
    if rng.random() < 0.6:
        radius = int(rng.integers(3, 6))
        y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        return ndimage.grey_dilation(ink, footprint=x * x + y * y <= radius * radius)
    eroded = ndimage.grey_erosion(ink, size=(2, 2))
    keep = ndimage.gaussian_filter(rng.random(ink.shape), 2.0) > 0.5
    return np.where(keep, eroded, 0.0).astype(np.float32)


def _noise(digits, rng) -> np.ndarray:
    """Smooth random noise cut at a level: one or a few irregular blobs."""
    field = ndimage.gaussian_filter(rng.standard_normal((CANVAS, CANVAS)), rng.uniform(3, 7))
    level = np.quantile(field, rng.uniform(0.8, 0.95))
    return np.clip((field - level) / (field.std() * 0.3 + 1e-6), 0.0, 1.0).astype(np.float32)


def _walk(rng, steps: int, size: int) -> list[tuple[float, float]]:
    """A smooth random walk: the heading turns by a little each step (curvature drifts)."""
    position = rng.uniform(0.3 * size, 0.7 * size, 2)
    heading, turn = rng.uniform(0, 2 * np.pi), 0.0
    points = []
    for _ in range(steps):
        turn = 0.8 * turn + rng.normal(0, 0.25)
        heading += turn
        position = np.clip(position + 6 * np.array([np.cos(heading), np.sin(heading)]), 4, size - 4)
        points.append((float(position[0]), float(position[1])))
    return points


def _strokes(digits, rng) -> np.ndarray:
    """2-5 smooth random-walk strokes (not nondigits' straight segments through points)."""
    size = 2 * CANVAS
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(2, 6))):
        points = _walk(rng, int(rng.integers(8, 30)), size)
        draw.line(points, fill=255, width=int(rng.integers(3, 8)))
    return np.asarray(mask, np.float32) / 255.0


def _figures(digits, rng) -> np.ndarray:
    """Several small geometric figures together: rectangles, arcs, triangles, dots, grids."""
    size = 2 * CANVAS
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    width = int(rng.integers(3, 8))
    for _ in range(int(rng.integers(2, 5))):
        x0, y0 = rng.uniform(5, size - 45, 2)
        w, h = rng.uniform(15, 40, 2)
        kind = int(rng.integers(5))
        box = (x0, y0, x0 + w, y0 + h)
        if kind == 0:
            draw.rectangle(box, outline=255, width=width)
        elif kind == 1:
            start = float(rng.uniform(0, 360))
            draw.arc(box, start, start + float(rng.uniform(90, 300)), fill=255, width=width)
        elif kind == 2:
            draw.polygon([(x0, y0 + h), (x0 + w, y0 + h), (x0 + w / 2, y0)], fill=255)
        elif kind == 3:
            draw.ellipse((x0, y0, x0 + w / 3, y0 + w / 3), fill=255)
        else:
            for i in range(3):
                draw.line((x0, y0 + i * h / 2, x0 + w, y0 + i * h / 2), fill=255, width=width)
                draw.line((x0 + i * w / 2, y0, x0 + i * w / 2, y0 + h), fill=255, width=width)
    return np.asarray(mask, np.float32) / 255.0


OUTLIER_KINDS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "overlap": _overlap,
    "half": _half,
    "pieces": _pieces,
    "blot": _blot,
    "noise": _noise,
    "strokes": _strokes,
    "figures": _figures,
}


PATHS = ("field", "photo")


def photograph(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage (any size, 0..1) -> the (28, 28) uint8 field a model gets from a photo of
    it: cropped to the ink, its longer side drawn 56-112 px as dark ink on off-white paper
    with a 40% margin (as mnistlab.synth's "clean" family draws a digit), then the whole
    `preprocess`. Outliers and training digits both come here, so nothing tells them apart
    but their shapes. Raises NoDigitError when the preprocessing finds none."""
    alpha = r.crop_to_ink(ink)
    scale = float(rng.uniform(56, 112)) / max(alpha.shape)
    size = (max(1, round(alpha.shape[1] * scale)), max(1, round(alpha.shape[0] * scale)))
    method = Image.BOX if scale < 1 else Image.BICUBIC
    alpha = np.clip(
        np.asarray(Image.fromarray(alpha.astype(np.float32)).resize(size, method)), 0, 1
    )
    alpha = r.pad(alpha, round(0.4 * alpha.shape[0]))
    sheet = r.paper(*alpha.shape, rng)
    return preprocess(r.to_image(r.compose(alpha, sheet, r.dark_ink(rng)))).pixels


def _field(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return field_from_ink(ink)


STEPS = {"field": _field, "photo": photograph}


def outlier_set(
    digits: np.ndarray,
    count: int,
    seed: int,
    path: str = "field",
    kinds: tuple[str, ...] | None = None,
) -> np.ndarray:
    """(count, 28, 28) uint8 non-digits, `kinds` (default all) in turn, from (N, 28, 28)
    uint8 training `digits` (pass the train split only: these are trained on), each through
    `path` ("field" or "photo", see the module's docstring)."""
    rng = np.random.default_rng([seed, 0x0E])
    makers = [OUTLIER_KINDS[k] for k in (kinds or OUTLIER_KINDS)]
    step = STEPS[path]
    out = np.zeros((count, 28, 28), np.uint8)
    for i in range(count):
        while True:
            try:
                out[i] = step(makers[i % len(makers)](digits, rng), rng)
                break
            except NoDigitError:  # an empty draw (noise cut too high): draw again
                continue
    return out


def photo_digit_set(
    digits: np.ndarray, labels: np.ndarray, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """((count, 28, 28) uint8, (count,) int64): `count` training digits, drawn at random
    without repeats, through `photograph`, the outliers' "photo" path, with their labels.
    A digit the preprocessing finds no digit in (none in practice) is left out."""
    rng = np.random.default_rng([seed, 0xD1])
    pixels, kept = [], []
    for i in rng.permutation(len(digits))[:count]:
        try:
            pixels.append(photograph(digits[i].astype(np.float32) / 255.0, rng))
        except NoDigitError:
            continue
        kept.append(labels[i])
    return np.stack(pixels), np.asarray(kept, np.int64)
