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
from mnistlab.inference.signs import Sign, find_signs, stacked_dots
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
    assert _signs((30, 59, 50, 56)) == ([], None)  # tall and narrow: neither
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
