"""A written number on one line, from MNIST digits, with the true string."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from mnistlab.synth import render as r
from mnistlab.synth.lift import LIFTED_DIGITS, lift

# New kinds go at the end: a kind's place seeds its numbers (benchmarks draw [seed, place, i]).
NUMBER_KINDS = (
    "gaps",
    "touching",
    "jitter",
    "lifted",
    "widths",
    "slanted",
    "in-photo",
    "signs",
)
# The string "sure" rule is fitted on numbers of FIT_NUMBER_KINDS only (validation digits) and
# judged on the others, whole kinds it never saw; fixed before any tuning (issue 26). "in-photo"
# came later (2026-12-07) and was never fitted either; but the reader's closer look at a small
# number (inference.preprocess.find_line_ink) was made after seeing validation numbers pasted
# into a page this way, so it does not judge that step as untouched.
FIT_NUMBER_KINDS = ("gaps", "touching", "jitter")
HELD_OUT_NUMBER_KINDS = ("lifted", "widths", "slanted", "in-photo", "signs")
PHOTO_DIGIT_HEIGHT = (16.0, 40.0)  # px: an "in-photo" number's digits (4-8 mm on a page)
PHOTO_SIDE = (1000, 1600)  # ...on a whole photo of the page this many px wide (3:4)
WIDTHS = (-0.4, 0.0, 0.6, 1.0)  # per digit of a "widths" number: px of a 28 px digit its
# strokes are thinned (negative) or thickened by (MNIST's strokes are ~2.5 px wide)
SLOPE = (4.0, 9.0)  # degrees a "slanted" line rises or falls (either way)
CONTACT = 0.3  # coverage both digits must reach on one pixel for them to touch
# A "signs" number: a minus sign before it with this probability, and a decimal point between
# two of its digits with this one (numbers of one digit get no point)
MINUS_SHARE = 0.4
POINT_SHARE = 0.75
POINT_SIZE = (0.1, 0.25)  # a point's diameter, in digit heights (MNIST's strokes are ~0.1)
MINUS_LENGTH = (0.3, 0.55)  # a minus sign's length...
MINUS_WIDTH = (0.08, 0.13)  # ...and its stroke's width, in digit heights
POINT_GAP = (0.08, 0.25)  # clear space on either side of a point, in digit heights...
MINUS_GAP = (0.15, 0.35)  # ...and after a minus sign (a digit's belly reaches out at mid-height)


@dataclass(frozen=True)
class Signs:
    """Where a "signs" number has its signs: a minus before the first digit, and a decimal
    point before digit `point` (None: no point)."""

    minus: bool = False
    point: int | None = None

    def text(self, digits: str) -> str:
        """The number as written, e.g. "-12.5"."""
        if self.point is not None:
            digits = digits[: self.point] + "." + digits[self.point :]
        return ("-" if self.minus else "") + digits


def plan_signs(count: int, rng: np.random.Generator) -> Signs:
    """The signs of a "signs" number of `count` digits."""
    minus = bool(rng.random() < MINUS_SHARE)
    point = int(rng.integers(1, count)) if count > 1 and rng.random() < POINT_SHARE else None
    return Signs(minus, point)


def render_number(
    kind: str,
    digits: list[np.ndarray],
    rng: np.random.Generator,
    labels: list[int] | None = None,
    signs: Signs | None = None,
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """Digits (28x28 uint8 each) written left to right; returns the image and each digit's
    (left, top, right, bottom) box in it.

    - "gaps": clear space between digits (15-50% of their height);
    - "touching": as "gaps", but one neighbouring pair is pushed together until the ink touches;
    - "jitter": small gaps, each digit with its own size (+-15%), tilt (+-8 deg) and baseline;
    - "lifted": as "gaps", with every 4, 5 and 7 written in two strokes that do not meet (pass
      `labels`; synth.lift);
    - "widths": as "gaps", each digit with its own pen, from thinner to much broader;
    - "slanted": as "gaps", the line rising or falling 4-9 degrees;
    - "in-photo": as "gaps", written small (digits 16-40 px tall) somewhere on a whole photo of
      the page, 1000-1600 px wide, with a little noise: what a phone camera sends;
    - "signs": as "gaps", with `signs` (a minus sign, a decimal point) written by pen: a round
      point on the baseline, a short dash at mid-height (plan_signs).
    """
    if kind not in NUMBER_KINDS:
        raise ValueError(f"unknown number kind {kind!r}; expected one of {NUMBER_KINDS}")
    if kind == "lifted":
        if labels is None or len(labels) != len(digits):
            raise ValueError("lifted numbers need each digit's label")
        digits = [_lifted(d, label) for d, label in zip(digits, labels, strict=True)]
    pens = [float(rng.choice(WIDTHS)) for _ in digits] if kind == "widths" else None
    slope = 0.0
    if kind == "slanted":
        slope = float(np.tan(np.radians(rng.uniform(*SLOPE))) * rng.choice((-1.0, 1.0)))
    ink, placed = lay_out(
        digits,
        rng,
        jitter=kind == "jitter",
        touch=kind == "touching",
        pens=pens,
        slope=slope,
        signs=signs if kind == "signs" else None,
    )
    boxes = [(left, top, left + a.shape[1], top + a.shape[0]) for a, top, left in placed]
    ink = ink[:, : max(b[2] for b in boxes) + boxes[0][0]]  # the left margin on the right too
    if kind == "in-photo":
        return _in_photo(ink, boxes, rng)
    sheet = r.paper(*ink.shape, rng)
    return r.to_image(r.compose(ink, sheet, r.dark_ink(rng))), boxes


def _in_photo(
    ink: np.ndarray, boxes: list[tuple[int, int, int, int]], rng: np.random.Generator
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """The line's ink reduced to digits PHOTO_DIGIT_HEIGHT tall and placed somewhere in a whole
    photo of the page (as synth.digits' small-in-photo places one digit)."""
    side = int(rng.uniform(*PHOTO_SIDE))
    frame = (int(side * 0.75), side)
    tallest = max(bottom - top for _, top, _, bottom in boxes)
    factor = min(
        float(rng.uniform(*PHOTO_DIGIT_HEIGHT)) / tallest,
        0.9 * frame[1] / ink.shape[1],  # a long number still fits the frame
        0.9 * frame[0] / ink.shape[0],
    )
    size = (max(1, round(ink.shape[1] * factor)), max(1, round(ink.shape[0] * factor)))
    small = np.asarray(Image.fromarray(ink).resize(size, Image.LANCZOS), dtype=np.float32)
    top = int(rng.integers(0, frame[0] - size[1] + 1))
    left = int(rng.integers(0, frame[1] - size[0] + 1))
    placed = np.zeros(frame, np.float32)
    placed[top : top + size[1], left : left + size[0]] = np.clip(small, 0.0, 1.0)
    sheet = r.paper(*frame, rng)
    image = r.add_noise(r.to_image(r.compose(placed, sheet, r.dark_ink(rng))), 6.0, rng)
    moved = [
        (
            left + int(round(x0 * factor)),
            top + int(round(y0 * factor)),
            left + int(round(x1 * factor)),
            top + int(round(y1 * factor)),
        )
        for x0, y0, x1, y1 in boxes
    ]
    return image, moved


def lay_out(
    digits: list[np.ndarray],
    rng: np.random.Generator,
    jitter: bool,
    touch: bool,
    pens: list[float] | None = None,
    slope: float = 0.0,
    signs: Signs | None = None,
) -> tuple[np.ndarray, list[tuple[np.ndarray, int, int]]]:
    """Digits (28x28 uint8 each) placed left to right on one line: the ink of all of them
    together, and each digit's (ink, top, left). With `jitter`, each digit gets its own size,
    tilt and baseline and the gaps are small; with `touch`, one neighbouring pair is pushed
    together until the ink touches; `pens`: per digit, a radius its strokes are thickened
    (positive) or thinned (negative) by, in px of a 28 px digit, scaled; `slope`: the baseline
    rises this many px per px to the right (negative: falls); `signs`: a minus sign and a
    decimal point written among the digits (their ink is in the line, not in the list).
    (scripts/train_one_digit.py lays numbers out here too, to label the parts of each digit's
    own ink.)"""
    height = float(rng.uniform(48, 80))
    alphas = []
    for digit in digits:
        size = height * (rng.uniform(0.85, 1.15) if jitter else 1.0)
        alpha = r.ink_alpha(digit, size)
        if jitter:
            alpha = r.rotate(alpha, float(rng.uniform(-8, 8)))
        if pens is not None:
            alpha = _pen(alpha, pens[len(alphas)], height)
        if slope:  # the digits lean with the line
            alpha = r.rotate(alpha, float(np.degrees(np.arctan(slope))))
        alphas.append(r.crop_to_ink(alpha))
    low, high = (0.08, 0.25) if jitter else (0.15, 0.5)
    gaps = [height * rng.uniform(low, high) for _ in digits[1:]]
    touching = int(rng.integers(0, len(gaps))) if touch and gaps else -1
    baseline = [height * rng.uniform(-0.12, 0.12) if jitter else 0.0 for _ in digits]

    marks = _sign_marks(signs, height, rng) if signs is not None else {}

    margin = int(height * 0.5)
    tallest = max(a.shape[0] for a in alphas)
    extra = sum(m.shape[1] + gap for m, _, gap in marks.values())
    width = int(sum(a.shape[1] for a in alphas) + sum(gaps) + extra + 2 * margin + 2)
    rise = abs(slope) * width  # px the baseline moves from one end of the line to the other
    canvas_h = int(tallest + 2 * margin + 0.3 * height + rise)
    ink = np.zeros((canvas_h, width), np.float32)
    placed = []
    x = float(margin)
    bottom = margin + 0.15 * height + tallest  # the line's baseline (before any slope)
    for i, alpha in enumerate(alphas):
        if i in marks:  # a sign before this digit: its own height, then space
            mark, lift, gap = marks[i]
            top = int(round(bottom - lift - mark.shape[0]))
            if slope:
                top += int(round((rise if slope > 0 else 0.0) - slope * x))
            region = ink[top : top + mark.shape[0], int(round(x)) : int(round(x)) + mark.shape[1]]
            np.maximum(region, mark[:, : region.shape[1]], out=region)
            x += mark.shape[1] + gap
        h, w = alpha.shape
        # digits share a baseline (their bottoms line up), as handwriting does
        top = int(round(bottom - h + baseline[i]))
        if slope:  # rising (slope > 0) lifts the digits further right: smaller rows
            top += int(round((rise if slope > 0 else 0.0) - slope * x))
        left = int(round(x))
        if touching >= 0 and i - 1 == touching:
            left = _touching_left(ink, alpha, top, left)
        region = ink[top : top + h, left : left + w]
        np.maximum(region, alpha[:, : region.shape[1]], out=region)
        placed.append((alpha, top, left))
        x = left + w + (gaps[i] if i < len(gaps) else 0)
    return ink, placed


def _sign_marks(
    signs: Signs, height: float, rng: np.random.Generator
) -> dict[int, tuple[np.ndarray, float, float]]:
    """Per digit a sign is written before: (its ink, px its bottom lies above the baseline,
    px of clear space after it)."""
    marks = {}
    if signs.minus:
        length = height * rng.uniform(*MINUS_LENGTH)
        stroke = height * rng.uniform(*MINUS_WIDTH)
        dash = _pen_stroke(length, stroke, float(rng.uniform(-8, 8)))
        lift = height * rng.uniform(0.4, 0.55) - dash.shape[0] / 2
        marks[0] = (dash, lift, height * rng.uniform(*MINUS_GAP))
    if signs.point is not None:
        size = height * rng.uniform(*POINT_SIZE)
        dot = _pen_stroke(size * rng.uniform(0.8, 1.25), size, float(rng.uniform(0, 180)))
        marks[signs.point] = (
            dot,
            height * rng.uniform(0.0, 0.05),
            height * rng.uniform(*POINT_GAP),
        )
    return marks


def _pen_stroke(length: float, width: float, degrees: float) -> np.ndarray:
    """Ink coverage of a straight pen stroke with round ends, `length` px end to end and
    `width` px wide, turned `degrees`, cropped to its ink (drawn 4x larger, then averaged)."""
    scale = 4
    side = int(np.ceil((length + width) * scale)) + 4
    canvas = Image.new("L", (side, side), 0)
    half = max(0.0, (length - width) / 2) * scale
    turn = np.radians(degrees)
    dx, dy = half * np.cos(turn), -half * np.sin(turn)
    centre = side / 2
    draw = ImageDraw.Draw(canvas)
    draw.line(
        [(centre - dx, centre - dy), (centre + dx, centre + dy)],
        fill=255,
        width=max(1, int(round(width * scale))),
        joint="curve",
    )
    radius = width * scale / 2  # round caps: PIL's lines end square
    for cx, cy in ((centre - dx, centre - dy), (centre + dx, centre + dy)):
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=255)
    small = canvas.resize((max(1, side // scale), max(1, side // scale)), Image.BOX)
    return r.crop_to_ink(np.asarray(small, dtype=np.float32) / 255.0)


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


def _lifted(digit: np.ndarray, label: int) -> np.ndarray:
    if label not in LIFTED_DIGITS:
        return digit
    lifted = lift(digit)
    return digit if lifted is None else lifted


def _pen(alpha: np.ndarray, radius: float, height: float) -> np.ndarray:
    """`alpha` written with a pen `radius` px (of a 28 px digit) broader or finer."""
    scaled = int(round(abs(radius) * height / r.BOX))
    if radius == 0 or scaled == 0:
        return alpha
    grown = np.pad(alpha, scaled)  # room for the broader strokes
    return r.thicken(grown, scaled) if radius > 0 else r.thin(alpha, scaled)


def number_picks(
    pool: int, kind: str, count: int, seed: int, lengths: tuple[int, int] = (2, 8)
) -> Iterator[np.ndarray]:
    """The indices, into a pool of `pool` digits, of each number's digits as draw_numbers
    picks them (from the rng [seed, 1000 + the kind's place])."""
    rng = np.random.default_rng([seed, 1000 + NUMBER_KINDS.index(kind)])
    for _ in range(count):
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        yield rng.integers(0, pool, size=length)


def draw_numbers(
    images: np.ndarray,
    labels: np.ndarray,
    kind: str,
    count: int,
    seed: int,
    lengths: tuple[int, int] = (2, 8),
) -> Iterator[tuple[str, Image.Image]]:
    """(true string, image) for `count` numbers of `kind`, of lengths[0]-lengths[1] digits
    picked from `images` (N, 28, 28) uint8 with their `labels`: the digits from the rng
    [seed, 1000 + the kind's place], each image from [seed, place, i]. The one recipe of the
    benchmarks and of fitting the string rule (on the validation split)."""
    k = NUMBER_KINDS.index(kind)
    for i, chosen in enumerate(number_picks(len(images), kind, count, seed, lengths)):
        digits = [int(labels[j]) for j in chosen]
        text = "".join(map(str, digits))
        signs = None
        if kind == "signs":  # their own stream: the digits' and the image's stay as they were
            signs = plan_signs(len(digits), np.random.default_rng([seed, k, i, 1]))
            text = signs.text(text)
        image, _ = render_number(
            kind,
            [images[j] for j in chosen],
            np.random.default_rng([seed, k, i]),
            labels=digits,
            signs=signs,
        )
        yield text, image
