"""A minus sign, a decimal point and a colon in a read number (inference.reading).

The reader cuts ink into digits; marks too flat to be a digit that no digit takes (a 7's bar
written apart is taken, inference.reading's attach) used to be left out silently, so "12.5"
was read "125" and "-42" "42", both sure: a meter reading or a price off by a factor of ten,
with no doubt shown. A left-out mark is a sign only when its shape and place say so:

- a decimal point: small and round, in the lowest part of the digits' height, with clear
  space to the digits on both sides;
- a minus sign (or a hyphen between digits): a short dash, several times as wide as it is
  thick, near the digits' mid-height, before the first digit or with clear space on both sides;
- a colon (a time, "12:30"): two dots, each as small and round as a point, one above the
  other, the lower one near the baseline and the upper one about the digits' mid-height,
  between two digits with clear space on both sides. The reader groups ink by columns, so
  without this the two dots made one piece as tall as a digit, read as a doubtful "3".

A point or a colon's dot may be smaller than the reader's specks where the pen is fine: the
reader keeps a dot as thick as the strokes in columns of its own (inference.reading, BOLD).
Anything else stays left out, as before (a speck, a stroke of a digit broken off: those lie
against a digit, or are not round, or not at the baseline, or are fainter than the strokes);
so does a mark after the last digit (a full stop). Signs no number has make the reading not
sure (find_signs): more than one point, two signs side by side, a point before the first
digit (left out of the number: a speck before "75" looks as ".75" does), two dots stacked
that are no colon where they stand (left out: no digit took them either), a point with a
tail below the line, a comma (left out: a thousands separator, "1,000", or a decimal comma,
"3,14"; read as a point it made "1,000" a sure 1.000), and a mark that is no sign here, clear
of the digits (left out: an equals sign, a raised point, a tilde, a small digit). A minus sign
is straight (a tilde, "~50", was a sure -50), and a point larger than a fine pen's is a blot
(rings are a small digit: "386" with a small 8 was a sure 3.6).

The limits below were chosen on validation numbers (seeds 2601 and 2603): synth's "signs"
numbers for the signs found, and numbers of every other kind for no sign found where none was
written; checked on seed 2604. The colon's were written down before any check (synth draws no
colon; a colon is judged by hand-drawn numbers, and by no colon found in numbers of every
kind). docs/reading.md gives the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from mnistlab.inference.field import INK_LEVEL, ink_box

# All in the number's digit height (the median height of its pieces; the reader, before it
# knows the digits, sets pairs of dots apart by the tallest connected ink instead).
POINT_MAX = 0.4  # a point is at most this wide and tall...
POINT_ROUND = 2.0  # ...no more than this many times as wide as tall, or as tall as wide...
POINT_LOW = 0.7  # ...its centre at least this far down the neighbouring digits' height...
POINT_HIGH = 1.2  # ...and no farther (a point sits on the baseline, not under the line)
COMMA_TALL = 1.35  # a "point" this many times as tall as wide...
COMMA_BELOW = 0.06  # ...reaching this far below the digits' baseline has a tail: a comma,
# which is a decimal comma ("3,14") or a thousands separator ("1,000"), so it makes a doubt.
# A pen's point, however turned, is at most ~1.25 times as long as wide and sits on the line
# (both written down before any check; "1,000" was a sure 1.000)
DASH_LENGTH = (0.22, 0.95)  # a minus sign is this long...
DASH_THICK = 0.25  # ...at most this thick...
DASH_FLAT = 1.8  # ...at least this many times as long as thick (its grey edges count)...
DASH_MIDDLE = (0.3, 0.75)  # ...its centre this far down the neighbouring digits' height
COLON_UPPER = (0.15, 0.65)  # a colon's upper dot: its centre this far down the digits' height
COLON_LOWER = (0.65, 1.2)  # ...and its lower dot's (on the baseline, as a point is)
COLON_DOT = 0.33  # a colon's dots are each at most this tall and wide (a point may reach
# POINT_MAX; the two halves of a small 3 or 8 broken at its waist, ~0.4-0.5 each, may not;
# 0.25 turned down the tests' hand-drawn colon, dots 0.3 tall)
COLON_GAP = 0.1  # ...with at least this much clear space between the two dots
COLON_ALIGN = 0.25  # ...and their centres at most this far apart across (a colon stands up)
CLEAR = 0.05  # clear space between a sign and a digit beside it (a broken stroke touches)
POINT_SOLID = 0.6  # a point wider or taller than SOLID_FROM is a blot: its ink fills at least
SOLID_FROM = 0.2  # this share of the ellipse in its box (a small 8 or 0, written between
# digits of a fine pen, is rings: "386" with an 8 a third of the height read a sure 3.6, its
# ink 0.45 of the ellipse; synth's points under 0.2 high fill 0.57-0.6 once made pixels, so
# smaller ones are not asked: SOLID_FROM was 0.15 at first, and lost two of them)
DASH_WAVE = 0.6  # a minus sign is straight: its ink's middle, column by column, strays from a
# straight line or a bow by at most this share of its thickness ("~50", about fifty, read a
# sure -50). Limits written down before any check; docs/reading.md, "Numbers as people
# write them"
MARK_SEEN = 0.2  # a mark left out that is no sign, at least this wide or tall (or a point's
# size at mid-height between two digits), as dark as the pen's strokes and clear of the
# digits (between two, or before the first), makes the reading not sure: a sign this reader
# does not read ("7=7", "3·4", "~5"), or a small digit
SAME_PEN = 0.75  # a sign's darkest ink (90th percentile) reaches this share of the digits'
# (median of theirs): a pen's point or dash is as dark as its strokes; MNIST's stray specks
# (validation numbers, seed 2603: 2 of the 3 marks taken for points in 1,400 numbers without
# any) are fainter


class SignDict(TypedDict):
    """A sign of a reading as JSON (Sign.to_dict)."""

    box: list[int]
    """[left, top, right, bottom] in the image's pixels"""
    sign: str
    """"." (a decimal point), "-" (a minus sign, or a hyphen between digits) or ":" (a colon,
    as in a time)"""


SignDict.__pydantic_config__ = {"use_attribute_docstrings": True}  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Sign:
    box: tuple[int, int, int, int]  # (left, top, right, bottom) in the source image
    sign: str  # ".", "-" or ":"
    before: int  # the index of the digit it stands before

    def to_dict(self) -> SignDict:
        return {"box": list(self.box), "sign": self.sign}


@dataclass(frozen=True)
class Mark:
    """A sign found: ".", "-" or ":", the index of the digit it stands before, its ink."""

    sign: str
    before: int
    mask: np.ndarray


@dataclass(frozen=True)
class Found:
    signs: list[Mark]  # left to right
    doubt: str | None  # why the signs make the reading not sure, if they do


def find_signs(
    values: np.ndarray,
    digits: list[np.ndarray],
    marks: list[np.ndarray],
    digit_height: float,
    pairs: list[np.ndarray] | tuple[np.ndarray, ...] = (),
) -> Found:
    """The decimal points, minus signs and colons among `marks` (masks of ink no digit took)
    and `pairs` (masks of two dots one above the other, stacked_dots), placed among `digits`
    (masks, left to right); `values` is the ink (0..1) they are masks of. Signs no number has
    make a doubt: more than one decimal point, two signs side by side, a point before the
    first digit (".5" is a number, but so is a speck before "5": it is left out of the number
    and the reading is not sure), a pair of dots that is no colon where it stands (no digit
    took them: left out, they could still be one), or a comma (left out: "1,000" or "3,14"?)."""
    if not digits or not (marks or pairs) or digit_height <= 0:
        return Found([], None)  # most numbers: nothing was left out
    boxes = [ink_box(mask) for mask in digits]  # (left, top, right, bottom) each
    dark = float(np.median([np.percentile(values[mask], 90) for mask in digits]))
    found: list[tuple[int, Mark]] = []  # (left column, sign)
    leading_point = stray_pair = comma = unknown = False
    for mark, pair in [(mark, False) for mark in marks] + [(pair, True) for pair in pairs]:
        box = ink_box(mark)
        before = sum(1 for first, *_ in boxes if first < box[0])  # digits to its left
        if float(np.percentile(values[mark], 90)) < SAME_PEN * dark:
            stray_pair |= pair  # faint: a speck is left out, but two of them stacked are odd
            continue
        strong = mark & (values > INK_LEVEL)
        dots = _dot_boxes(strong)
        # a colon low enough to be flat came as a mark: judged as a pair all the same, so it is
        # never taken for a point nor left out without a word
        pair = pair or stacked_dots(dots, digit_height)
        if pair:
            sign = _colon(box, dots, boxes, before, digit_height)
            stray_pair |= sign is None
        else:
            sign = _sign_of(box, strong, boxes, before, digit_height)
            unknown |= sign is None and _seen(box, boxes, before, digit_height)
        if sign == ",":
            comma = True  # left out of the number: "1,000" or "3,14"?
        elif sign == "." and before == 0:
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
    elif stray_pair:
        doubt = "two dots one above the other were left out: no colon stands there"
    elif comma:
        doubt = "a comma was left out of the number: a thousands separator or a decimal comma?"
    elif unknown:
        doubt = "a mark among the digits was left out: a sign not read here, or a small digit?"
    else:
        doubt = None
    return Found(signs, doubt)


def _sign_of(
    box: tuple[int, int, int, int],
    ink: np.ndarray,
    digits: list[tuple[int, int, int, int]],
    before: int,
    height: float,
) -> str | None:
    """ "." or "-" if the mark with ink `box` (`ink`: its strong ink, a mask of the line) is
    one where it stands among the `digits` (their ink boxes, left to right), "," for a point
    with a tail below the line (a comma: a doubt, find_signs), else None (see the module)."""
    left, top, right, bottom = box
    width, tall = (right - left) / height, (bottom - top) / height
    if not _clear(box, digits, before, height):
        return None  # after the last digit (a full stop), or against a digit (a piece of it)
    down = _down(box, digits, before)
    own = ink[top:bottom, left:right]
    if _dot_sized(box, height) and POINT_LOW <= down <= POINT_HIGH:
        if max(width, tall) > SOLID_FROM and own.sum() < POINT_SOLID * np.pi / 4 * own.size:
            return None  # rings, not a blot: a small digit
        below = _down((left, bottom, right, bottom), digits, before) - 1.0
        return "," if tall >= COMMA_TALL * width and below >= COMMA_BELOW else "."
    if (
        DASH_LENGTH[0] <= width <= DASH_LENGTH[1]
        and tall <= DASH_THICK
        and width >= DASH_FLAT * tall
        and DASH_MIDDLE[0] <= down <= DASH_MIDDLE[1]
        and _straight(own)
    ):
        return "-"
    return None


def _straight(dash: np.ndarray) -> bool:
    """Whether the middle of a dash's ink (a mask, cropped to it), column by column, keeps to
    a straight line or a bow within DASH_WAVE of its thickness: a minus sign, not a tilde."""
    columns = np.nonzero(dash.any(axis=0))[0]
    if columns.size < 4:
        return True
    rows = np.arange(dash.shape[0])[:, None]
    counts = dash[:, columns].sum(axis=0)
    middles = (rows * dash[:, columns]).sum(axis=0) / counts
    fitted = np.polyval(np.polyfit(columns, middles, 2), columns)
    return float(np.abs(middles - fitted).max()) <= DASH_WAVE * float(np.median(counts))


def _seen(
    box: tuple[int, int, int, int],
    digits: list[tuple[int, int, int, int]],
    before: int,
    height: float,
) -> bool:
    """A mark no sign, too large to pass unremarked or a raised point (MARK_SEEN), clear of
    the digits and before one of them (a full stop after the last digit is left out without a
    word)."""
    if not _clear(box, digits, before, height):
        return False
    raised = before > 0 and DASH_MIDDLE[0] <= _down(box, digits, before) <= DASH_MIDDLE[1]
    return max(box[2] - box[0], box[3] - box[1]) / height >= MARK_SEEN or raised


def _colon(
    box: tuple[int, int, int, int],
    dots: list[tuple[int, int, int, int]],
    digits: list[tuple[int, int, int, int]],
    before: int,
    height: float,
) -> str | None:
    """ ":" if the pair of dots with ink `box` (`dots`: each dot's box; the reader found them
    stacked) is a colon between two of the `digits` (see the module), else None."""
    if len(dots) != 2 or before == 0 or not _clear(box, digits, before, height):
        return None  # a colon stands between two digits: "12:30"
    upper, lower = sorted(dots, key=lambda dot: dot[1])
    return (
        ":"
        if COLON_UPPER[0] <= _down(upper, digits, before) <= COLON_UPPER[1]
        and COLON_LOWER[0] <= _down(lower, digits, before) <= COLON_LOWER[1]
        else None
    )


def stacked_dots(boxes: list[tuple[int, int, int, int]], height: float) -> bool:
    """Whether these ink boxes (left, top, right, bottom) are a colon's two dots, whatever
    their place: two, each as small and round as a point, one above the other with clear
    space between (COLON_GAP) and their centres nearly in one column (COLON_ALIGN). The reader
    asks this before it knows the digits (inference.reading: such a pair is no digit)."""
    if len(boxes) != 2 or height <= 0:
        return False
    upper, lower = sorted(boxes, key=lambda box: box[1])
    across = abs((upper[0] + upper[2]) - (lower[0] + lower[2])) / 2 / height
    return (
        all(_dot_sized(box, height, COLON_DOT) for box in boxes)
        and (lower[1] - upper[3]) / height >= COLON_GAP
        and across <= COLON_ALIGN
    )


def _dot_sized(box: tuple[int, int, int, int], height: float, most: float = POINT_MAX) -> bool:
    """At most `most` heights across and as round as a decimal point (POINT_ROUND), wherever
    it is."""
    width, tall = (box[2] - box[0]) / height, (box[3] - box[1]) / height
    return max(width, tall) <= most and max(width, tall) <= POINT_ROUND * max(
        min(width, tall), 1e-9
    )


def _clear(
    box: tuple[int, int, int, int],
    digits: list[tuple[int, int, int, int]],
    before: int,
    height: float,
) -> bool:
    """Before a digit, with clear space (CLEAR) to it and to the digit on its left, if any."""
    if before >= len(digits):
        return False
    gaps = [digits[before][0] - box[2]] + ([box[0] - digits[before - 1][2]] if before else [])
    return all(gap / height >= CLEAR for gap in gaps)


def _down(
    box: tuple[int, int, int, int], digits: list[tuple[int, int, int, int]], before: int
) -> float:
    """How far down the neighbouring digits' height the centre of `box` lies (0 at their top,
    1 at their bottom; a slanted line moves the band; a mark before the first digit takes the
    first two digits: one short digit is no baseline)."""
    near = (0, 1) if before == 0 else (before - 1, before)
    neighbours = [digits[i] for i in near if i < len(digits)]
    band_top = float(np.mean([digit[1] for digit in neighbours]))
    band_bottom = float(np.mean([digit[3] for digit in neighbours]))
    return ((box[1] + box[3]) / 2 - band_top) / max(band_bottom - band_top, 1.0)


def _dot_boxes(mark: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The box (left, top, right, bottom) of each separate piece of a mark's ink (8-connected,
    as the reader's pieces)."""
    labels, _ = ndimage.label(mark, structure=np.ones((3, 3), bool))
    return [
        (cols.start, rows.start, cols.stop, rows.stop)
        for rows, cols in ndimage.find_objects(labels)
    ]


def digits_of(number: str) -> str:
    """The digits of a number as read or written, its signs left out ("-12.5" -> "125")."""
    return "".join(c for c in number if c.isdigit())
