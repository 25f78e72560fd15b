"""Whole numbers (`read_number`, `mnistlab read`, POST /api/read) and the real-world digit
suites, on MNIST test digits drawn by mnistlab.synth, with the default shipped model."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from mnistlab.cli import main
from mnistlab.data.splits import load_splits
from mnistlab.errors import CheckpointError
from mnistlab.inference import one_digit
from mnistlab.inference.field import NoDigitError, field_from_ink
from mnistlab.inference.preprocess import preprocess
from mnistlab.inference.reading import read_number
from mnistlab.synth import FAMILIES, render_digit, render_number
from mnistlab.synth.numbers import HELD_OUT_NUMBER_KINDS, NUMBER_KINDS


def numbers(split, kind: str, count: int, seed: int):
    rng = np.random.default_rng(seed)
    for i in range(count):
        chosen = rng.integers(0, len(split), size=int(rng.integers(2, 7)))
        truth = "".join(str(int(split.labels[j])) for j in chosen)
        image, boxes = render_number(
            kind, [split.images[j].numpy() for j in chosen], np.random.default_rng([seed, i])
        )
        yield truth, image, boxes


def test_numbers_with_gaps_are_read(predictor, test_split):
    right = 0
    for truth, image, boxes in numbers(test_split, "gaps", 20, seed=5):
        reading = read_number(predictor, image)
        right += reading.number == truth
        if reading.number == truth:  # each box lies on its digit
            for found, drawn in zip(reading.digits, boxes, strict=True):
                centre = ((found.box[0] + found.box[2]) / 2, (found.box[1] + found.box[3]) / 2)
                assert drawn[0] <= centre[0] <= drawn[2] and drawn[1] <= centre[1] <= drawn[3]
    assert right >= 17, right


def test_touching_digits_are_split_more_often_than_not(predictor, test_split):
    results = [
        read_number(predictor, image).number == truth
        for truth, image, _ in numbers(test_split, "touching", 20, seed=6)
    ]
    assert sum(results) >= 11, sum(results)


@pytest.mark.parametrize(
    ("first", "second", "seed", "truth"),
    [
        (4215, 11121, 37, "16"),  # a leaning 1 pressed into a 6: only a slanted cut parts them
        (4940, 25284, 50, "19"),  # ...into a 9 (read as one 4 before)
        (53869, 34203, 9, "49"),  # the 9's head alone was kept as a 7
        (53496, 49276, 33, "01"),  # a narrow pair, split in the wrong place before ("64")
        # read wrong before the one-digit network, CUTS 18 and WIDE 0.55 (as "87", "7", "4")
        (849, 37007, 0, "81"),
        (11700, 43564, 13, "17"),
        (44050, 24422, 59, "14"),
    ],
)
def test_touching_pairs_are_cut_where_they_touch(
    predictor, real_data_dir, first, second, seed, truth
):
    """Two TRAINING digits pushed together until the ink touches (picked where the greedy
    vertical cutter went wrong); both must be found, each box on its own digit."""
    train = load_splits("mnist", real_data_dir, download=False)["train"]
    assert f"{int(train.labels[first])}{int(train.labels[second])}" == truth
    image, boxes = render_number(
        "touching",
        [train.images[first].numpy(), train.images[second].numpy()],
        np.random.default_rng([11, seed]),
    )
    reading = read_number(predictor, image)
    assert reading.number == truth
    for found, drawn in zip(reading.digits, boxes, strict=True):
        centre = (found.box[0] + found.box[2]) / 2
        assert drawn[0] <= centre <= drawn[2]


def test_blank_image_has_no_number(predictor):
    with pytest.raises(NoDigitError):
        read_number(predictor, Image.new("L", (300, 100), 255))


def test_tight_crops_are_read(predictor, test_split):
    """Digits cut out to their ink (the issue: 43 of 100 were called blank)."""
    index = list(FAMILIES).index("tight-crop")
    right = 0
    for i in range(60):
        image = render_digit(
            "tight-crop", test_split.images[i].numpy(), np.random.default_rng([9, index, i])
        )
        found = predictor.predict_pixels(preprocess(image).pixels[None])[0].digit
        right += found == int(test_split.labels[i])
    assert right >= 57, right


def test_read_cli_json_and_errors(tmp_path, test_split, capsys):
    truth, image, _ = next(numbers(test_split, "gaps", 1, seed=7))
    image.save(tmp_path / "number.png")
    Image.new("L", (200, 80), 255).save(tmp_path / "blank.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    code = main(
        ["read", "--json", *(str(tmp_path / n) for n in ("number.png", "blank.png", "broken.png"))]
    )
    entries = json.loads(capsys.readouterr().out)
    assert code == 1  # one file could not be read; the others were still answered
    number, blank, broken = entries
    assert number["status"] == "ok" and number["number"] == truth
    assert len(number["digits"]) == len(truth)
    keys = {"box", "digit", "guess", "confidence", "reason"}
    assert all(set(d) == keys for d in number["digits"])
    assert number["sure"] == all(d["digit"] is not None for d in number["digits"])
    assert number["marked"] == "".join(
        "?" if d["digit"] is None else str(d["digit"]) for d in number["digits"]
    )
    assert 0.0 <= number["confidence"] <= 1.0  # the shipped model has a string rule
    assert blank["status"] == "no_digit" and blank["number"] is None
    assert broken["status"] == "unreadable" and "broken.png" in broken["error"]
    assert main(["read", str(tmp_path / "number.png")]) == 0
    assert truth in capsys.readouterr().out


def test_api_read(predictor, test_split):
    from fastapi.testclient import TestClient

    from mnistlab.serve import create_app

    truth, image, _ = next(numbers(test_split, "gaps", 1, seed=8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    client = TestClient(create_app(predictor))
    answer = client.post("/api/read", files={"file": ("n.png", buffer.getvalue(), "image/png")})
    assert answer.status_code == 200 and answer.json()["number"] == truth
    assert len(answer.json()["digits"]) == len(truth)
    pixels = client.post("/api/read", json={"pixels": [0] * 784})
    assert pixels.status_code == 400 and pixels.json()["error"] == "image_required"
    junk = client.post("/api/read", content=b"junk", headers={"Content-Type": "image/png"})
    assert junk.status_code == 400 and junk.json()["error"] == "not_an_image"
    blank = io.BytesIO()
    Image.new("L", (90, 40), 255).save(blank, "PNG")
    empty = client.post(
        "/api/read", content=blank.getvalue(), headers={"Content-Type": "image/png"}
    )
    assert empty.status_code == 200 and empty.json()["number"] is None


def test_bench_robustness_cli(real_data_dir, capsys):
    code = main(
        [
            "bench",
            "robustness",
            "--count",
            "30",
            "--numbers",
            "4",
            "--nondigits",
            "0",
            "--kinds",
            "clean,tight-crop,thick-pen",
            "--json",
            "--data-dir",
            str(real_data_dir),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [k["kind"] for k in report["digits"]["kinds"]] == ["clean", "tight-crop", "thick-pen"]
    assert all(k["accuracy"] >= 0.9 for k in report["digits"]["kinds"]), report
    numbers = report["numbers"]["kinds"]
    assert [k["kind"] for k in numbers] == list(NUMBER_KINDS)
    for row in numbers:  # both sides of "sure" add up to the numbers read
        sides = ("sure_right", "sure_wrong", "wasted", "saved", "blank")
        assert sum(row[k] for k in sides) == row["numbers"] == 4, row
        assert row["strings_right"] == row["sure_right"] + row["wasted"]
        assert row["held_out"] == (row["kind"] in HELD_OUT_NUMBER_KINDS)
    assert main(["bench", "robustness", "--kinds", "nope"]) == 2


def test_boxes_are_in_the_files_pixels_when_a_large_photo_is_decoded_reduced(predictor, test_split):
    """A 2400 px wide photo is reduced right after decoding; the boxes still land on the
    digits as drawn in the file."""
    truth, image, boxes = next(numbers(test_split, "gaps", 1, seed=9))
    factor = 2400 / image.width
    large = image.resize((2400, round(image.height * factor)), Image.BICUBIC)
    buffer = io.BytesIO()
    large.save(buffer, "PNG")
    reading = read_number(predictor, buffer.getvalue())
    assert reading.number == truth
    for found, drawn in zip(reading.digits, boxes, strict=True):
        centre = ((found.box[0] + found.box[2]) / 2, (found.box[1] + found.box[3]) / 2)
        assert drawn[0] * factor <= centre[0] <= drawn[2] * factor, (found.box, drawn)
        assert drawn[1] * factor <= centre[1] <= drawn[3] * factor, (found.box, drawn)


@pytest.mark.parametrize(("page", "tall"), [((1600, 1200), 60), ((4000, 3000), 150)])
def test_a_number_small_in_a_whole_photo_is_read_up_close(predictor, test_split, page, tall):
    """A number `tall` px high somewhere on a whole photo of a page (1600x1200; 4000x3000,
    which is reduced 5x when decoded): read as well as the number alone, with its boxes on its
    digits in the photo's pixels. Read from the whole photo at once, its digits were ~14 px
    tall (validation, 60 px in 1600x1200: 38 of 60 strings right, against 58 alone)."""
    rng = np.random.default_rng(12)
    right = 0
    for truth, image, boxes in numbers(test_split, "gaps", 12, seed=13):
        gray = np.asarray(image.convert("L"), dtype=np.float32)
        factor = tall / image.height
        small = image.convert("L").resize((round(image.width * factor), tall), Image.LANCZOS)
        photo = np.full((page[1], page[0]), float(np.percentile(gray, 90)), np.float32)
        x, y = int(rng.integers(0, page[0] - small.width)), int(rng.integers(0, page[1] - tall))
        photo[y : y + tall, x : x + small.width] = np.asarray(small, dtype=np.float32)
        photo += rng.normal(0, 4, photo.shape).astype(np.float32)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(buffer, "PNG")
        reading = read_number(predictor, buffer.getvalue())
        right += reading.number == truth
        if reading.number != truth:
            continue
        for found, drawn in zip(reading.digits, boxes, strict=True):
            centre = ((found.box[0] + found.box[2]) / 2, (found.box[1] + found.box[3]) / 2)
            slack = page[0] / 800  # a decoded pixel, in the photo's
            assert x + drawn[0] * factor - slack <= centre[0] <= x + drawn[2] * factor + slack
            assert y + drawn[1] * factor - slack <= centre[1] <= y + drawn[3] * factor + slack
    assert right >= 11, right


def test_one_digit_weights_are_refused_when_altered(tmp_path):
    """The shipped file loads (its SHA-256 matches); one flipped bit and it is refused."""
    assert isinstance(one_digit.shipped_one_digit(), one_digit.OneDigitNet)
    data = bytearray(one_digit.WEIGHTS.read_bytes())
    data[len(data) // 2] ^= 1
    altered = tmp_path / "one_digit.safetensors"
    altered.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 does not match.*reinstall mnistlab"):
        one_digit.load_one_digit(altered)
    with pytest.raises(CheckpointError, match="missing.safetensors: cannot read"):
        one_digit.load_one_digit(tmp_path / "missing.safetensors")
    assert one_digit.shipped_one_digit() is one_digit.shipped_one_digit()  # loaded once


def test_one_digit_network_tells_a_digit_from_two(real_data_dir):
    """On TRAINING digits: each digit alone is one digit, two of them side by side are not."""
    train = load_splits("mnist", real_data_dir, download=False)["train"]
    net = one_digit.shipped_one_digit()
    singles = train.images[:20].numpy()
    pairs = np.stack(
        [
            field_from_ink(np.hstack([a, b]).astype(np.float32) / 255.0)
            for a, b in zip(train.images[20:40].numpy(), train.images[40:60].numpy(), strict=True)
        ]
    )
    # a single digit is about 0.8 digit heights wide, two side by side about 1.6
    alone = one_digit.one_digit_log_odds(net, singles, np.tile([0.8, 1.0], (20, 1)))
    two = one_digit.one_digit_log_odds(net, pairs, np.tile([1.6, 1.0], (20, 1)))
    assert (alone > 0).mean() >= 0.9 and (two < 0).mean() >= 0.9, (alone, two)
