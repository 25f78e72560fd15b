"""A person's folder of labelled digits (ImageFolder layout), written by a simulated writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistlab.data.splits import load_splits
from mnistlab.synth.writers import Writer, write_digits

# a writer far from MNIST's average hand: a shipped model errs on many of their digits
STRONG = Writer(slant=-0.5, width=0.6, pen=3, top=0.7, habits=("one_flag", "seven_bar"))


@pytest.fixture(scope="session")
def splits(real_data_dir):
    return load_splits("mnist", real_data_dir, download=False)


def write_folder(folder: Path, writer: Writer, images, labels, seed: int = 0) -> Path:
    """DIR/<label>/<i>.png, each digit drawn dark on white at 3x MNIST's size (any size is
    read: the folder goes through predict's preprocessing)."""
    pixels = write_digits(writer, images, labels, seed)
    for i, (digit, label) in enumerate(zip(pixels, labels, strict=True)):
        (folder / str(int(label))).mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(255 - digit).resize((84, 84), Image.BILINEAR)
        image.save(folder / str(int(label)) / f"{i:03d}.png")
    return folder


def per_class(labels: np.ndarray, count: int) -> np.ndarray:
    """The first `count` indices of each class, in order."""
    return np.sort(np.concatenate([np.nonzero(labels == c)[0][:count] for c in range(10)]))


@pytest.fixture(scope="session")
def person_folder(tmp_path_factory, splits) -> Path:
    """12 digits per class of the strong writer, from the validation split."""
    val = splits["val"]
    index = per_class(val.labels.numpy(), 12)
    folder = tmp_path_factory.mktemp("person")
    return write_folder(folder, STRONG, val.images[index].numpy(), val.labels[index].numpy())
