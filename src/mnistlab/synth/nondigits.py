"""Images that are not digits, drawn like the digit suite (dark ink on paper): the answer
for these should be "not sure"."""

from __future__ import annotations

import string
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnistlab.synth import render as r

# Letters that are the same glyph as a digit in handwriting (O/0, I/l/1) cannot be told apart
# from a digit by anyone, so they are not counted as non-digits.
AMBIGUOUS = set("OoIlDQ")
LETTERS = [c for c in string.ascii_letters if c not in AMBIGUOUS]
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansMono.ttf",
    "LiberationSans-Regular.ttf",
    "LiberationSerif-Italic.ttf",
)


@lru_cache(maxsize=32)
def _font(index: int, size: int):
    name = FONT_FILES[index % len(FONT_FILES)]
    for folder in ("/usr/share/fonts/truetype/dejavu/", "/usr/share/fonts/truetype/liberation/"):
        try:
            return ImageFont.truetype(folder + name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)  # Pillow's own scalable font


def _canvas(rng: np.random.Generator, size: int = 160) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    mask = Image.new("L", (size, size), 0)
    return mask, ImageDraw.Draw(mask)


def _finish(mask: Image.Image, rng: np.random.Generator) -> Image.Image:
    alpha = np.asarray(mask, dtype=np.float32) / 255.0
    sheet = r.paper(*alpha.shape, rng)
    return r.to_image(r.compose(alpha, sheet, r.dark_ink(rng)))


def _letter(rng) -> Image.Image:
    mask, draw = _canvas(rng)
    font = _font(int(rng.integers(0, len(FONT_FILES))), int(rng.integers(70, 110)))
    draw.text((80, 80), str(rng.choice(LETTERS)), fill=255, font=font, anchor="mm")
    return _finish(mask, rng)


def _scribble(rng) -> Image.Image:
    """1-3 random strokes through 4-9 points each."""
    mask, draw = _canvas(rng)
    for _ in range(int(rng.integers(1, 4))):
        points = [tuple(p) for p in rng.uniform(25, 135, size=(int(rng.integers(4, 10)), 2))]
        draw.line(points, fill=255, width=int(rng.integers(5, 12)), joint="curve")
    return _finish(mask, rng)


def _shape(rng) -> Image.Image:
    """A filled or outlined polygon, star, cross or blob."""
    mask, draw = _canvas(rng)
    kind = int(rng.integers(0, 4))
    width = int(rng.integers(5, 12))
    if kind == 0:  # polygon with 3-6 corners
        n = int(rng.integers(3, 7))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        points = [(80 + 50 * np.cos(a), 80 + 50 * np.sin(a)) for a in angles]
        if rng.random() < 0.5:
            draw.polygon(points, fill=255)
        else:
            draw.line([*points, points[0]], fill=255, width=width)
    elif kind == 1:  # star
        points = []
        for i in range(10):
            radius = 55 if i % 2 == 0 else 22
            angle = i * np.pi / 5 + rng.uniform(0, 0.3)
            points.append((80 + radius * np.cos(angle), 80 + radius * np.sin(angle)))
        draw.polygon(points, fill=255)
    elif kind == 2:  # cross or asterisk
        for i in range(int(rng.integers(2, 5))):
            angle = i * np.pi / 4 + rng.uniform(0, 0.3)
            dx, dy = 55 * np.cos(angle), 55 * np.sin(angle)
            draw.line([(80 - dx, 80 - dy), (80 + dx, 80 + dy)], fill=255, width=width)
    else:  # a filled blob
        box = tuple(rng.uniform([20, 20, 100, 100], [60, 60, 140, 140]))
        draw.ellipse(box, fill=255)
    return _finish(mask, rng)


def _texture(rng) -> Image.Image:
    """A photo of a surface: fabric, wood or gravel, as fine random structure over the frame."""
    size = 160
    scale = int(rng.integers(2, 8))
    coarse = rng.random((size // scale + 1, size // scale + 1)).astype(np.float32)
    field = np.asarray(
        Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32
    )
    if rng.random() < 0.5:  # stripes, as wood grain or fabric
        y = np.arange(size, dtype=np.float32)[:, None]
        field = field + 0.8 * np.sin(y * rng.uniform(0.2, 0.6) + field * 3)
    field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
    return r.to_image(np.repeat(field[..., None] * 200 + 30, 3, axis=2))


def _smiley(rng) -> Image.Image:
    """A drawn face."""
    mask, draw = _canvas(rng)
    width = int(rng.integers(5, 10))
    draw.ellipse((25, 25, 135, 135), outline=255, width=width)
    draw.ellipse((55, 55, 68, 68), fill=255)
    draw.ellipse((92, 55, 105, 68), fill=255)
    draw.arc((50, 60, 110, 115), 20, 160, fill=255, width=width)
    return _finish(mask, rng)


NONDIGIT_KINDS: dict[str, Callable[[np.random.Generator], Image.Image]] = {
    "letter": _letter,
    "scribble": _scribble,
    "shape": _shape,
    "texture": _texture,
    "face": _smiley,
}


def render_nondigit(kind: str, rng: np.random.Generator) -> Image.Image:
    return NONDIGIT_KINDS[kind](rng)
