"""Doubts from where a read number's digits stand, after the reader has cut them out.

The reader reads one line of digits. Ink laid out otherwise was read as if it were one, and
sure (a walkthrough's hand-drawn images; docs/reading.md, "Numbers as people write them"):

- two numbers far apart on a line ("42" and "17", eleven digit heights apart) read a sure
  4217: clear space wider than FAR_APART digit heights between two digits is a doubt;
- a small digit high above the line (a power, 5², or a degree sign, 25°, whose ring reads
  as a 0) read a sure 52 or 250: a digit at most RAISED_SIZE of its neighbours' height whose
  bottom stands RAISED_LIFT of it above theirs is a doubt;
- two numbers on two rows, set diagonally: a digit with no row in common with the digit
  before it is a doubt.

The limits were written down before any check, far from what synth's numbers draw (gaps of at
most half a height, sizes within 0.85-1.15 and baselines within 0.12 of a height of each
other); validation numbers of every kind read as before (docs/reading.md gives the count).
"""

from __future__ import annotations

import itertools

Box = tuple[int, int, int, int]  # (left, top, right, bottom)

FAR_APART = 2.0
RAISED_SIZE = 0.7
RAISED_LIFT = 0.35


def layout_doubt(boxes: list[Box], digit_height: float) -> str | None:
    """Why the digits with these ink boxes (left to right) may be no one number on one line,
    if they may be; `digit_height`: the number's (the median height of its pieces)."""
    if len(boxes) < 2 or digit_height <= 0:
        return None
    for i, (one, other) in enumerate(itertools.pairwise(boxes)):
        if (other[0] - one[2]) > FAR_APART * digit_height:
            return f"a wide space after digit {i + 1}: two numbers, not one?"
        if other[1] >= one[3] or one[1] >= other[3]:
            return f"digits {i + 1} and {i + 2} share no row: two lines, not one?"
    for i, box in enumerate(boxes):  # by its neighbours: a number of two has no median
        neighbours = [boxes[j] for j in (i - 1, i + 1) if 0 <= j < len(boxes)]
        baseline = sum(near[3] for near in neighbours) / len(neighbours)
        tall = sum(near[3] - near[1] for near in neighbours) / len(neighbours)
        if box[3] - box[1] <= RAISED_SIZE * tall and baseline - box[3] >= RAISED_LIFT * tall:
            return f"digit {i + 1} is small and raised: a power, or a degree sign?"
    return None
