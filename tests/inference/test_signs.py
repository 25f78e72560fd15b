"""A minus sign and a decimal point in a read number (inference.signs): read where written,
never made up from a speck, and in every form of the answer (Python, JSON, the API)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnistlab.inference.reading import read_number
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
        parts.append(np.asarray(slot))
    strip = np.pad(np.concatenate(parts, axis=1), 10)
    image = Image.fromarray(255 - strip)  # dark ink on white paper
    return image.resize((image.width * 4, image.height * 4), Image.BICUBIC)


@pytest.mark.parametrize("text", ["12.5", "3.14", "0.75", "-42", "-7.25", "12-34", "99.9"])
def test_signs_drawn_by_hand_are_read(predictor, test_split, text):
    reading = read_number(predictor, written(test_split, text))
    assert reading.number == text
    assert [sign.sign for sign in reading.signs] == [c for c in text if c in ".-"]
    assert len(reading.digits) == sum(c.isdigit() for c in text)
    answer = reading.to_dict()
    assert answer["number"] == text and answer["marked"].replace("?", "0").count(".") == text.count(
        "."
    )
    for sign, box in zip(answer["signs"], reading.signs, strict=True):
        assert sign == {"box": list(box.box), "sign": box.sign}


def test_a_faint_speck_where_a_point_would_be_is_no_point(predictor, test_split):
    """MNIST's own stray specks are fainter than its strokes; a pen's point is as dark."""
    assert read_number(predictor, written(test_split, "12.5", speck=255)).number == "12.5"
    assert read_number(predictor, written(test_split, "12.5", speck=110)).number == "125"


def test_two_points_make_the_number_not_sure_unless_every_answer_is_wanted(predictor, test_split):
    image = written(test_split, "1.2.3")
    reading = read_number(predictor, image)
    assert reading.number == "1.2.3" and not reading.sure
    assert reading.reason == "2 decimal points: one may be a stray mark"
    assert read_number(predictor.with_rejection(False), image).sure


def test_written_signs_are_read_and_none_is_made_up(predictor, test_split):
    """synth's "signs" numbers (a minus, a decimal point, by pen) and numbers without any."""
    images, labels = test_split.images.numpy(), test_split.labels.numpy()
    signs_right = 0
    for truth, image in draw_numbers(images, labels, "signs", 30, seed=7):
        reading = read_number(predictor, image)
        signs_right += [c for c in reading.number if c in ".-"] == [c for c in truth if c in ".-"]
    assert signs_right >= 29
    for kind in ("gaps", "touching", "jitter"):
        for _, image in draw_numbers(images, labels, kind, 30, seed=7):
            number = read_number(predictor, image).number
            assert "." not in number and "-" not in number, (kind, number)


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
