"""Numbers written as people write them, not as synth lays them out: a digit much lighter than
the rest, two numbers far apart or on two rows, a small raised digit (a power, a degree sign).
Each was read a sure wrong number before (a newcomer's walkthrough, docs/reading.md)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnistlab.inference.layout import layout_doubt
from mnistlab.inference.reading import TOO_FAINT, read_number

SCALE = 4  # the line is drawn at MNIST's 28 px and enlarged, as a scan of it would be


def line(split, digits: str, *, seed: int = 0, dark=None, gaps=None, sizes=None, lifts=None):
    """Test digits of these classes on one line, dark ink on white paper. Per digit: `dark`
    its ink's share of full darkness, `sizes` its scale, `lifts` px (at 28 px a digit) its
    bottom stands above the baseline; per gap: `gaps` px of space before the next digit."""
    rng = np.random.default_rng(seed)
    labels = split.labels.numpy()
    count = len(digits)
    dark, sizes = dark or [1.0] * count, sizes or [1.0] * count
    lifts, gaps = lifts or [0] * count, gaps or [4] * (count - 1)
    canvas = np.zeros((100, 60 + sum(gaps) + 28 * count), np.float32)
    x, baseline = 30, 70
    for i, character in enumerate(digits):
        image = split.images[int(rng.choice(np.flatnonzero(labels == int(character))))]
        side = max(4, round(28 * sizes[i]))
        ink = Image.fromarray(image.numpy()).resize((side, side), Image.BILINEAR)
        ink = np.asarray(ink, np.float32) / 255 * dark[i]
        top = baseline - lifts[i] - side
        region = canvas[top : top + side, x : x + side]
        np.maximum(region, ink, out=region)
        x += side + (gaps[i] if i < len(gaps) else 0)
    paper = Image.fromarray(np.rint(255 * (1 - canvas)).astype(np.uint8))
    return paper.resize((paper.width * SCALE, paper.height * SCALE), Image.BILINEAR)


@pytest.mark.parametrize("darkness", [0.2, 0.35])
def test_a_digit_written_much_lighter_than_the_rest_is_read(predictor, test_split, darkness):
    """Otsu's threshold fell between the paper and the darker digits: "2024" with a light 4
    was a sure 202."""
    right = 0
    for seed, digits in enumerate(["2024", "5790", "31415", "862"]):
        dark = [1.0] * len(digits)
        dark[seed % len(digits)] = darkness
        reading = read_number(predictor, line(test_split, digits, seed=seed, dark=dark))
        assert len(reading.number) == len(digits), reading.number
        right += reading.number == digits
    assert right >= 3


def test_a_trace_too_faint_to_read_makes_the_number_not_sure(predictor, test_split):
    """A digit's ghost (rubbed out, or written very lightly) is left out, but not without a
    word; and a number with none of it is sure."""
    ghost = read_number(predictor, line(test_split, "2024", dark=[1, 1, 1, 0.07]))
    assert (ghost.number, ghost.sure, ghost.reason) == ("202", False, TOO_FAINT)
    plain = read_number(predictor, line(test_split, "202"))
    assert (plain.number, plain.sure) == ("202", True)


def test_two_numbers_far_apart_are_not_read_as_one_for_sure(predictor, test_split):
    apart = read_number(predictor, line(test_split, "4217", gaps=[4, 80, 4]))
    assert apart.number == "4217" and not apart.sure
    assert apart.reason == "a wide space after digit 2: two numbers, not one?"
    spaced = read_number(predictor, line(test_split, "4217", gaps=[4, 24, 4]))  # "42 17"
    assert spaced.reason != apart.reason


def test_a_small_raised_digit_is_a_doubt(predictor, test_split):
    """5 squared, or 37 degrees (its ring read as a 0)."""
    reading = read_number(
        predictor, line(test_split, "52", sizes=[1.0, 0.45], lifts=[0, 14], gaps=[2])
    )
    assert not reading.sure
    assert reading.reason == "digit 2 is small and raised: a power, or a degree sign?"


def test_layout_doubts_by_the_boxes_alone():
    def boxes(*lefts_tops_sizes):
        return [(x, y, x + s * 0.6, y + s) for x, y, s in lefts_tops_sizes]

    one_line = boxes((0, 0, 40), (30, 3, 36), (60, -4, 44), (90, 5, 40))  # sizes and baselines
    assert layout_doubt(one_line, 40.0) is None  # ...as jittered as synth's numbers
    assert layout_doubt(boxes((0, 0, 40), (100, 0, 40)), 40.0) is None  # 76 px: under 2 heights
    assert layout_doubt(boxes((0, 0, 40), (110, 0, 40)), 40.0) == (
        "a wide space after digit 1: two numbers, not one?"
    )
    assert layout_doubt(boxes((0, 0, 40), (30, 45, 40)), 40.0) == (
        "digits 1 and 2 share no row: two lines, not one?"
    )
    assert layout_doubt(boxes((0, 0, 40), (30, -10, 20)), 40.0) == (
        "digit 2 is small and raised: a power, or a degree sign?"
    )
    assert layout_doubt(boxes((0, 0, 40), (30, 20, 20)), 40.0) is None  # small, on the line
    assert layout_doubt(boxes((0, 0, 40)), 40.0) is None
