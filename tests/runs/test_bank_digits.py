"""The shipped bank digits: one pinned file, every shipped bank's rows in it, a damaged copy is
an error naming it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mnistlab.errors import CheckpointError
from mnistlab.runs import list_pretrained, load_model
from mnistlab.runs.bank_digits import (
    DIGITS_FILE,
    DIGITS_SHA256,
    pack,
    read_digits,
    shipped_bank_digits,
    to_levels,
    unpack,
)


def test_the_file_is_the_pinned_one():
    assert hashlib.sha256(DIGITS_FILE.read_bytes()).hexdigest() == DIGITS_SHA256


@pytest.mark.parametrize("name", list_pretrained())
def test_every_shipped_bank_has_its_digits(name):
    _, meta = load_model(name)
    rule = meta.calibration.features
    digits = shipped_bank_digits(rule.sha256)
    assert digits.images.shape == (rule.rows, 28, 28) and digits.images.dtype == np.uint8
    assert digits.labels.shape == (rule.rows,) and set(digits.labels.tolist()) == set(range(10))
    counts = np.bincount(digits.labels, minlength=10)
    assert counts.min() > 400  # MNIST's classes, roughly balanced


def test_an_unknown_bank_has_none():
    assert shipped_bank_digits("0" * 64) is None and shipped_bank_digits("") is None


def test_the_first_digits_are_the_train_split_s(real_data_dir):
    """Made from the train split (never validation or test): its first digits, at 16 levels."""
    from mnistlab.data.splits import load_splits

    train = load_splits("mnist", real_data_dir, download=False)["train"]
    _, meta = load_model("lenet5")
    digits = shipped_bank_digits(meta.calibration.features.sha256)
    np.testing.assert_array_equal(digits.images[:100], to_levels(train.images[:100].numpy()))
    np.testing.assert_array_equal(digits.labels[:4800], train.labels[:4800].numpy())


def test_pack_round_trips_the_16_levels():
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    levels = to_levels(images)
    assert np.abs(levels.astype(int) - images).max() <= 8 and set(np.unique(levels)) <= set(
        range(0, 256, 17)
    )
    np.testing.assert_array_equal(unpack(pack(images), 7), levels)


def test_a_damaged_file_is_an_error_naming_it(tmp_path):
    data = bytearray(DIGITS_FILE.read_bytes())
    data[-100] ^= 0xFF
    path = tmp_path / "digits.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="digits.safetensors: does not match the SHA-256"):
        read_digits(path, DIGITS_SHA256)
    with pytest.raises(CheckpointError, match="unreadable bank digits"):
        read_digits(path, "")
    with pytest.raises(CheckpointError, match="cannot read"):
        read_digits(tmp_path / "missing.safetensors", DIGITS_SHA256)
