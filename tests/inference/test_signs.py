"""A minus sign, a decimal point and a colon in a read number (inference.signs): read where written,
never made up from a speck, and in every form of the answer (Python, JSON, the API)."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnistlab.cli import main
from mnistlab.inference.reading import _pieces_and_marks, read_number, with_signs
from mnistlab.inference.signs import Sign, _straight, find_signs, stacked_dots
from mnistlab.synth.numbers import draw_numbers

SLOT = 12  # px: the width of a sign's place between two 28 px digits


def written(split, text: str, seed: int = 0, speck: int | None = None) -> Image.Image:
    """`text` on one line: each digit a test digit of that class, each "." a round pen point on
    the baseline and each "-" a dash at mid-height (drawn here, not by synth); `speck`: the
    grey level (0..255, white on black) of a small dot drawn instead of each ".", as a stray
    mark on a scan would be."""
    rng = np.random.default_rng(seed)
    labels = split.labels.numpy()
    parts = []
    for character in text:
        if character.isdigit():
            parts.append(split.images[int(rng.choice(np.flatnonzero(labels == int(character))))])
            parts[-1] = parts[-1].numpy()
            continue
        slot = Image.new("L", (SLOT, 28), 0)
        draw = ImageDraw.Draw(slot)
        if character == ".":
            draw.ellipse((3, 21, 8, 26), fill=255 if speck is None else speck)
        elif character == "-":
            draw.rectangle((1, 13, 10, 15), fill=255)
        elif character == ":":
            draw.ellipse((3, 10, 8, 15), fill=255)
            draw.ellipse((3, 21, 8, 26), fill=255)
        parts.append(np.asarray(slot))
    strip = np.pad(np.concatenate(parts, axis=1), 10)
    image = Image.fromarray(255 - strip)  # dark ink on white paper
    return image.resize((image.width * 4, image.height * 4), Image.BICUBIC)


@pytest.mark.parametrize(
    "text", ["12.5", "3.14", "0.75", "-42", "-7.25", "12-34", "99.9", "12:30", "9:45"]
)
def test_signs_drawn_by_hand_are_read(predictor, test_split, text):
    reading = read_number(predictor, written(test_split, text))
    assert reading.number == text and reading.sure
    assert [sign.sign for sign in reading.signs] == [c for c in text if c in ".-:"]
    assert len(reading.digits) == sum(c.isdigit() for c in text)
    answer = reading.to_dict()
    assert answer["number"] == text and _layout(answer["marked"]) == _layout(text)
    for sign, box in zip(answer["signs"], reading.signs, strict=True):
        assert sign == {"box": list(box.box), "sign": box.sign}


def _layout(number: str) -> str:
    """Where the signs stand among the digits: "-12.5" -> "-d.d"."""
    return re.sub(r"[0-9?]+", "d", number)


def test_a_faint_speck_where_a_point_would_be_is_no_point(predictor, test_split):
    """MNIST's own stray specks are fainter than its strokes; a pen's point is as dark."""
    assert read_number(predictor, written(test_split, "12.5", speck=255)).number == "12.5"
    assert read_number(predictor, written(test_split, "12.5", speck=110)).number == "125"


@pytest.mark.parametrize(
    ("text", "number", "reason"),
    [
        ("1.2.3", "1.2.3", "more than one decimal point: one may be a stray mark"),
        (".75", "75", "a mark before the first digit may be a decimal point (left out)"),
        ("5.-3", "5.-3", "two signs side by side: one may be a stray mark"),
    ],
)
def test_signs_no_number_has_make_it_not_sure_unless_every_answer_is_wanted(
    predictor, test_split, text, number, reason
):
    image = written(test_split, text)
    reading = read_number(predictor, image)
    assert (reading.number, reading.sure, reading.reason) == (number, False, reason)
    assert all(d.digit is not None for d in reading.digits)  # the digits themselves are sure
    lenient = read_number(predictor.with_rejection(False), image)
    assert (lenient.number, lenient.sure, lenient.reason) == (number, True, None)


def test_written_signs_are_read_and_none_is_made_up(predictor, test_split):
    """synth's "signs" numbers (a minus, a decimal point, by pen) and numbers without any."""
    images, labels = test_split.images.numpy(), test_split.labels.numpy()
    signs_right = 0
    for truth, image in draw_numbers(images, labels, "signs", 30, seed=7):
        signs_right += _layout(read_number(predictor, image).number) == _layout(truth)
    assert signs_right >= 29
    for kind in ("gaps", "touching", "jitter", "widths", "slanted"):
        for _, image in draw_numbers(images, labels, kind, 30, seed=7):
            number = read_number(predictor, image).number
            assert not set(number) & set(".-:"), (kind, number)


def test_the_api_answers_signs(predictor, test_split):
    from fastapi.testclient import TestClient

    from mnistlab.serve import create_app

    buffer = io.BytesIO()
    written(test_split, "-12.5").save(buffer, "PNG")
    client = TestClient(create_app(predictor))
    answer = client.post("/api/read", files={"file": ("n.png", buffer.getvalue(), "image/png")})
    assert answer.status_code == 200
    body = answer.json()
    assert body["number"] == "-12.5" and [s["sign"] for s in body["signs"]] == ["-", "."]
    assert len(body["digits"]) == 3
    blank = io.BytesIO()
    Image.new("L", (90, 40), 255).save(blank, "PNG")
    empty = client.post(
        "/api/read", content=blank.getvalue(), headers={"Content-Type": "image/png"}
    )
    assert empty.status_code == 200 and empty.json()["signs"] == []
    buffer = io.BytesIO()
    written(test_split, "1.2.3").save(buffer, "PNG")
    doubted = client.post(
        "/api/read", files={"file": ("n.png", buffer.getvalue(), "image/png")}
    ).json()
    assert doubted["sure"] is False and "decimal point" in doubted["reason"]
    lenient = client.post(
        "/api/read?reject=false", files={"file": ("n.png", buffer.getvalue(), "image/png")}
    ).json()
    assert lenient["sure"] is True and lenient["number"] == "1.2.3"


def test_the_cli_prints_the_signs(test_split, tmp_path, capsys):
    written(test_split, "-7.25").save(tmp_path / "n.png")
    assert main(["read", str(tmp_path / "n.png"), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["number"] == "-7.25" and [s["sign"] for s in entry["signs"]] == ["-", "."]
    Image.new("L", (90, 40), 255).save(tmp_path / "blank.png")
    main(["read", str(tmp_path / "blank.png"), "--json"])
    (blank,) = json.loads(capsys.readouterr().out)
    assert blank["status"] == "no_digit" and blank["signs"] == [] and blank["number"] is None


# Model-free: find_signs on ink drawn as rectangles. Digits 40 px tall (rows 20-60), 24 wide,
# 20 apart: the gaps are columns 44-64 and 88-108, the space before the first 0-20.
def _line(*marks, digits: int = 3, mark_ink: float = 1.0):
    """(ink, digit masks, mark masks); each mark (top, bottom, left, right) in px, or a list of
    such boxes for a mark of several pieces (a colon's two dots)."""
    values = np.zeros((100, 40 + 44 * digits), np.float32)
    masks = []
    for i in range(digits):
        mask = np.zeros(values.shape, bool)
        mask[20:60, 20 + 44 * i : 44 + 44 * i] = True
        values[mask] = 1.0
        masks.append(mask)
    found = []
    for mark in marks:
        mask = np.zeros(values.shape, bool)
        for top, bottom, left, right in mark if isinstance(mark, list) else [mark]:
            mask[top:bottom, left:right] = True
        values[mask] = mark_ink
        found.append(mask)
    return values, masks, found


def _signs(*marks, pairs=(), **kwargs):
    """(sign, before) of each sign found, and the doubt; `pairs`: marks the reader found to be
    two dots stacked (each a list of two boxes)."""
    values, digits, found = _line(*marks, *pairs, **kwargs)
    result = find_signs(values, digits, found[: len(marks)], 40.0, found[len(marks) :])
    return [(m.sign, m.before) for m in result.signs], result.doubt


def test_find_signs_by_shape_and_place():
    assert _signs((54, 59, 50, 56)) == ([(".", 1)], None)  # on the baseline
    assert _signs((37, 42, 48, 60)) == ([("-", 1)], None)  # a dash at mid-height
    assert _signs((37, 42, 4, 16)) == ([("-", 0)], None)  # a minus before the number
    assert _signs((54, 59, 50, 56), mark_ink=0.5) == ([], None)  # fainter than the strokes
    assert _signs((24, 29, 50, 56)) == ([], None)  # a round mark up high: no point
    assert _signs((75, 80, 50, 56)) == ([], None)  # well under the line: no point
    assert _signs((54, 59, 45, 50)) == ([], None)  # against the digit: a piece of it
    assert _signs((54, 59, 160, 166)) == ([], None)  # after the last digit: a full stop
    assert _signs((30, 59, 50, 56)) == ([], UNKNOWN)  # tall and narrow: neither, but seen
    assert _signs((37, 42, 50, 56)) == ([], UNKNOWN)  # a point at mid-height: "3·4"
    assert _signs((37, 42, 4, 10)) == ([], None)  # ...not before the number: a speck
    assert _signs((54, 59, 50, 56), (54, 59, 94, 100)) == (
        [(".", 1), (".", 2)],
        "more than one decimal point: one may be a stray mark",
    )
    assert _signs((54, 59, 8, 14)) == (
        [],
        "a mark before the first digit may be a decimal point (left out)",
    )
    assert _signs((37, 42, 4, 16), digits=1) == ([("-", 0)], None)  # "-5"
    assert _signs((37, 42, 48, 60), (54, 59, 50, 56))[1] == (
        "two signs side by side: one may be a stray mark"
    )
    # marks given right to left come out left to right
    assert _signs((54, 59, 94, 100), (37, 42, 4, 16)) == ([("-", 0), (".", 2)], None)
    values, digits, _ = _line()
    assert find_signs(values, digits, [], 40.0).signs == []


UNKNOWN = "a mark among the digits was left out: a sign not read here, or a small digit?"


def _ring(top: int, left: int, side: int, wall: int) -> list[tuple[int, int, int, int]]:
    bottom, right = top + side, left + side
    return [
        (top, top + wall, left, right),
        (bottom - wall, bottom, left, right),
        (top, bottom, left, left + wall),
        (top, bottom, right - wall, right),
    ]


def test_a_point_is_a_blot_and_a_ring_the_size_of_one_is_a_small_digit():
    """ "386" with an 8 a third of the digits' height, in a fine pen, read a sure 3.6."""
    assert _signs([(50, 60, 50, 60)]) == ([(".", 1)], None)  # a blot a quarter high
    assert _signs(_ring(50, 50, 10, 3)) == ([(".", 1)], None)  # a thick pen's round point
    assert _signs(_ring(48, 50, 12, 1)) == ([], UNKNOWN)  # rings of a fine pen
    assert _signs(_ring(55, 50, 5, 1)) == ([(".", 1)], None)  # a point drawn as a tiny ring


def _dash(rows: np.ndarray, thick: int = 3) -> np.ndarray:
    """A dash's mask: per column, `thick` px down from rows[column]."""
    mask = np.zeros((int(rows.max()) + thick + 2, rows.size), bool)
    for column, row in enumerate(np.rint(rows).astype(int)):
        mask[row : row + thick, column] = True
    return mask


def test_a_minus_sign_is_straight_and_a_tilde_is_not():
    across = np.arange(40)
    assert _straight(_dash(np.full(40, 5.0)))
    assert _straight(_dash(5 + across / 8))  # a leaning dash
    assert _straight(_dash(5 + ((across - 20) / 10) ** 2))  # a bowed one
    assert not _straight(_dash(6 + 4 * np.sin(across / 40 * 2 * np.pi)))  # "~": about


@pytest.mark.parametrize(
    ("text", "number", "reason"),
    [
        ("~50", "50", UNKNOWN),
        ("3·4", "34", UNKNOWN),
        ("3o5", "35", UNKNOWN),
        ("4=4", "4--4", "two signs side by side: one may be a stray mark"),  # two dashes apart
    ],
)
def test_a_mark_that_is_no_sign_read_here_makes_the_number_not_sure(
    predictor, text, number, reason
):
    """A tilde was a sure minus (~50 read -50), and a raised point and a small ring on the line
    were left out or taken for a point, all sure (the walkthrough's 3·4, and 386 with a small
    8); an equals sign of two strokes stacked close (its 7=7) was left out, now a doubt too."""
    reading = read_number(predictor, pen_written(text))
    assert (reading.number, reading.sure, reading.reason) == (number, False, reason)


def test_a_colon_is_two_dots_one_above_the_other_between_digits():
    upper, lower = (30, 35, 50, 56), (54, 59, 50, 56)  # 0.31 and 0.89 down the digits
    assert _signs(pairs=[[upper, lower]]) == ([(":", 1)], None)
    assert _signs((54, 59, 94, 100), pairs=[[upper, lower]]) == ([(":", 1), (".", 2)], None)
    # dots stacked that are no colon where they stand are left out, and said so: no digit
    # took them, and a colon left out silently would read 12:30 as a sure 1230
    stray = ([], "two dots one above the other were left out: no colon stands there")
    assert _signs(pairs=[[(30, 35, 6, 12), (54, 59, 6, 12)]]) == stray  # before the number
    assert _signs(pairs=[[(30, 35, 160, 166), (54, 59, 160, 166)]]) == stray  # after it
    assert _signs(pairs=[[(8, 13, 50, 56), lower]]) == stray  # the upper dot above the digits
    assert _signs(pairs=[[(30, 35, 45, 51), (54, 59, 45, 51)]]) == stray  # against a digit
    assert _signs(pairs=[[upper, lower]], mark_ink=0.5) == stray  # fainter than the strokes


def test_a_colon_low_enough_to_be_flat_is_still_a_colon_and_never_a_point():
    """Dots 0.12 tall with 0.1 between: under the reader's DASH, so they come as a mark."""
    assert _signs([(40, 45, 50, 56), (49, 54, 50, 56)]) == ([(":", 1)], None)
    wide = [(44, 49, 48, 58), (53, 58, 48, 58)]  # as a box, round enough for a point
    assert _signs(wide)[0] != [(".", 1)]


def test_a_small_digit_broken_at_its_waist_is_no_colon():
    halves = [(48, 34, 60, 48), (48, 52, 60, 66)]  # 0.35 tall each, 4 px apart
    assert not stacked_dots(halves, 40.0)
    values, _, _ = _line([(34, 48, 48, 60), (52, 66, 48, 60)])
    pieces, marks, _, pairs = _pieces_and_marks(values)
    assert (len(pieces), len(pairs)) == (4, 0)  # still a digit, read as one


def test_stacked_dots_are_no_digit_for_the_reader():
    dot, low_dot = (50, 30, 56, 35), (50, 54, 56, 59)  # (left, top, right, bottom)
    assert stacked_dots([dot, low_dot], 40.0) and stacked_dots([low_dot, dot], 40.0)
    assert not stacked_dots([(50, 20, 53, 37), (50, 42, 53, 59)], 40.0)  # a broken 1: thin
    assert not stacked_dots([dot, (50, 37, 56, 42)], 40.0)  # no clear space between
    assert not stacked_dots([dot, low_dot, (50, 44, 56, 49)], 40.0)  # three dots
    assert not stacked_dots([dot], 40.0)
    values, _, _ = _line([(30, 35, 50, 56), (54, 59, 50, 56)])
    pieces, marks, _, pairs = _pieces_and_marks(values)
    assert (len(pieces), len(marks), len(pairs)) == (3, 0, 1)  # the colon: as tall as a digit
    values, _, _ = _line([(22, 38, 50, 53), (42, 58, 50, 53)])  # a 1 broken in two
    pieces, marks, _, pairs = _pieces_and_marks(values)
    assert (len(pieces), len(marks), len(pairs)) == (4, 0, 0)


def test_with_signs_keeps_each_sign_before_its_digit_left_to_right():
    def sign(character: str, before: int) -> Sign:
        return Sign((0, 0, 1, 1), character, before)

    assert with_signs(list("125"), [sign(".", 2)]) == "12.5"
    assert with_signs(list("53"), [sign(".", 1), sign("-", 1)]) == "5.-3"
    assert with_signs(list("42"), [sign("-", 0)]) == "-42"
    assert with_signs(list("1234"), [sign("-", 0), sign("-", 2), sign(".", 3)]) == "-12-3.4"
    assert with_signs([], []) == ""
    assert with_signs(list("1230"), [sign(":", 2)]) == "12:30"


# A fine pen: digits drawn as strokes (x, y in a unit box; each a polyline), as a person with a
# ball-point writes them, whose point is only as thick as the pen (a speck to MNIST's strokes)
STROKES = {
    "0": [[(0.5 + 0.38 * np.cos(a), 0.5 + 0.48 * np.sin(a)) for a in np.linspace(0, 6.3, 40)]],
    "1": [[(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)]],
    "2": [[(0.12, 0.25), (0.3, 0.03), (0.7, 0.03), (0.85, 0.28), (0.1, 1.0), (0.9, 1.0)]],
    "3": [[(0.1, 0.05), (0.8, 0.05), (0.4, 0.45), (0.85, 0.7), (0.5, 1.0), (0.1, 0.9)]],
    "4": [[(0.65, 1.0), (0.65, 0.0), (0.05, 0.68), (0.95, 0.68)]],
    "5": [[(0.85, 0.0), (0.2, 0.0), (0.15, 0.45), (0.7, 0.45), (0.85, 0.75), (0.5, 1.0)]],
}


# Marks that are no sign this reader reads, in a unit of the digits' height: a tilde (about),
# an equals sign, a raised dot (times), a small ring on the baseline (a small 0 or a degree
# sign dropped down), each with clear space round it
_WAVE = np.linspace(0.0, 0.45, 24)
OTHER_MARKS = {
    "~": [[(px, 0.5 - 0.07 * np.sin(px / 0.45 * 2 * np.pi)) for px in _WAVE]],
    "=": [[(0.02, 0.4), (0.42, 0.4)], [(0.02, 0.6), (0.42, 0.6)]],
    "·": [[(0.2 + 0.015 * np.cos(a), 0.5 + 0.015 * np.sin(a)) for a in _WAVE * 14]],
    "o": [[(0.2 + 0.15 * np.cos(a), 0.85 + 0.15 * np.sin(a)) for a in _WAVE * 14]],
}


def pen_written(text: str, pen: int = 3, height: int = 100, dot: float = 2.4) -> Image.Image:
    """`text` in black strokes `pen` px wide on white: digits of STROKES, each "." a round
    point of radius `dot` on the baseline, ":" two such points, "," a point with a tail below
    the line; and signs this reader does not read (OTHER_MARKS)."""
    width = int(height * 0.6)
    image = Image.new("L", (40 + len(text) * (width + 30), height + 80), 255)
    draw = ImageDraw.Draw(image)
    x, top = 40, 40
    for character in text:
        if character in OTHER_MARKS:
            for stroke in OTHER_MARKS[character]:
                points = [(x + px * height, top + py * height) for px, py in stroke]
                draw.line(points, fill=0, width=pen, joint="curve")
            x += int(0.45 * height) + 30
            continue
        if character in ".:,":
            centre = x + 5
            for y in [top + height] if character != ":" else [top + 0.3 * height, top + height]:
                draw.ellipse((centre - dot, y - dot, centre + dot, y + dot), fill=0)
            if character == ",":
                draw.line(
                    [(centre + dot, top + height), (centre - 4, top + height + 18)], 0, pen + 2
                )
            x += 30
            continue
        for stroke in STROKES[character]:
            points = [(x + px * width, top + py * height) for px, py in stroke]
            draw.line(points, fill=0, width=pen, joint="curve")
        x += width + 30
    return image


@pytest.mark.parametrize("text", ["4.25", "12:30", "3.5"])
def test_a_fine_pens_point_and_colon_are_read_not_dropped_as_specks(predictor, text):
    """A ball-point's point is as thick as its strokes but under the speck height: read, not
    left out ("4.25" was a sure 425)."""
    reading = read_number(predictor, pen_written(text))
    assert reading.number == text and reading.sure


def test_a_comma_makes_the_number_not_sure(predictor):
    """ "1,000" is a thousand and "3,14" a decimal: a comma is never taken for a point (a sure
    1.000) and never left out without a word."""
    for text, number in [("1,000", "1000"), ("3,14", "314")]:
        reading = read_number(predictor, pen_written(text, pen=6, dot=4))
        assert reading.number == number and not reading.sure
        assert reading.reason == (
            "a comma was left out of the number: a thousands separator or a decimal comma?"
        )


def test_a_number_longer_than_the_reader_reads_is_never_sure(predictor):
    reading = read_number(predictor, pen_written("1" * 34, pen=8))
    assert len(reading.digits) == 32 and not reading.sure
    assert reading.reason == "more than 32 digits: only the first 32 were read"


def _pen_line(*dots, pen: int = 3) -> np.ndarray:
    """Three digits as 40 px tall rings with walls `pen` px thick (a fine pen), and dots, each
    (top, bottom, left, right) in px; the gaps between digits are columns 44-64 and 88-108."""
    values = np.zeros((100, 172), np.float32)
    for i in range(3):
        left = 20 + 44 * i
        values[20:60, left : left + 24] = 1.0
        values[20 + pen : 60 - pen, left + pen : left + 24 - pen] = 0.0
    for top, bottom, left, right in dots:
        values[top:bottom, left:right] = 1.0
    return values


def test_a_dot_as_thick_as_the_pen_is_a_mark_and_a_thinner_speck_is_not():
    def found(*dots, pen: int = 3) -> tuple[int, int, int]:
        pieces, marks, _, pairs = _pieces_and_marks(_pen_line(*dots, pen=pen))
        return len(pieces), len(marks), len(pairs)

    point, upper = (56, 59, 52, 55), (30, 33, 52, 55)  # 3 px: under SPECK (0.08 of 40 px)
    assert found(point) == (3, 1, 0)
    assert found(upper, point) == (3, 0, 1)  # a colon
    assert found((30, 33, 52, 55), (40, 43, 52, 55), point) == (3, 0, 1)  # three dots: no digit
    assert found((57, 58, 53, 54)) == (3, 0, 0)  # a 1 px speck: thinner than the pen
    assert found((57, 59, 53, 55)) == (3, 0, 0)  # 2 px square: thinner too (half-width 1)
    assert found((56, 58, 52, 55)) == (3, 0, 0)
    assert found((62, 65, 40, 43)) == (3, 0, 0)  # under a digit, in its columns: dust on it
    assert found(point, pen=8) == (3, 0, 0)  # a marker's strokes: a 3 px dot is a speck
    values = _pen_line(point)
    pieces, marks, _, _ = _pieces_and_marks(values)
    result = find_signs(values, [mask for *_, mask in pieces], [marks[0][2]], 40.0)
    assert [(m.sign, m.before) for m in result.signs] == [(".", 1)]


def test_a_point_with_a_tail_below_the_line_is_a_comma_and_a_doubt():
    comma = "a comma was left out of the number: a thousands separator or a decimal comma?"
    assert _signs((54, 64, 50, 55)) == ([], comma)  # 0.1 of the height below the baseline
    assert _signs((56, 62, 50, 56)) == ([(".", 1)], None)  # round, a little low: a point
    assert _signs((54, 64, 50, 56), (54, 59, 94, 100)) == ([(".", 2)], comma)


def test_a_fine_grey_pencil_reads_as_a_fine_black_pen(predictor):
    """Strokes 3 px wide at 100 px, grey: under a pixel in the 20 px box, where they used to
    stay grey and a connected 4 counted "3 separate marks"."""
    black = pen_written("2024")
    grey = Image.fromarray((255 - (255 - np.asarray(black)) * 0.41).astype(np.uint8))
    for image in (black, grey):
        reading = read_number(predictor, image)
        assert reading.number == "2024" and reading.sure, reading.reason


def test_dust_thinner_than_the_pen_is_no_point_and_three_dots_no_colon(predictor):
    """A 2 px speck on the baseline between two digits of a 3 px pen is dust, not "2.024"; a
    colon with a third dot in its column is no colon and no digit: the reading is not sure."""
    image = pen_written("2024")
    ImageDraw.Draw(image).rectangle((113, 138, 114, 139), fill=0)
    reading = read_number(predictor, image)
    assert reading.number == "2024" and reading.sure
    image = pen_written("12:30")
    ImageDraw.Draw(image).ellipse((223, 42, 228, 47), fill=0)  # above the colon's upper dot
    reading = read_number(predictor, image)
    assert reading.number == "1230" and not reading.sure
    assert reading.reason == "two dots one above the other were left out: no colon stands there"
