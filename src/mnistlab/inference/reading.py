"""Reading a written number on one line: find the ink, cut it into digits, classify each.

Cutting: connected pieces of ink (8-connected) are the candidates. Pieces that overlap
horizontally belong to one digit (a 5 whose bar was lifted, a 4 in two strokes); dots and dashes
far smaller than the digits are left out. A piece much wider than the digits are tall is
probably touching digits: cuts are tried at the columns where the ink is thinnest, and a cut is
kept when the classifier is surer of the parts (product of their probabilities) than of the
whole, recursively.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from mnistlab.inference.images import DEFAULT_MAX_PIXELS, ImageSource, open_image, to_gray
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.preprocess import NoDigitError, field_from_ink, find_ink

INK_LEVEL = 0.25  # ink values above this form the pieces
SPECK = 0.08  # pieces whose height is below this share of the tallest digit's are left out
DASH = 0.4  # ...and those flatter than this share of it (a hyphen, a decimal point)
WIDE = 0.75  # a piece wider than this many times its height may be several digits
EDGE = 0.12  # cuts leave at least this many heights of ink on either side (a 1 is narrow)
WIDTH_PRIOR = 4.0  # log-odds per unit of width/height beyond one digit's (or short of two)
ONE_DIGIT = 1.2  # width/height above which a piece is less and less likely one digit
TWO_DIGITS = 1.0  # ...and below which, less and less likely two
CUTS = 6  # cut paths tried per piece
DRIFT = 0.3  # a cut may wander this many heights left or right of where it starts
STRAIGHT = 0.002  # cost per column of wandering: among equal cuts, the straighter
JOINED = 1.15  # ...if together they are no wider than this many heights
CLOSE = 0.3  # neighbours closer than this many digit heights may be one digit in two strokes
MAX_DIGITS = 32


@dataclass(frozen=True)
class ReadDigit:
    box: tuple[int, int, int, int]  # (left, top, right, bottom) in the source image
    digit: int | None  # None when the model is not sure it is a digit
    guess: int  # the most probable digit, also when not sure
    confidence: float  # the probability of `guess`
    reason: str | None  # why `digit` is None
    pixels: np.ndarray = field(repr=False)  # the 28x28 field the model saw

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "digit": self.digit,
            "guess": self.guess,
            "confidence": self.confidence,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Reading:
    """The best reading, left to right. A piece the model is not sure is a digit still gives
    its best guess to `number` (a meter reading with one smudged digit is still worth having),
    but `sure` is then False and that digit's `digit` is None, with the reason."""

    number: str
    digits: list[ReadDigit]

    @property
    def sure(self) -> bool:
        return all(d.digit is not None for d in self.digits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "sure": self.sure,
            "digits": [d.to_dict() for d in self.digits],
        }


def read_number(
    predictor: Predictor, source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Reading:
    """Read the number written in an image (path, bytes, file object or PIL image).

    Raises ImageError for unreadable input and NoDigitError when there is no ink."""
    ink = find_ink(to_gray(open_image(source, max_pixels)))
    pieces = _pieces(ink.values)
    if not pieces:
        raise NoDigitError()
    cutter = _Cutter(predictor, ink.values)
    pieces = cutter.merge(pieces)
    spans: list[tuple[int, int, np.ndarray]] = []
    digit_height = float(np.median([_height(mask) for _, _, mask in pieces]))  # this number's
    for left, right, mask in pieces:
        spans.extend(cutter.split(left, right, mask, digit_height))
    spans = spans[:MAX_DIGITS]
    fields = [field_from_ink(np.where(mask, ink.values, 0.0)) for _, _, mask in spans]
    predictions = predictor.predict_pixels(np.stack(fields))
    digits = []
    for (_, _, mask), pixels, prediction in zip(spans, fields, predictions, strict=True):
        rows, cols = np.nonzero(mask)
        box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        source_box = tuple(int(round(v * ink.scale)) for v in box)
        digits.append(
            ReadDigit(
                source_box,  # type: ignore[arg-type]
                prediction.digit,
                prediction.guess,
                prediction.confidence,
                prediction.reason,
                pixels,
            )
        )
    number = "".join(str(d.guess) for d in digits)
    return Reading(number, digits)


def _pieces(values: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(left, right, mask) per digit candidate, left to right."""
    labels, count = ndimage.label(values > INK_LEVEL, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    # faint anti-aliased edges belong to the piece they touch
    grown = ndimage.grey_dilation(labels, size=(3, 3)) * (values > 0)
    slices = ndimage.find_objects(labels)
    tallest = max(s[0].stop - s[0].start for s in slices)
    groups: list[list[int]] = []  # label numbers, merged when they overlap horizontally
    spans: list[tuple[int, int]] = []
    order = sorted(range(count), key=lambda i: slices[i][1].start)
    for i in order:
        rows, cols = slices[i]
        height = rows.stop - rows.start
        if height < SPECK * tallest:
            continue
        left, right = cols.start, cols.stop
        if groups:
            last_left, last_right = spans[-1]
            overlap = min(right, last_right) - max(left, last_left)
            if overlap > 0.5 * min(right - left, last_right - last_left):
                groups[-1].append(i + 1)
                spans[-1] = (min(left, last_left), max(right, last_right))
                continue
        groups.append([i + 1])
        spans.append((left, right))
    pieces = []
    for members, (left, right) in zip(groups, spans, strict=True):
        mask = np.isin(grown, members)
        rows = np.nonzero(mask.any(axis=1))[0]
        if rows.size == 0 or (rows[-1] - rows[0] + 1) < DASH * tallest:
            continue
        pieces.append((left, right, mask))
    return pieces


class _Cutter:
    """Splits a piece into digits where the classifier is surest."""

    def __init__(self, predictor: Predictor, values: np.ndarray):
        self.predictor = predictor
        self.values = values

    def merge(self, pieces: list[tuple[int, int, np.ndarray]]) -> list[tuple[int, int, np.ndarray]]:
        """Join neighbours that are close and together no wider than a digit, when the
        classifier is surer of the join than of the two apart (a stroke lifted off the page)."""
        if len(pieces) < 2:
            return pieces
        tallest = max(_height(mask) for _, _, mask in pieces)
        out = [pieces[0]]
        for left, right, mask in pieces[1:]:
            last_left, last_right, last_mask = out[-1]
            gap = left - last_right
            if gap < CLOSE * tallest and max(right, last_right) - last_left <= JOINED * tallest:
                joined = last_mask | mask
                apart, together = self._confidence([last_mask, mask]), self._confidence([joined])
                if together[0] > apart[0] * apart[1]:
                    out[-1] = (last_left, max(right, last_right), joined)
                    continue
            out.append((left, right, mask))
        return out

    def split(
        self, left: int, right: int, mask: np.ndarray, digit_height: float
    ) -> list[tuple[int, int, np.ndarray]]:
        height = _height(mask)
        if right - left <= WIDE * height:
            return [(left, right, mask)]
        parts_list = []
        for path in self._cut_paths(left, right, mask, height):
            columns = np.arange(mask.shape[1])[None, :]
            before = columns < path[:, None]
            a, b = mask & before, mask & ~before
            if a.any() and b.any():
                parts_list.append((a, b))
        if not parts_list:
            return [(left, right, mask)]
        whole = self._confidence([mask])[0]
        scores = self._confidence([m for pair in parts_list for m in pair])
        products = [scores[2 * k] * scores[2 * k + 1] for k in range(len(parts_list))]
        best = int(np.argmax(products))
        # The classifier's word, weighed by shape: MNIST's digits are 0.4-1.18 times as wide
        # as tall (5th-95th percentile, median 0.8), so a wider piece is rarely one digit and
        # a narrower one rarely two.
        aspect = (right - left) / max(digit_height, 1.0)
        keep = np.log(max(whole, 1e-9)) - WIDTH_PRIOR * max(0.0, aspect - ONE_DIGIT)
        cut = np.log(max(products[best], 1e-9)) - WIDTH_PRIOR * max(0.0, TWO_DIGITS - aspect)
        if cut <= keep:
            return [(left, right, mask)]
        a, b = parts_list[best]
        return self.split(*_columns(a), a, digit_height) + self.split(*_columns(b), b, digit_height)

    def _cut_paths(self, left: int, right: int, mask: np.ndarray, height: int) -> list[np.ndarray]:
        """Cuts from the top of the piece to its bottom that cross as little ink as they can:
        for each of the columns where the ink is thinnest, the cheapest path that starts near
        it and moves at most one column per row (so it can pass round a stroke that leans over
        its neighbour, where a straight cut would slice both). Each path is one column per row
        of the image (the left part is the ink left of it)."""
        ink = np.where(mask, self.values, 0.0)
        margin = int(EDGE * height)
        if right - left <= 2 * margin:
            return []
        profile = ink[:, left:right].sum(axis=0)[margin : right - left - margin]
        starts: list[int] = []
        for index in np.argsort(profile, kind="stable"):
            column = left + margin + int(index)
            if all(abs(column - c) > height * 0.1 for c in starts):
                starts.append(column)
            if len(starts) == CUTS:
                break
        rows = np.nonzero(mask.any(axis=1))[0]
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        band = max(2, int(DRIFT * height))
        paths = []
        for start in starts:
            lo, hi = max(left + 1, start - band), min(right - 1, start + band + 1)
            if hi <= lo:
                continue
            cost = ink[top:bottom, lo:hi] + STRAIGHT * np.abs(np.arange(lo, hi) - start)[None, :]
            path = _cheapest_path(cost) + lo
            full = np.full(mask.shape[0], start)
            full[top:bottom] = path
            full[:top], full[bottom:] = path[0], path[-1]
            paths.append(full)
        return paths

    def _confidence(self, masks: list[np.ndarray]) -> list[float]:
        fields = []
        for mask in masks:
            try:
                fields.append(field_from_ink(np.where(mask, self.values, 0.0)))
            except NoDigitError:
                fields.append(np.zeros((28, 28), np.uint8))
        probabilities = self.predictor.probabilities(np.stack(fields))
        return [float(p.max()) for p in probabilities]


def _height(mask: np.ndarray) -> int:
    rows = np.nonzero(mask.any(axis=1))[0]
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def read_files(
    predictor: Predictor, inputs, max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[dict[str, Any]]:
    """One dict per image file: path, status ("ok", "no_digit", "unreadable"), number (a
    string, or None), sure, digits (box, digit, guess, confidence, reason each) and error. A
    bad file never stops the others."""
    from mnistlab.inference.batch import each_file

    def read(path, entry: dict[str, Any]) -> None:
        entry.update(read_number(predictor, path, max_pixels).to_dict())

    return each_file(inputs, {"number": None, "sure": None, "digits": []}, read)


def _columns(mask: np.ndarray) -> tuple[int, int]:
    cols = np.nonzero(mask.any(axis=0))[0]
    return int(cols[0]), int(cols[-1]) + 1


def _cheapest_path(cost: np.ndarray) -> np.ndarray:
    """The column per row of the cheapest top-to-bottom path through `cost` (rows, columns)
    that moves at most one column from one row to the next (dynamic programming)."""
    rows, width = cost.shape
    total = cost[0].copy()
    came = np.zeros((rows, width), dtype=np.int64)
    for r in range(1, rows):
        shifted = np.stack(
            [np.r_[np.inf, total[:-1]], total, np.r_[total[1:], np.inf]]
        )  # from the left, straight above, from the right
        step = np.argmin(shifted, axis=0)
        total = shifted[step, np.arange(width)] + cost[r]
        came[r] = np.arange(width) + step - 1
    path = np.empty(rows, dtype=np.int64)
    path[-1] = int(np.argmin(total))
    for r in range(rows - 1, 0, -1):
        path[r - 1] = came[r, path[r]]
    return path
