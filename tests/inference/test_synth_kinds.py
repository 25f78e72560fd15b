"""Every benign digit kind (driven by the registry, mnistlab.synth.DIGIT_KINDS) draws a
deterministic image of a sensible size that the real preprocessing reads; the families group
every kind exactly once."""

from __future__ import annotations

import numpy as np
import pytest

from mnistlab.inference.preprocess import preprocess
from mnistlab.synth import DIGIT_KINDS, FAMILIES, FIRST_KINDS, render_digit
from mnistlab.synth import families as fam
from mnistlab.synth.digital import DIGITAL_KINDS


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    """A hand-drawn 8 in MNIST's form (white on black, 20 px box): two closed loops."""
    field = np.zeros((28, 28), np.uint8)
    y, x = np.mgrid[0:28, 0:28]
    for cy in (9, 18):
        ring = np.abs(np.hypot(y - cy, x - 14) - 4.5) < 1.6
        field[ring] = 255
    return field


def draw(kind: str, digit: np.ndarray, seed: int = 3):
    return render_digit(kind, digit, np.random.default_rng([seed, 7]))


@pytest.mark.parametrize("kind", list(DIGIT_KINDS))
def test_kind_draws_deterministic_readable_image(kind, digit):
    image = draw(kind, digit)
    again = draw(kind, digit)
    assert np.array_equal(np.asarray(image), np.asarray(again))
    assert not np.array_equal(np.asarray(image), np.asarray(draw(kind, digit, seed=4)))
    assert image.mode == "RGB"
    assert min(image.size) >= 16 and max(image.size) <= 2000, image.size
    pixels = preprocess(image).pixels
    assert pixels.shape == (28, 28) and pixels.max() > 128


def test_new_kinds_are_appended_so_old_kinds_keep_their_seeds():
    names = list(DIGIT_KINDS)
    assert names[: len(FIRST_KINDS)] == list(FIRST_KINDS) == list(FAMILIES)
    assert len(FIRST_KINDS) == 22
    assert set(DIGITAL_KINDS) <= set(names[len(FIRST_KINDS) :])


def blocks(image) -> float:
    """The share of neighbouring pixels equal to the one on their left."""
    grey = np.asarray(image.convert("L")).astype(int)
    return float(np.mean(grey[:, 1:] == grey[:, :-1]))


def test_nearest_shows_pixel_blocks_and_the_smooth_resamplers_do_not(digit):
    nearest = np.mean([blocks(draw("lowres-nearest", digit, s)) for s in range(4)])
    for smooth in ("lowres-bilinear", "lowres-bicubic", "lowres-lanczos"):
        assert nearest > np.mean([blocks(draw(smooth, digit, s)) for s in range(4)]) + 0.2


@pytest.mark.parametrize(
    "kind", ["binarised", "binarised-tight", "dither-fs", "dither-ordered", "halftone"]
)
def test_print_kinds_are_two_level(kind, digit):
    for seed in range(3):
        values = np.unique(np.asarray(draw(kind, digit, seed)))
        assert set(values.tolist()) <= {0, 255}


@pytest.mark.parametrize("kind", [k for k in DIGIT_KINDS if k.endswith("-tight")])
def test_tight_low_res_kinds_touch_every_edge(kind, digit):
    for seed in range(3):
        grey = np.asarray(draw(kind, digit, seed).convert("L")).astype(float)
        ink = grey < grey.max() - 0.2 * (grey.max() - grey.min())  # 0.3 coverage and more
        assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any(), seed


def test_low_res_sources_are_6_to_16_px_and_shown_60_to_120(digit):
    """The digit's box as shown: ~60-120 px (the margin adds up to 60% around it)."""
    for seed in range(6):
        height = draw("lowres-nearest-tight", digit, seed).height
        assert 55 <= height <= 130, height


def test_families_cover_every_kind_exactly_once():
    grouped = [k for kinds in fam.FAMILIES.values() for k in kinds]
    assert sorted(grouped) == sorted(DIGIT_KINDS)
    assert len(grouped) == len(set(grouped))
    assert all(fam.family_of(k) in fam.FAMILIES for k in DIGIT_KINDS)
    with pytest.raises(KeyError, match="no family"):
        fam.family_of("nope")


def test_single_split_and_leave_one_family_out():
    held, fit = set(fam.held_out_kinds()), set(fam.fit_kinds())
    assert held and not held & fit and held | fit == set(DIGIT_KINDS)
    assert {fam.family_of(k) for k in held} == set(fam.HELD_OUT_FAMILIES)
    splits = list(fam.leave_one_family_out())
    assert [s.family for s in splits] == [f for f in fam.FAMILIES if f not in fam.ALWAYS_FIT]
    for split in splits:
        assert set(split.held_out) == set(fam.FAMILIES[split.family])
        assert not set(split.held_out) & set(split.fit)
        assert set(split.held_out) | set(split.fit) == set(DIGIT_KINDS)
        assert "clean" in split.fit
    with pytest.raises(KeyError, match="unknown families"):
        fam.kinds_of(["nope"])
