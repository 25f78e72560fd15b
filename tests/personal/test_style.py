"""A person's style (lean, width, height against MNIST's same digits) measured from their
digits, and MNIST digits redrawn in it (mnistlab.train.style)."""

from __future__ import annotations

import pytest
import torch

from mnistlab.data.splits import Split
from mnistlab.synth.writers import Writer, write_digits
from mnistlab.train.style import MOST_LEAN, SCALES, HandStyle, in_style, measure_style


@pytest.fixture(scope="module")
def digits(splits) -> Split:
    val = splits["val"]
    return Split(val.images[:600], val.labels[:600])


def redrawn(digits: Split, style: HandStyle) -> Split:
    pixels = in_style(digits.images.float().div(255).unsqueeze(1), style)
    return Split(pixels.squeeze(1).mul(255).round().to(torch.uint8), digits.labels)


def test_mnist_digits_have_mnists_style(digits, splits):
    style = measure_style(digits, splits["train"])
    assert abs(style.lean) < 0.05
    assert style.width == pytest.approx(1.0, abs=0.03)
    assert style.height == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize(
    "style", [HandStyle(0.3, 0.8, 1.0), HandStyle(-0.25, 1.15, 0.9), HandStyle(0.0, 1.0, 0.85)]
)
def test_a_redrawn_style_is_measured_back(digits, splits, style):
    # against the sample's own small offset from the reference (its lean is ~0.03, not 0),
    # which the redrawing scales by width / height like any lean already there
    own = measure_style(digits, splits["train"])
    measured = measure_style(redrawn(digits, style), splits["train"])
    aspect = style.width / style.height
    assert measured.lean == pytest.approx(style.lean + aspect * own.lean, abs=0.02)
    assert measured.width == pytest.approx(style.width * own.width, rel=0.03)
    assert measured.height == pytest.approx(style.height * own.height, rel=0.03)


def test_a_writers_lean_and_width_are_found(digits, splits):
    narrow_left = Writer(slant=-0.4, width=0.65)
    pixels = write_digits(narrow_left, digits.images[:200].numpy(), digits.labels[:200].numpy())
    style = measure_style(Split(torch.from_numpy(pixels), digits.labels[:200]), splits["train"])
    assert style.lean < -0.2  # leans left
    assert style.width < 0.85
    assert "degrees left of MNIST's" in style.describe()


def test_the_description_reads_as_a_sentence():
    text = HandStyle(lean=0.3, width=0.8, height=1.0).describe()
    assert text == "leaning 17 degrees right of MNIST's, 0.80x as wide and 1.00x as tall"


def test_an_odd_measure_is_kept_within_legible_bounds(digits, splits):
    extreme = HandStyle(lean=2.0, width=0.3, height=1.0)  # a lean of 63 degrees
    style = measure_style(redrawn(digits, extreme), splits["train"])
    assert style.lean == MOST_LEAN and style.width == SCALES[0]
