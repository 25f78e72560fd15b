"""Simulated writers (mnistlab.synth.writers): fixed styles, reproducible, kept out of training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mnistlab
from mnistlab.synth.writers import HABITS, Writer, write_digits


def test_a_writer_is_the_same_for_the_same_seed(splits):
    images, labels = splits["test"].images[:20].numpy(), splits["test"].labels[:20].numpy()
    assert Writer.random(3) == Writer.random(3) != Writer.random(4)
    first = write_digits(Writer.random(3), images, labels, seed=1)
    assert first.shape == (20, 28, 28) and first.dtype == np.uint8
    assert (first == write_digits(Writer.random(3), images, labels, seed=1)).all()
    assert not (first == write_digits(Writer.random(4), images, labels, seed=1)).all()


def test_habits_change_only_their_digit(splits):
    test = splits["test"]
    sevens = np.nonzero(test.labels.numpy() == 7)[0][:5]
    twos = np.nonzero(test.labels.numpy() == 2)[0][:5]
    plain, crossed = Writer(), Writer(habits=("seven_bar",))
    for index, changed in ((sevens, True), (twos, False)):
        images, labels = test.images[index].numpy(), test.labels[index].numpy()
        same = write_digits(plain, images, labels) == write_digits(crossed, images, labels)
        assert same.all() != changed
    with pytest.raises(ValueError, match="unknown habits"):
        Writer(habits=("seven_hook",))
    assert {"seven_bar", "four_open", "one_flag"} <= set(HABITS)


def test_no_training_code_uses_the_writers():
    """The base models never see a writer's style: nothing that trains imports them."""
    package = Path(mnistlab.__file__).parent
    trainers = [
        *package.glob("train/*.py"),
        *package.glob("data/*.py"),
        *package.glob("models/*.py"),
    ]
    assert trainers
    for path in trainers:
        assert "writers" not in path.read_text(), path
