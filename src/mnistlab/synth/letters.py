"""Letters written by hand, for the digit detector to refuse: each letter a few pen strokes
(lines and arcs in a unit box), drawn with a random slant, width, turn and a hand's wobble.
No font is read here: the benchmark's letters (mnistlab.synth.nondigits) are rendered from
fonts, so they stay an outside check of what these strokes taught.

Letters a reader would take for a digit are never drawn: O o D Q (0), I l (1), Z z (2),
S s (5), b G (6), B (8), a g q (9). Every function returns ink coverage (0..1), as
mnistlab.synth.symbols does, for `outliers.photograph` to draw as a photo and preprocess.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SIZE = 112

Stroke = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Stroke:
    """Points on an ellipse from angle `start` to `end` in degrees (0 = right, 90 = down)."""
    t = np.radians(np.linspace(start, end, max(6, int(abs(end - start) / 15))))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t), strict=True))


# The unit box is x right, y down; lowercase bodies sit in y 0.4..1 below an ascender's 0.
_P_BOWL = [(0, 1), (0, 0), (0.55, 0), *_arc(0.55, 0.27, 0.35, 0.27, 270, 450), (0, 0.54)]
_HUMP = _arc(0.4, 0.7, 0.4, 0.3, 180, 360)
STROKES: dict[str, list[Stroke]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.6), (0.75, 0.6)]],
    "C": [_arc(0.55, 0.5, 0.45, 0.5, 315, 45)],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.7, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "J": [[(0.8, 0), *_arc(0.45, 0.72, 0.35, 0.28, 0, 180)]],
    "K": [[(0, 0), (0, 1)], [(0.9, 0), (0, 0.55), (1, 1)]],
    "L": [[(0, 0), (0, 1), (0.8, 1)]],
    "M": [[(0, 1), (0.05, 0), (0.5, 0.6), (0.95, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "P": [_P_BOWL],
    "R": [_P_BOWL, [(0.35, 0.54), (1, 1)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "U": [[(0, 0), *_arc(0.5, 0.62, 0.5, 0.38, 180, 0), (1, 0)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "c": [_arc(0.55, 0.7, 0.45, 0.3, 315, 45)],
    "d": [_arc(0.45, 0.7, 0.4, 0.3, 0, 360), [(0.85, 0), (0.85, 1)]],
    "e": [[(0.1, 0.7), *_arc(0.5, 0.7, 0.4, 0.3, 0, -315)]],
    "f": [[*_arc(0.65, 0.2, 0.2, 0.15, -30, -180), (0.45, 1)], [(0.15, 0.45), (0.75, 0.45)]],
    "h": [[(0, 0), (0, 1)], [(0, 0.7), *_HUMP, (0.8, 1)]],
    "i": [[(0.5, 0.4), (0.5, 1)], [(0.5, 0.12), (0.53, 0.16)]],
    "j": [[(0.6, 0.4), *_arc(0.35, 0.85, 0.25, 0.15, 0, 180)], [(0.6, 0.12), (0.63, 0.16)]],
    "k": [[(0, 0), (0, 1)], [(0.7, 0.4), (0, 0.75), (0.75, 1)]],
    "m": [
        [(0, 1), (0, 0.4)],
        [(0, 0.6), *_arc(0.25, 0.6, 0.25, 0.2, 180, 360), (0.5, 1)],
        [(0.5, 0.6), *_arc(0.75, 0.6, 0.25, 0.2, 180, 360), (1, 1)],
    ],
    "n": [[(0, 1), (0, 0.4)], [(0, 0.7), *_HUMP, (0.8, 1)]],
    "p": [[(0, 0), (0, 1)], _arc(0.35, 0.25, 0.35, 0.25, 180, 540)],
    "r": [[(0, 1), (0, 0.4)], [(0, 0.65), *_arc(0.4, 0.65, 0.4, 0.25, 180, 300)]],
    "t": [[(0.4, 0), (0.4, 0.9), (0.55, 1), (0.75, 0.95)], [(0.1, 0.35), (0.75, 0.35)]],
    "u": [[(0, 0.4), *_arc(0.4, 0.75, 0.4, 0.25, 180, 0), (0.8, 0.4)], [(0.8, 0.4), (0.85, 1)]],
    "v": [[(0, 0.4), (0.5, 1), (1, 0.4)]],
    "w": [[(0, 0.4), (0.25, 1), (0.5, 0.55), (0.75, 1), (1, 0.4)]],
    "x": [[(0, 0.4), (1, 1)], [(1, 0.4), (0, 1)]],
    "y": [[(0, 0), (0.5, 0.55)], [(1, 0), (0.2, 1)]],
}


def written_letter(rng: np.random.Generator, letter: str | None = None) -> np.ndarray:
    """One letter (STROKES; `letter`, or one at random) as (SIZE, SIZE) ink coverage."""
    letter = letter or str(rng.choice(list(STROKES)))
    slant = rng.uniform(-0.35, 0.35)  # x moves by this much per unit of height, as in italics
    turn = np.radians(rng.uniform(-12, 12))
    width_scale = rng.uniform(0.55, 1.2)
    height = rng.uniform(60, 80)
    wobble = rng.uniform(0.01, 0.04)
    rotate = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    mask = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(mask)
    pen = int(rng.integers(3, 9))
    for stroke in STROKES[letter]:
        points = np.asarray(stroke, np.float64)
        points = points + rng.normal(0, wobble, points.shape)
        x = (points[:, 0] - 0.5) * width_scale + slant * (0.5 - points[:, 1])
        xy = np.stack([x, points[:, 1] - 0.5], 1) @ rotate.T * height + SIZE / 2
        draw.line([tuple(p) for p in xy], fill=255, width=pen, joint="curve")
    return np.asarray(mask, np.float32) / 255.0
