"""Reading a written number on one line: find the ink, cut it into digits, classify each.

Cutting: connected pieces of ink (8-connected) are the candidates. Pieces that overlap
horizontally belong to one digit (a 5 whose bar was lifted, a 4 in two strokes); specks are left
out, and a mark too flat to be a digit (a dash, or a 7's bar written apart from its stem) goes
to the neighbour that is likelier one digit with it, or is left out. A piece wider than the
digits are tall may be touching digits: cut paths are found along lines at several slants
where the ink is thinnest, and of all the chains of cuts (none included) the one kept is the
one whose parts are likeliest digits together: the classifier's log-probabilities summed,
weighed by the parts' shapes and by a small network's judgement of whether each part is exactly
one digit (inference.one_digit), with a small bonus per part (dynamic programming over the
cuts, left to right). Close pieces are joined when the join is likelier one digit than the two
are two, against a prior that pieces with clear space between them are two digits.

The reading is then judged as a whole (inference.whole, calibration.rule.string_not_sure):
under the model's ReadingRule it is "sure" only when the calibrated probability that the whole
string is right reaches the rule's threshold; otherwise its weakest digits are marked "?".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from typing_extensions import NotRequired, TypedDict  # pydantic needs these on Python < 3.12

from mnistlab.calibration.detector import SHA256 as DETECTOR_SHA256
from mnistlab.calibration.rule import StringVerdict, string_not_sure
from mnistlab.calibration.types import EVIDENCE, ReadingRule
from mnistlab.errors import CheckpointError
from mnistlab.inference.field import INK_LEVEL, NoDigitError, field_from_ink, ink_box
from mnistlab.inference.images import (
    DEFAULT_MAX_PIXELS,
    SOURCE_SCALE,
    ImageSource,
    open_with_detail,
    to_gray,
)
from mnistlab.inference.layout import layout_doubt
from mnistlab.inference.one_digit import (
    OneDigitNet,
    one_digit_log_odds,
    part_shape,
    shipped_one_digit,
)
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.preprocess import find_line_ink
from mnistlab.inference.signs import POINT_ROUND, Sign, SignDict, find_signs, stacked_dots
from mnistlab.inference.whole import digit_evidence, log_sigmoid, neighbours_agreeing

SPECK = 0.08  # pieces whose height is below this share of the tallest digit's are left out
SPECK_DASH = 0.2  # ...unless at least this share long: a thin minus sign (inference.signs)
BOLD = 0.8  # ...or a round dot, in columns of its own, its half-width at least this share of
# the strokes': a fine pen's decimal point or colon ("4.25" was a sure 425); noise, dust and
# JPEG specks are thinner than the pen, and a digit's own specks lie in its columns
DASH = 0.4  # ...and those flatter than this are marks, not digits (a hyphen, a decimal point,
# a 7's bar written apart): _Cutter.attach gives a mark to a neighbour or leaves it out
# Below, "heights" are the number's digit height: the median height of its pieces.
WIDE = 0.55  # a piece wider than this many heights may be several digits (a 1 pressed
# against a 6 can be only 0.6 heights wide; the one-digit network keeps single digits whole)
EDGE = 0.12  # cuts leave at least this many heights of ink on either side (a 1 is narrow)
WIDTH_PRIOR = 4.0  # log-odds against a part per height of width beyond ONE_DIGIT
ONE_DIGIT = 1.2  # width (in heights) above which a part is less and less likely one digit
HEIGHT_PRIOR = 8.0  # log-odds against a part per height it is shorter than SHORT
SHORT = 0.85  # parts less tall than this (a 9's head, a 7's bar) are rarely a digit; the
# digits of one number differ by up to ~0.75x in height (the "jitter" numbers)
CUTS = 18  # cut paths kept per piece (and lines tried per slant); with 14, the cut that
# parts two touching digits was missing in ~10% of touching pairs (validation numbers)
SLANTS = (-0.3, 0.0, 0.3, 0.6)  # columns per row the cut lines lean (right: top to the right)
DRIFTS = (0.1, 0.3)  # a cut may wander this many heights left or right of its line: far, to
# pass round a stroke, or only a little, so that it cannot go round the whole ink of one of
# two leaning digits pressed together (the cheapest path, crossing nothing, parting nothing)
DIFFERENT = 0.02  # cuts that part less than this share of the ink differently are one cut
WIDEST = 1.6  # parts wider than this many heights are not classified (the whole piece is)
STRAIGHT = 0.002  # cost per column of wandering: among equal cuts, the straighter
JOINED = 1.15  # ...if together they are no wider than this many heights
CLOSE = 0.3  # neighbours closer than this many digit heights may be one digit in two strokes
TOO_FAINT = (
    "ink of a digit's height beside the number was too faint to read: a digit written very "
    "lightly, or one rubbed out?"
)
MAX_DIGITS = 32  # a longer number is read this far, and not sure (unless --no-reject)
ONE_DIGIT_WEIGHT = 1.0  # the one-digit network's log-probability counts this much
PART_BONUS = 0.3  # log-odds for each part of a reading: scores are log-probabilities (<= 0), so
# without it every extra part costs, and two touching digits read as one confident digit win
BONUS_PARTS = 3  # the pruning below is exact for chains of up to this many parts
GAP_PRIOR = 40.0  # log-odds against joining two pieces per digit height of clear space between
# them: the one-digit network doubts a lone 1 (log P -2 to -5), so a 1 beside a 6 was joined
# to it across a gap (jitter numbers, "617483" read "67483"). Lifted strokes mostly overlap
# (joined by _pieces). Both chosen on validation numbers of the fit kinds (seed 2602, 150 per
# kind: whole strings right 416 -> 428 of 450, of 13 settings), confirmed on seeds 200 and 201
# (558 -> 564 and 567 -> 574 of 600; no kind worse): docs/reading.md


Pieces = list[tuple[int, int, np.ndarray]]  # (left, right, mask) of ink, left to right


class ReadDigitDict(TypedDict):
    """One digit of a reading as JSON: the one definition of its fields (ReadDigit.to_dict
    makes it; the server's OpenAPI schema is generated from it)."""

    box: list[int]
    """[left, top, right, bottom] in the image's pixels"""
    digit: int | None
    """the digit; null when the model is not sure"""
    guess: int
    """the most probable digit, also when not sure"""
    confidence: float
    """probability of `guess`"""
    reason: str | None
    """why `digit` is null, if it is"""


class ReadingDict(TypedDict):
    """A reading as JSON (Reading.to_dict; the server adds `message`)."""

    number: str | None
    """the best reading, left to right; null: no ink"""
    sure: bool | None
    """false when any digit is not sure, or the whole string is not (its digits together, or
    signs no number has: two decimal points, two signs side by side, a point before the first
    digit, two dots stacked where no colon stands, a comma, a mark that is no sign read here;
    or digits far apart or on two rows, a small raised digit, a digit's trace too faint to
    read; or more than 32 digits, of which the first 32 are read); null: no ink"""
    digits: list[ReadDigitDict]
    """one entry per digit, left to right"""
    marked: str | None
    """`number` with each digit that is not sure as "?" ("48?1"); null: no ink"""
    signs: list[SignDict]
    """a minus sign, a decimal point and a colon found among the digits, left to right (also
    in `number`)"""
    confidence: float | None
    """calibrated probability that the whole string's digits are right (its signs are judged
    by shape, without a probability); null: no ink, or the model has no string rule
    (calibration.reading)"""
    reason: str | None
    """why `sure` is false, if it is"""
    message: NotRequired[str | None]
    """(server) why there is no number, if so"""


# pydantic (the server's schema) reads each field's description from the string under it
ReadDigitDict.__pydantic_config__ = ReadingDict.__pydantic_config__ = {  # type: ignore[attr-defined]
    "use_attribute_docstrings": True
}


@dataclass(frozen=True)
class ReadDigit:
    box: tuple[int, int, int, int]  # (left, top, right, bottom) in the source image
    digit: int | None  # None when the model is not sure it is a digit
    guess: int  # the most probable digit, also when not sure
    confidence: float  # the probability of `guess`
    reason: str | None  # why `digit` is None
    pixels: np.ndarray = field(repr=False)  # the 28x28 field the model saw

    def to_dict(self) -> ReadDigitDict:
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
    verdict: StringVerdict = StringVerdict(None, ())  # the whole string's
    evidence: np.ndarray = field(default_factory=lambda: np.zeros((0, EVIDENCE)), repr=False)
    # (N, EVIDENCE) per digit: log P(guess), log P(one digit), log P(a digit), log P(the
    # segmentation), -1 if cut out of touching ink, -1 if unlike its neighbours (inference.whole)
    signs: tuple[Sign, ...] = ()  # minus signs, points, colons: also in `number` and `marked`
    doubt: str | None = None  # why the signs make the reading not sure, if they do

    @property
    def sure(self) -> bool:
        return self.doubt is None and all(d.digit is not None for d in self.digits)

    @property
    def marked(self) -> str:
        """The number with each digit that is not sure as "?"."""
        return with_signs(
            [str(d.digit) if d.digit is not None else "?" for d in self.digits], self.signs
        )

    @property
    def reason(self) -> str | None:
        """Why the reading is not sure: the signs' doubt or the whole string's first, else the
        first doubtful digit's reason."""
        if self.sure:
            return None
        if self.doubt is not None:
            return self.doubt
        verdict = self.verdict
        if verdict.confidence is not None and verdict.confidence < (verdict.threshold or 0.0):
            return string_reason(verdict)
        first = next(d for d in self.digits if d.digit is None)
        return f"digit {self.digits.index(first) + 1}: {first.reason}"

    def to_dict(self) -> ReadingDict:
        return {
            "number": self.number,
            "sure": self.sure,
            "digits": [d.to_dict() for d in self.digits],
            "marked": self.marked,
            "signs": [sign.to_dict() for sign in self.signs],
            "confidence": self.verdict.confidence,
            "reason": self.reason,
        }


def with_signs(characters: list[str], signs: list[Sign] | tuple[Sign, ...]) -> str:
    """One character per digit, with each sign (left to right) before the digit it stands
    before."""
    out = []
    for i, character in enumerate([*characters, ""]):
        out += [sign.sign for sign in signs if sign.before == i]
        out.append(character)
    return "".join(out)


def no_reading() -> ReadingDict:
    """The answer where no ink was found (the server adds its message): a new dict each time,
    its lists the caller's own."""
    return {
        "number": None,
        "sure": None,
        "digits": [],
        "marked": None,
        "signs": [],
        "confidence": None,
        "reason": None,
    }


def string_reason(verdict: StringVerdict) -> str:
    return (
        f"the whole number is not sure (probability it is right {verdict.confidence:.3g}, "
        f"below {verdict.threshold:.3g})"
    )


def read_number(
    predictor: Predictor, source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Reading:
    """Read the number written in an image (path, bytes, file object or PIL image).

    Raises ImageError for unreadable input and NoDigitError when there is no ink."""
    opened = open_with_detail(source, max_pixels)
    image, detail = opened.image, opened.detail
    ink = find_line_ink(to_gray(image), detail)
    # boxes in the file's pixels, also when a large image was decoded reduced
    decoded = image.info.get(SOURCE_SCALE, 1.0)
    pieces, marks, dashes, pairs = _pieces_and_marks(ink.values)
    if not pieces:
        raise NoDigitError()
    cutter = _Cutter(predictor, ink.values, shipped_one_digit())
    pieces, attach_log_p, left_out = cutter.attach(pieces, marks)
    pieces, merged = cutter.merge(pieces, attach_log_p)
    spans: list[tuple[int, int, np.ndarray]] = []
    cut_log_p: list[float] = []  # per part: its share of the log-probability of its piece's
    # segmentation (attach's and merge's choices, and the count of digits cut from it)
    cut_out: list[bool] = []  # per part: cut from a piece that held several digits
    digit_height = float(np.median([_height(mask) for _, _, mask in pieces]))  # this number's
    for (left, right, mask), joined in zip(pieces, merged, strict=True):
        parts, count_log_p = cutter.split(left, right, mask, digit_height)
        spans.extend(parts)
        cut_log_p.extend([(joined + count_log_p) / len(parts)] * len(parts))
        cut_out.extend([len(parts) > 1] * len(parts))
    cropped = len(spans) > MAX_DIGITS  # read, but not sure: "777...7" of 34 is no 32 sevens
    spans, cut_log_p, cut_out = spans[:MAX_DIGITS], cut_log_p[:MAX_DIGITS], cut_out[:MAX_DIGITS]
    fields = [field_from_ink(np.where(mask, ink.values, 0.0)) for _, _, mask in spans]
    predictions = predictor.predict_pixels(np.stack(fields))
    masks = [mask for _, _, mask in spans]
    evidence = digit_evidence(
        np.array([p.confidence for p in predictions]),
        np.stack(fields),
        masks,
        digit_height,
        cutter.one_digit,
        np.array(cut_log_p),
        np.array(cut_out, bool),
        predictor.detector,
        neighbours_agreeing(predictor, np.stack(fields), np.array([p.guess for p in predictions])),
    )
    verdict = string_not_sure(
        reading_rule(predictor), evidence, np.array([p.digit is None for p in predictions])
    )

    def source_box(mask: np.ndarray) -> tuple[int, int, int, int]:
        rows, cols = np.nonzero(mask)
        box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        return tuple(int(round(v * decoded)) for v in ink.in_source(box))  # type: ignore[return-value]

    found = find_signs(
        ink.values,
        masks,
        [mask for _, _, mask in left_out + dashes],
        digit_height,
        [mask for _, _, mask in pairs],
    )
    signs = [Sign(source_box(mark.mask), mark.sign, mark.before) for mark in found.signs]
    digits = []
    for i, (mask, pixels, prediction) in enumerate(zip(masks, fields, predictions, strict=True)):
        doubted = i in verdict.doubtful and prediction.digit is not None
        digits.append(
            ReadDigit(
                source_box(mask),
                None if doubted else prediction.digit,
                prediction.guess,
                prediction.confidence,
                f"{string_reason(verdict)}; this digit is among its weakest"
                if doubted
                else prediction.reason,
                pixels,
            )
        )
    number = with_signs([str(d.guess) for d in digits], signs)
    doubt = (
        f"more than {MAX_DIGITS} digits: only the first {MAX_DIGITS} were read"
        if cropped
        else found.doubt
        or layout_doubt([ink_box(mask) for mask in masks], digit_height)
        or (TOO_FAINT if ink.traced else None)
    )
    doubt = doubt if predictor.reject else None  # --no-reject: every answer is wanted
    return Reading(number, digits, verdict, evidence, tuple(signs), doubt)


FIT_AGAIN = (
    "fit it again: mnistlab calibrate FOLDER (a shipped model: python "
    "scripts/calibrate_pretrained.py --reading-only NAME)"
)


def reading_rule(predictor: Predictor) -> ReadingRule | None:
    """The model's string rule, unless it has none or answers every digit (--no-reject);
    CheckpointError when it was fitted for another digit detector than the one shipped, or
    weighs other evidence than this mnistlab's reader brings (the server asks at start, so
    that such a model fails there, not on a client's number)."""
    calibration = predictor.meta.calibration
    if calibration is None or calibration.reading is None or not predictor.reject:
        return None
    rule = calibration.reading
    if rule.detector_sha256 and rule.detector_sha256 != DETECTOR_SHA256:
        raise CheckpointError(
            "the model's string rule for read numbers was fitted with another digit detector "
            f"than the one this mnistlab ships; {FIT_AGAIN}"
        )
    if len(rule.weights) == EVIDENCE - 1:
        # fitted before the neighbours' evidence (the last): the other five mean what they
        # meant then, and such a rule is one that does not weigh it (train.calibrate_reading
        # fits exactly that where the evidence does not help), so it reads as it did
        return dataclasses.replace(rule, weights=[*rule.weights, 0.0])
    if len(rule.weights) != EVIDENCE:
        raise CheckpointError(
            f"the model's string rule for read numbers weighs {len(rule.weights)} kinds of "
            f"evidence, this mnistlab's reader brings {EVIDENCE} (an older fit); {FIT_AGAIN}"
        )
    return rule


def _pieces(values: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(left, right, mask) per digit candidate, left to right."""
    return _pieces_and_marks(values)[0]


def _pieces_and_marks(values: np.ndarray) -> tuple[Pieces, Pieces, Pieces, Pieces]:
    """(left, right, mask) per digit candidate, left to right; and the same for each mark too
    flat to be a digit on its own (shorter than DASH of the tallest piece): a hyphen, or a
    stroke of a digit written apart (a 7's bar, a 5's flag), which _Cutter.attach weighs; and
    for each dash thinner than a speck but too long for one (SPECK_DASH), which only a minus
    sign can be (inference.signs; the cutter never sees them); and for each pair of dots one
    above the other (signs.stacked_dots), as tall as a digit but none: a colon, which only
    inference.signs weighs."""
    labels, count = ndimage.label(values > INK_LEVEL, structure=np.ones((3, 3), bool))
    if count == 0:
        return [], [], [], []
    # faint anti-aliased edges belong to the piece they touch
    grown = ndimage.grey_dilation(labels, size=(3, 3)) * (values > 0)
    slices = ndimage.find_objects(labels)
    tallest = max(s[0].stop - s[0].start for s in slices)
    groups: list[list[int]] = []  # label numbers, merged when they overlap horizontally
    spans: list[tuple[int, int]] = []
    dashes: Pieces = []
    order = sorted(range(count), key=lambda i: slices[i][1].start)
    specks: list[int] = []
    for i in order:
        rows, cols = slices[i]
        height = rows.stop - rows.start
        if height < SPECK * tallest:
            if cols.stop - cols.start >= SPECK_DASH * tallest:
                dashes.append((cols.start, cols.stop, grown == i + 1))
            else:
                specks.append(i)
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
    for members, span in _bold_dots(labels, slices, specks, spans):
        at = sum(1 for first, _ in spans if first < span[0])
        groups.insert(at, members)
        spans.insert(at, span)
    dotted = {i + 1 for i in specks}  # groups of a pen's dots: a sign or nothing, never a digit
    pieces, marks, pairs = [], [], []
    for members, (left, right) in zip(groups, spans, strict=True):
        mask = np.isin(grown, members)
        rows = np.nonzero(mask.any(axis=1))[0]
        if rows.size == 0:
            continue
        flat = (rows[-1] - rows[0] + 1) < DASH * tallest
        if flat:
            marks.append((left, right, mask))
        elif members[0] in dotted:
            pairs.append((left, right, mask))  # judged as a colon: more dots are no colon
        elif stacked_dots([_box(slices[member - 1]) for member in members], tallest):
            pairs.append((left, right, mask))  # as tall as a digit, but two dots
        else:
            pieces.append((left, right, mask))
    return pieces, marks, dashes, pairs


def _bold_dots(
    labels: np.ndarray,
    slices: list[tuple[slice, slice]],
    specks: list[int],
    spans: list[tuple[int, int]],
) -> list[tuple[list[int], tuple[int, int]]]:
    """The specks (indices into `slices`) that are a pen's dots, as groups of label numbers
    with their column span: each round (signs.POINT_ROUND) and as thick as the pen (its
    half-width at its centre at least BOLD of the strokes' half-width, the median of the
    pieces' 90th percentiles; `labels` numbered from 1), in columns no piece (`spans`)
    reaches; dots one above the other make one group (a colon). Fainter specks are dropped
    later, by their ink (inference.signs' SAME_PEN)."""

    def round_and_apart(i: int) -> bool:  # cheap: most specks stop here, before any depth
        left, top, right, bottom = _box(slices[i])
        long, short = max(bottom - top, right - left), min(bottom - top, right - left)
        # in columns of a digit's ink, a speck is a piece of it, or dust on it
        return long <= POINT_ROUND * short and not any(
            min(right, last) > max(left, first) for first, last in spans
        )

    candidates = [i for i in specks if round_and_apart(i)]
    if not candidates or not spans:
        return []

    def depths(i: int) -> np.ndarray:
        rows, cols = slices[i]
        own = np.pad(labels[rows, cols] == i + 1, 1)  # background all round: a speck filling
        # its box is no deeper than it is
        return ndimage.distance_transform_edt(own)[own]

    skipped = set(specks)
    pen = float(
        np.median([np.percentile(depths(i), 90) for i in range(len(slices)) if i not in skipped])
    )
    groups: list[tuple[list[int], tuple[int, int]]] = []
    for i in candidates:
        left, right = slices[i][1].start, slices[i][1].stop
        if float(depths(i).max()) < BOLD * pen:
            continue
        if groups and min(right, groups[-1][1][1]) > max(left, groups[-1][1][0]):
            members, (first, last) = groups[-1]
            groups[-1] = ([*members, i + 1], (min(first, left), max(last, right)))
        else:
            groups.append(([i + 1], (left, right)))
    return groups


def _box(found: tuple[slice, slice]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of ndimage.find_objects' (rows, columns) slices."""
    rows, cols = found
    return cols.start, rows.start, cols.stop, rows.stop


class _Cutter:
    """Splits a piece into digits where the classifier is surest."""

    def __init__(
        self,
        predictor: Predictor,
        values: np.ndarray,
        one_digit: OneDigitNet | None = None,
        cuts: int = CUTS,
    ):
        self.predictor = predictor
        self.values = values
        self.one_digit = one_digit
        self.cuts = cuts  # cut paths kept per piece (and lines tried per slant)

    def attach(self, pieces: Pieces, marks: Pieces) -> tuple[Pieces, list[float], Pieces]:
        """Give each flat mark to the neighbouring piece it belongs to, if any: a 7's bar or a
        5's flag written apart from the rest is too flat to be a digit, and left out it leaves
        a 7 read as a confident 1. A mark goes to the piece (may_join, as merge's neighbours)
        whose score as one digit (_part_scores) rises most with it, if it rises at all, against
        the prior for clear space between them (GAP_PRIOR, chosen for merge and not tuned
        again here); other marks are left out (a hyphen, a decimal point). Returns the pieces
        left to right, per piece the log-probability of the choices about its marks (a
        two-way softmax of the best rise, as merge's), and the marks left out."""
        chosen = [0.0] * len(pieces)
        if not pieces or not marks:
            return pieces, chosen, list(marks)
        tallest = max(_height(mask) for _, _, mask in pieces)
        pieces = list(pieces)
        left_out: Pieces = []
        for left, right, mark in marks:
            near = [
                i
                for i, (first, last, _) in enumerate(pieces)
                if may_join((first, last), (left, right), tallest)
            ]
            if not near:
                left_out.append((left, right, mark))
                continue
            masks = [pieces[i][2] for i in near]
            scores = self._part_scores(masks + [m | mark for m in masks], tallest)
            rises = [
                scores[len(near) + k]
                - scores[k]
                - GAP_PRIOR * _gap(pieces[i], (left, right)) / tallest
                for k, i in enumerate(near)
            ]
            best = int(np.argmax(rises))
            i, rise = near[best], rises[best]
            if rise > 0:
                first, last, mask = pieces[i]
                pieces[i] = (min(first, left), max(last, right), mask | mark)
                chosen[i] += float(log_sigmoid(rise))
            else:
                chosen[i] += float(log_sigmoid(-rise))  # the doubt of leaving it out
                left_out.append((left, right, mark))
        # a mark left of its piece moves the piece's left edge: merge() takes them in order
        order = sorted(range(len(pieces)), key=lambda i: pieces[i][0])
        return [pieces[i] for i in order], [chosen[i] for i in order], left_out

    def merge(
        self, pieces: list[tuple[int, int, np.ndarray]], priors: list[float]
    ) -> tuple[list[tuple[int, int, np.ndarray]], list[float]]:
        """Join neighbours (left to right) that are close and together no wider than a digit,
        when the join is likelier one digit than the two apart are two (a stroke lifted off the
        page): judged as the cuts are, by the classifier, the shape priors and the one-digit
        network together, since the classifier alone reads each half of a lifted 4 as a
        confident 1. Also, per piece kept, the log-probability of the choices that made it:
        `priors` (per piece given: attach's choices), plus for each join weighed, joined or
        left apart, a two-way softmax of the two scores."""
        if len(pieces) < 2:
            return pieces, list(priors)
        tallest = max(_height(mask) for _, _, mask in pieces)
        out, chosen = [pieces[0]], [priors[0]]
        for (left, right, mask), prior in zip(pieces[1:], priors[1:], strict=True):
            last_left, last_right, last_mask = out[-1]
            if may_join((last_left, last_right), (left, right), tallest):
                joined = last_mask | mask
                first, second, together = self._part_scores([last_mask, mask, joined], tallest)
                margin = together - (first + second) - PART_BONUS
                margin -= GAP_PRIOR * _gap((last_left, last_right), (left, right)) / tallest
                if margin > 0:
                    out[-1] = (last_left, max(right, last_right), joined)
                    chosen[-1] += prior + float(log_sigmoid(margin))
                    continue
                chosen[-1] += float(log_sigmoid(-margin))  # the doubt of leaving apart
            out.append((left, right, mask))
            chosen.append(prior)
        return out, chosen

    def split(
        self, left: int, right: int, mask: np.ndarray, digit_height: float
    ) -> tuple[list[tuple[int, int, np.ndarray]], float]:
        """The piece as one or more digits: of the chains of cuts through it (none included),
        the one whose parts the classifier and the shape priors like best together; and the
        log-probability that the piece holds that many digits (the chains' scores as
        log-odds, summed over the chains of each count)."""
        if right - left <= WIDE * digit_height:
            return [(left, right, mask)], 0.0
        # the same search within the piece's box: every part's mask and field is then small
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        first, stop = min(left, int(cols[0])), max(right, int(cols[-1]) + 1)
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(first, stop))
        inner = _Cutter(self.predictor, self.values[box], self.one_digit, self.cuts)
        found = []
        parts, count_log_p = inner._split_box(left - first, right - first, mask[box], digit_height)
        for part in parts:
            full = np.zeros_like(mask)
            full[box] = part
            found.append((*_columns(full), full))
        return found, count_log_p

    def _split_box(
        self, left: int, right: int, mask: np.ndarray, digit_height: float
    ) -> tuple[list[np.ndarray], float]:
        """split(), for a piece that fills this cutter's values: the parts' masks."""
        sides = self.sides(left, right, mask, digit_height)
        last = len(sides) - 1
        whole = self._part_scores([mask], digit_height)[0]
        # every part scores at most 0 (before its bonus), so a chain of k parts beats the whole
        # only if each of its parts scores above the whole less (k - 1) bonuses: other parts
        # cannot be in the best chain. The floor is exact for chains of up to BONUS_PARTS parts
        # (a piece of more touching digits than that is rare); with every cut's k it made
        # reading 1.6x slower, since few parts were left out unclassified
        floor = whole - PART_BONUS * (min(last, BONUS_PARTS) - 1)
        segments = candidate_parts(sides, digit_height, floor=floor)
        keys = list(segments)
        part_scores = self._part_scores([segments[k] for k in keys], digit_height, floor=floor)
        kept = [i for i, score in enumerate(part_scores) if score >= floor]
        keys = [keys[i] for i in kept]
        part_scores = [part_scores[i] + PART_BONUS for i in kept]
        scores = {**dict(zip(keys, part_scores, strict=True)), (0, last): whole + PART_BONUS}
        segments[0, last] = mask
        chain = _best_chain(scores, len(sides))
        return [segments[k] for k in chain], _count_log_posterior(scores, len(sides), len(chain))

    def sides(self, left: int, right: int, mask: np.ndarray, height: float) -> list[np.ndarray]:
        """The ink left of each cut through the piece, left to right; the piece's edges are
        cuts too: no ink lies left of the first, all left of the last."""
        return [np.zeros_like(mask), *self._cut_sides(left, right, mask, height), mask]

    def _cut_sides(
        self, left: int, right: int, mask: np.ndarray, height: float
    ) -> list[np.ndarray]:
        """The ink left of each of the cheapest cuts from the top of the piece to its bottom
        (crossing the least ink), left to right. Cuts are searched along lines at several
        slants (handwriting leans, and a leaning 1 pushed against a 7 is only parted by a
        slanted cut), each starting where its slant's projection of the ink is thinnest; along
        its line a cut may wander (so it can pass round a stroke), one column per row."""
        ink = np.where(mask, self.values, 0.0)
        rows = np.nonzero(mask.any(axis=1))[0]
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        lines = self._cut_lines(ink[top:bottom, left:right], height)
        columns = np.arange(mask.shape[1])[None, :]
        found: list[tuple[float, np.ndarray]] = []
        bands = [max(2, int(drift * height)) for drift in DRIFTS]
        piece = ink[top:bottom, left:right]
        costs = np.stack([_band_cost(piece, centre, band) for centre in lines for band in bands])
        for cost, path in zip(costs, _cheapest_paths(costs), strict=True):
            crossed = float(cost[np.arange(len(path)), path].sum())
            if not np.isfinite(crossed):
                continue
            full = np.empty(mask.shape[0], dtype=np.int64)
            full[top:bottom] = path + left
            full[:top], full[bottom:] = full[top], full[bottom - 1]
            found.append((crossed, mask & (columns < full[:, None])))
        kept: list[np.ndarray] = []
        least = max(1, int(DIFFERENT * mask.sum()))
        for _, side in sorted(found, key=lambda item: item[0]):
            if not side.any() or (side == mask).all():
                continue  # it went round the ink
            if all((side ^ other).sum() >= least for other in kept):
                kept.append(side)
            if len(kept) == self.cuts:
                break
        return sorted(kept, key=lambda side: int(side.sum()))

    def _cut_lines(self, ink: np.ndarray, height: float) -> list[np.ndarray]:
        """Centre lines (a column per row of `ink`) for cuts: per slant, where the ink
        projected along that slant is thinnest, at least EDGE heights from either end."""
        rows, width = ink.shape
        margin = int(EDGE * height)
        if width <= 2 * margin:
            return []
        rise = np.arange(rows) - (rows - 1) / 2  # rows above the middle are negative
        reach = int(np.ceil(max(abs(s) for s in SLANTS) * rows / 2))
        padded = np.pad(ink, ((0, 0), (reach, reach)))
        lines = []
        for slant in SLANTS:
            shift = np.rint(-slant * rise).astype(int)  # a right-leaning line: top to the right
            # profile[c]: the ink on the line through column c at mid-height
            profile = sum(
                padded[r, reach + shift[r] : reach + shift[r] + width] for r in range(rows)
            )
            starts: list[int] = []
            for index in np.argsort(profile[margin : width - margin], kind="stable"):
                column = margin + int(index)
                if all(abs(column - c) > height * 0.1 for c in starts):
                    starts.append(column)
                if len(starts) == self.cuts:
                    break
            lines.extend(start + shift for start in starts)
        return lines

    def _part_scores(
        self, masks: list[np.ndarray], digit_height: float, floor: float = -np.inf
    ) -> list[float]:
        """How likely each part is one digit, as a log-probability: the classifier's confidence,
        weighed by shape and by the one-digit network. MNIST's digits are 0.4-1.18 times as
        wide as tall (5th-95th percentile, median 0.8) and the digits of one number are about
        as tall as each other, so a part much wider than the number's digits are tall is rarely
        one digit, and a part much shorter is rarely one (a 7's bar cut off is read as a 1 with
        confidence). Two touching digits or half a digit are often read as one digit with
        confidence too: the one-digit network tells them apart. Parts whose shape and network
        scores alone fall below `floor` are not classified (their score is below it too)."""
        if not masks:
            return []
        fields = self._fields(masks)
        scores = np.array([_shape_prior(mask, digit_height) for mask in masks])
        if self.one_digit is not None:
            shapes = [part_shape(mask, digit_height) for mask in masks]
            odds = one_digit_log_odds(self.one_digit, fields, np.array(shapes))
            scores += ONE_DIGIT_WEIGHT * log_sigmoid(odds)  # log P(one digit)
        # the classifier's log-probability is at most 0: only parts still above `floor` need it
        worth = np.flatnonzero(scores >= floor)
        if worth.size:
            confidence = self.predictor.probabilities(fields[worth]).max(axis=1)
            scores[worth] += np.log(np.maximum(confidence, 1e-9))
        return [float(score) for score in scores]

    def _fields(self, masks: list[np.ndarray]) -> np.ndarray:
        """(N, 28, 28) uint8: each part as the classifier sees it."""
        fields = []
        for mask in masks:
            try:
                fields.append(field_from_ink(np.where(mask, self.values, 0.0)))
            except NoDigitError:
                fields.append(np.zeros((28, 28), np.uint8))
        return np.stack(fields)


def candidate_parts(
    sides: list[np.ndarray], digit_height: float, floor: float = -np.inf
) -> dict[tuple[int, int], np.ndarray]:
    """The parts between cuts i < j (the whole piece left out) that may be one digit: not
    empty, not wider than WIDEST, not crossing another cut, and with a shape prior of at
    least `floor`."""
    last = len(sides) - 1
    parts: dict[tuple[int, int], np.ndarray] = {}
    for i in range(last):
        for j in range(i + 1, last + 1):
            if (i, j) == (0, last) or (sides[i] & ~sides[j]).any():
                continue  # crossing cuts would share ink
            part = sides[j] & ~sides[i]
            if not part.any() or np.ptp(np.nonzero(part)[1]) >= WIDEST * digit_height:
                continue
            if _shape_prior(part, digit_height) >= floor:
                parts[i, j] = part
    return parts


def _shape_prior(mask: np.ndarray, digit_height: float) -> float:
    """The log-odds (0 or less) that a part so wide and so tall is one of the number's digits."""
    left, right = _columns(mask)
    width = (right - left) / max(digit_height, 1.0)
    height = _height(mask) / max(digit_height, 1.0)
    return -WIDTH_PRIOR * max(0.0, width - ONE_DIGIT) - HEIGHT_PRIOR * max(0.0, SHORT - height)


def _height(mask: np.ndarray) -> int:
    rows = np.nonzero(mask.any(axis=1))[0]
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def read_files(
    predictor: Predictor, inputs, max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[dict[str, Any]]:
    """One dict per image file: path, status ("ok", "no_digit", "unreadable"), number (a
    string, or None), sure, digits (box, digit, guess, confidence, reason each), marked,
    confidence, reason (ReadingDict) and error. A bad file never stops the others."""
    from mnistlab.inference.batch import each_file

    def read(path, entry: dict[str, Any]) -> None:
        entry.update(read_number(predictor, path, max_pixels).to_dict())

    return each_file(inputs, dict(no_reading()), read)


def may_join(one: tuple[int, int], other: tuple[int, int], tallest: float) -> bool:
    """Whether merge() weighs joining two neighbouring pieces, or attach() a mark to a piece
    (their left and right columns, in either order): closer than CLOSE, and together no wider
    than JOINED."""
    return _gap(one, other) < CLOSE * tallest and (
        max(one[1], other[1]) - min(one[0], other[0]) <= JOINED * tallest
    )


def _gap(one: tuple[int, ...], other: tuple[int, ...]) -> int:
    """Columns of clear space between two spans (left, right, ...); 0 where they overlap."""
    return max(0, other[0] - one[1], one[0] - other[1])


def _columns(mask: np.ndarray) -> tuple[int, int]:
    left, _, right, _ = ink_box(mask)
    return left, right


def _best_chain(scores: dict[tuple[int, int], float], count: int) -> list[tuple[int, int]]:
    """The parts (i, j) between cuts i < j that lead from cut 0 to cut count-1 with the
    highest total score (dynamic programming over the cuts, left to right)."""
    best: dict[int, tuple[float, list[tuple[int, int]]]] = {0: (0.0, [])}
    for j in range(1, count):
        options = [
            (best[i][0] + scores[i, j], best[i][1] + [(i, j)])
            for i in range(j)
            if i in best and (i, j) in scores
        ]
        if options:
            best[j] = max(options, key=lambda option: option[0])
    return best[count - 1][1]


def _count_log_posterior(scores: dict[tuple[int, int], float], count: int, parts: int) -> float:
    """log P(the piece holds `parts` digits): every chain from cut 0 to cut count-1 weighed by
    exp(its score), those of `parts` parts summed against all (near-identical cuts then count
    together, not against each other)."""
    # totals[j][n]: log of the summed weight of the chains from cut 0 to cut j with n parts
    totals: dict[int, dict[int, float]] = {0: {0: 0.0}}
    for j in range(1, count):
        found: dict[int, list[float]] = {}
        for i in range(j):
            if i in totals and (i, j) in scores:
                for n, value in totals[i].items():
                    found.setdefault(n + 1, []).append(value + scores[i, j])
        if found:
            totals[j] = {n: float(np.logaddexp.reduce(v)) for n, v in found.items()}
    final = totals[count - 1]
    return final[parts] - float(np.logaddexp.reduce(list(final.values())))


def _band_cost(ink: np.ndarray, centre: np.ndarray, band: int) -> np.ndarray:
    """Per pixel of `ink`, the cost of a cut passing there: the ink it crosses, plus a little
    per column away from the centre line (among equal cuts, the straighter); beyond `band`
    columns from it, or on the outermost columns, it may not pass."""
    away = np.abs(np.arange(ink.shape[1])[None, :] - centre[:, None])
    cost = ink + STRAIGHT * away
    cost[away > band] = np.inf
    cost[:, 0] = np.inf
    return cost


def _cheapest_paths(cost: np.ndarray) -> np.ndarray:
    """For each of a stack of costs (paths, rows, columns), the column per row of the
    cheapest top-to-bottom path that moves at most one column from one row to the next
    (dynamic programming, all paths at once)."""
    count, rows, width = cost.shape
    total = cost[:, 0].copy()
    came = np.zeros((count, rows, width), dtype=np.int64)
    shifted = np.full((3, count, width), np.inf)
    for r in range(1, rows):
        # from the left, straight above, from the right
        shifted[0, :, 1:], shifted[1], shifted[2, :, :-1] = total[:, :-1], total, total[:, 1:]
        step = np.argmin(shifted, axis=0)
        total = np.take_along_axis(shifted, step[None], axis=0)[0] + cost[:, r]
        came[:, r] = np.arange(width) + step - 1
    paths = np.empty((count, rows), dtype=np.int64)
    paths[:, -1] = np.argmin(total, axis=1)
    for r in range(rows - 1, 0, -1):
        paths[:, r - 1] = came[np.arange(count), r, paths[:, r]]
    return paths
