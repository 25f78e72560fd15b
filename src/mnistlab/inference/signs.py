"""A minus sign and a decimal point in a read number (inference.reading).

The reader cuts ink into digits; marks too flat to be a digit that no digit takes (a 7's bar
written apart is taken, inference.reading's attach) used to be left out silently, so "12.5"
was read "125" and "-42" "42", both sure: a meter reading or a price off by a factor of ten,
with no doubt shown. A left-out mark is a sign only when its shape and place say so:

- a decimal point: small and round, in the lowest part of the digits' height, with clear
  space to the digits on both sides;
- a minus sign (or a hyphen between digits): a short dash, several times as wide as it is
  thick, near the digits' mid-height, before the first digit or with clear space on both sides.

Anything else stays left out, as before (a speck, a stroke of a digit broken off: those lie
against a digit, or are not round, or not at the baseline, or are fainter than the strokes);
so does a mark after the last digit (a full stop). Signs no number has make the reading not
sure (find_signs): more than one point, two signs side by side, a point before the first
digit (left out of the number: a speck before "75" looks as ".75" does).

The limits below were chosen on validation numbers (seeds 2601 and 2603): synth's "signs"
numbers for the signs found, and numbers of every other kind for no sign found where none was
written; checked on seed 2604. docs/reading.md gives the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from mnistlab.inference.field import ink_box

# All in the number's digit height (the median height of its pieces).
POINT_MAX = 0.4  # a point is at most this wide and tall...
POINT_ROUND = 2.0  # ...no more than this many times as wide as tall, or as tall as wide...
POINT_LOW = 0.7  # ...its centre at least this far down the neighbouring digits' height...
POINT_HIGH = 1.2  # ...and no farther (a point sits on the baseline, not under the line)
DASH_LENGTH = (0.22, 0.95)  # a minus sign is this long...
DASH_THICK = 0.25  # ...at most this thick...
DASH_FLAT = 1.8  # ...at least this many times as long as thick (its grey edges count)...
DASH_MIDDLE = (0.3, 0.75)  # ...its centre this far down the neighbouring digits' height
CLEAR = 0.05  # clear space between a sign and a digit beside it (a broken stroke touches)
SAME_PEN = 0.75  # a sign's darkest ink (90th percentile) reaches this share of the digits'
# (median of theirs): a pen's point or dash is as dark as its strokes; MNIST's stray specks
# (validation numbers, seed 2603: 2 of the 3 marks taken for points in 1,400 numbers without
# any) are fainter


class SignDict(TypedDict):
    """A sign of a reading as JSON (Sign.to_dict)."""

    box: list[int]
    """[left, top, right, bottom] in the image's pixels"""
    sign: str
    """"." (a decimal point) or "-" (a minus sign, or a hyphen between digits)"""


SignDict.__pydantic_config__ = {"use_attribute_docstrings": True}  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Sign:
    box: tuple[int, int, int, int]  # (left, top, right, bottom) in the source image
    sign: str  # "." or "-"
    before: int  # the index of the digit it stands before

    def to_dict(self) -> SignDict:
        return {"box": list(self.box), "sign": self.sign}


@dataclass(frozen=True)
class Mark:
    """A sign found: "." or "-", the index of the digit it stands before, its ink."""

    sign: str
    before: int
    mask: np.ndarray


@dataclass(frozen=True)
class Found:
    signs: list[Mark]  # left to right
    doubt: str | None  # why the signs make the reading not sure, if they do


def find_signs(
    values: np.ndarray, digits: list[np.ndarray], marks: list[np.ndarray], digit_height: float
) -> Found:
    """The decimal points and minus signs among `marks` (masks of ink no digit took), placed
    among `digits` (masks, left to right); `values` is the ink (0..1) they are masks of. Signs
    no number has make a doubt: more than one decimal point, two signs side by side, or a
    point before the first digit (".5" is a number, but so is a speck before "5": it is left
    out of the number and the reading is not sure)."""
    if not digits or not marks or digit_height <= 0:
        return Found([], None)  # most numbers: nothing was left out
    boxes = [ink_box(mask) for mask in digits]  # (left, top, right, bottom) each
    dark = float(np.median([np.percentile(values[mask], 90) for mask in digits]))
    found: list[tuple[int, Mark]] = []  # (left column, sign)
    leading_point = False
    for mark in marks:
        if float(np.percentile(values[mark], 90)) < SAME_PEN * dark:
            continue
        box = ink_box(mark)
        before = sum(1 for first, *_ in boxes if first < box[0])  # digits to its left
        sign = _sign_of(box, boxes, before, digit_height)
        if sign == "." and before == 0:
            leading_point = True
        elif sign is not None:
            found.append((box[0], Mark(sign, before, mark)))
    signs = [mark for _, mark in sorted(found, key=lambda item: item[0])]
    places = [mark.before for mark in signs]
    if sum(mark.sign == "." for mark in signs) > 1:
        doubt: str | None = "more than one decimal point: one may be a stray mark"
    elif len(set(places)) < len(places):
        doubt = "two signs side by side: one may be a stray mark"
    elif leading_point:
        doubt = "a mark before the first digit may be a decimal point (left out)"
    else:
        doubt = None
    return Found(signs, doubt)


def _sign_of(
    box: tuple[int, int, int, int],
    digits: list[tuple[int, int, int, int]],
    before: int,
    height: float,
) -> str | None:
    """ "." or "-" if the mark with ink `box` is one where it stands among the `digits` (their
    ink boxes, left to right), else None (see the module)."""
    left, top, right, bottom = box
    width, tall = (right - left) / height, (bottom - top) / height
    clear_left = (left - digits[before - 1][2]) / height if before > 0 else None
    clear_right = (digits[before][0] - right) / height if before < len(digits) else None
    if clear_right is None or any(c is not None and c < CLEAR for c in (clear_left, clear_right)):
        return None  # after the last digit (a full stop), or against a digit (a piece of it)
    # how far down the neighbouring digits' height its centre lies (a slanted line moves;
    # a sign before the first digit takes the first two: one short digit is no baseline)
    near = (0, 1) if before == 0 else (before - 1, before)
    neighbours = [digits[i] for i in near if i < len(digits)]
    band_top = float(np.mean([digit[1] for digit in neighbours]))
    band_bottom = float(np.mean([digit[3] for digit in neighbours]))
    down = ((top + bottom) / 2 - band_top) / max(band_bottom - band_top, 1.0)
    if (
        max(width, tall) <= POINT_MAX
        and max(width, tall) <= POINT_ROUND * max(min(width, tall), 1e-9)
        and POINT_LOW <= down <= POINT_HIGH
    ):
        return "."
    if (
        DASH_LENGTH[0] <= width <= DASH_LENGTH[1]
        and tall <= DASH_THICK
        and width >= DASH_FLAT * tall
        and DASH_MIDDLE[0] <= down <= DASH_MIDDLE[1]
    ):
        return "-"
    return None


def digits_of(number: str) -> str:
    """The digits of a number as read or written, its signs left out ("-12.5" -> "125")."""
    return "".join(c for c in number if c.isdigit())
