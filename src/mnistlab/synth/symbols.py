"""Non-digits the digit detector is trained to refuse, beside mnistlab.synth.outliers' parts of
digits: symbols people draw (stars, hearts, hashes, spirals, zigzags, asterisks, dense
scribbles, filled marks and blots, triangles, check marks) and training digits turned or
mirrored into shapes that are no digit.

Shapes a reader would take for a digit are left out: drawn rings and ovals (a 0), a single
stroke or an arrow (a 1), digits whose turn or mirror image is a digit (0, 1 and 8 mirrored; 6
and 9 half-turned). Letters are written by mnistlab.synth.letters, as strokes; faces, textures
and font glyphs are never drawn for training. Every function returns ink coverage (0..1) at
any size, for `outliers.photograph` to draw as a photo and preprocess.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SIZE = 112  # the drawing canvas; photograph() rescales the ink to 56-112 px anyway

# digit classes whose image under each transform is no digit
TURNS = {
    "mirror": (2, 3, 4, 6, 7, 9),
    "half_turn": (3, 4, 7),
    "quarter_left": (1, 2, 3, 4, 5, 6, 7, 8, 9),
    "quarter_right": (2, 3, 4, 5, 6, 7, 8, 9),
}


def turned(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A training digit mirrored or turned by a quarter or half into a shape no digit has
    (TURNS), as ink coverage; letter-like shapes (a mirrored 3, a 7 turned on its side) that
    are not drawn from any font."""
    name = list(TURNS)[int(rng.integers(len(TURNS)))]
    allowed = np.flatnonzero(np.isin(labels, TURNS[name]))
    ink = digits[int(rng.choice(allowed))].astype(np.float32) / 255.0
    if name == "mirror":
        ink = ink[:, ::-1]
    elif name == "half_turn":
        ink = ink[::-1, ::-1]
    else:
        ink = np.rot90(ink, 1 if name == "quarter_left" else 3)
    return np.ascontiguousarray(ink)


def _wobbly(points, rng: np.random.Generator, amount: float = 2.0) -> list[tuple[float, float]]:
    """A hand's imprecision: every corner a little off."""
    return [(float(x + rng.normal(0, amount)), float(y + rng.normal(0, amount))) for x, y in points]


def _draw(draw, points, rng, width: int, closed: bool = False, filled: bool = False) -> None:
    points = _wobbly(points, rng)
    if filled:
        draw.polygon(points, fill=255)
        return
    if closed:
        points = [*points, points[0]]
    draw.line(points, fill=255, width=width, joint="curve")


def _circle_points(centre: float, radius, angles) -> list[tuple[float, float]]:
    return list(
        zip(centre + radius * np.cos(angles), centre + radius * np.sin(angles), strict=True)
    )


def _star(draw, rng, c, r, w, turn):
    points = int(rng.integers(5, 9))
    inner = rng.uniform(0.35, 0.55)
    radius = np.where(np.arange(2 * points) % 2 == 0, r, r * inner)
    angles = turn + np.arange(2 * points) * np.pi / points
    _draw(draw, _circle_points(c, radius, angles), rng, w, closed=True, filled=rng.random() < 0.5)


def _heart(draw, rng, c, r, w, turn):
    t = np.linspace(0, 2 * np.pi, 40)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    points = list(zip(c + x * r / 17, c + y * r / 17, strict=True))
    _draw(draw, points, rng, w, closed=True, filled=rng.random() < 0.5)


def _hash(draw, rng, c, r, w, turn):
    for i in range(int(rng.integers(2, 4))):
        x = c - r + 2 * r * (i + 1) / 4
        _draw(draw, [(x, c - r), (x + rng.uniform(-8, 8), c + r)], rng, w)
    for i in range(int(rng.integers(2, 4))):
        y = c - r + 2 * r * (i + 1) / 4
        _draw(draw, [(c - r, y), (c + r, y + rng.uniform(-8, 8))], rng, w)


def _spiral(draw, rng, c, r, w, turn):
    t = np.linspace(0, rng.uniform(1.5, 3.5) * 2 * np.pi, 80)
    _draw(draw, _circle_points(c, r * t / t[-1], t + turn), rng, w)


def _zigzag(draw, rng, c, r, w, turn):
    teeth = int(rng.integers(3, 9))
    xs = np.linspace(c - r, c + r, teeth + 1)
    ys = [c + r * rng.uniform(0.3, 0.8) * (1 if i % 2 else -1) for i in range(teeth + 1)]
    _draw(draw, list(zip(xs, ys, strict=True)), rng, w)


def _filled(draw, rng, c, r, w, turn):
    """A filled polygon or blot. (Preprocessing keeps a filled blot's edge and greys its inside:
    not a written 0, whose inside is paper.)"""
    if rng.random() < 0.5:
        a, b = r * rng.uniform(0.4, 1.0), r * rng.uniform(0.4, 1.0)
        draw.ellipse((c - a, c - b, c + a, c + b), fill=255)
        return
    angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
    _draw(draw, _circle_points(c, r, angles), rng, w, filled=True)


def _asterisk(draw, rng, c, r, w, turn):
    arms = int(rng.integers(3, 7))
    for i in range(arms):
        a = turn + i * np.pi / arms
        _draw(
            draw,
            [(c - r * np.cos(a), c - r * np.sin(a)), (c + r * np.cos(a), c + r * np.sin(a))],
            rng,
            w,
        )


def _tangle(draw, rng, c, r, w, turn):
    points = [tuple(p) for p in rng.uniform(c - r, c + r, size=(int(rng.integers(8, 20)), 2))]
    draw.line(points, fill=255, width=w, joint="curve")


def _triangle_or_check(draw, rng, c, r, w, turn):
    if rng.random() < 0.5:
        angles = turn + np.arange(3) * 2 * np.pi / 3
        _draw(draw, _circle_points(c, r, angles), rng, w, closed=True, filled=rng.random() < 0.3)
    else:
        _draw(draw, [(c - r, c), (c - r / 3, c + r * 0.7), (c + r, c - r)], rng, w)


SYMBOLS = {
    "star": _star,
    "heart": _heart,
    "hash": _hash,
    "spiral": _spiral,
    "zigzag": _zigzag,
    "filled": _filled,
    "asterisk": _asterisk,
    "tangle": _tangle,
    "triangle_or_check": _triangle_or_check,
}


def symbol(rng: np.random.Generator) -> np.ndarray:
    """One drawn symbol (SYMBOLS, chosen at random) as (SIZE, SIZE) ink coverage."""
    mask = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(mask)
    width = int(rng.integers(3, 9))
    radius = rng.uniform(30, 50)
    turn = rng.uniform(0, 2 * np.pi)
    maker = list(SYMBOLS.values())[int(rng.integers(len(SYMBOLS)))]
    maker(draw, rng, SIZE / 2, radius, width, turn)
    return np.asarray(mask, np.float32) / 255.0
