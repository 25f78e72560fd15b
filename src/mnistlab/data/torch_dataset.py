"""MNIST for plain PyTorch code: tensors by split, and a `Dataset` with torchvision's arguments.

    images, labels = load_mnist("test")              # uint8 (10000, 28, 28), int64 (10000,)
    loader = DataLoader(MNIST(split="train"), batch_size=64, shuffle=True)

The files are found as the CLI finds them (root, then $MNISTLAB_DATA_DIR, then the cache),
downloaded if missing, and checked against the official MD5s.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from mnistlab.data.splits import Split, load_splits
from mnistlab.errors import MnistlabError

SPLIT_NAMES = ("train", "val", "test", "train+val")


def load_split(
    split: str = "train",
    *,
    dataset: str = "mnist",
    root: str | Path | None = None,
    download: bool = True,
) -> Split:
    if split not in SPLIT_NAMES:
        raise MnistlabError(f"unknown split {split!r}; choose one of: {', '.join(SPLIT_NAMES)}")
    # train+val is the official 60,000 training images, in their original order
    full = split == "train+val"
    splits = load_splits(dataset, root, full_train=full, download=download)
    return splits["train" if full else split]


def load_mnist(
    split: str = "train",
    *,
    dataset: str = "mnist",
    root: str | Path | None = None,
    download: bool = True,
    numpy: bool = False,
) -> tuple[Any, Any]:
    """(images, labels) of a split: uint8 (N, 28, 28) and int64 (N,) tensors, or NumPy arrays
    with `numpy=True`. Splits: train (55,000), val (5,000), test (10,000), train+val (60,000).

    >>> images, labels = load_mnist("test")
    >>> images.shape, labels[:5].tolist()
    (torch.Size([10000, 28, 28]), [7, 2, 1, 0, 4])
    """
    data = load_split(split, dataset=dataset, root=root, download=download)
    if numpy:
        return data.images.numpy(), data.labels.numpy()
    return data.images, data.labels


class MNIST(Dataset):
    """A torch Dataset of one split, with torchvision's familiar arguments.

    An item is `(image, label)`: by default the image is a (1, 28, 28) float tensor scaled to
    0..1 (what torchvision's ToTensor gives); with `transform`, it is `transform(pixels)` of the
    (1, 28, 28) uint8 tensor. `root=None` searches like the CLI (see the README's "Data").

    >>> from torch.utils.data import DataLoader
    >>> x, y = next(iter(DataLoader(MNIST(split="val"), batch_size=32)))
    >>> x.shape, x.dtype
    (torch.Size([32, 1, 28, 28]), torch.float32)
    """

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        transform: Callable[[torch.Tensor], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        download: bool = True,
        dataset: str = "mnist",
    ):
        data = load_split(split, dataset=dataset, root=root, download=download)
        self.images, self.labels = data.images, data.labels
        self.split, self.transform, self.target_transform = split, transform, target_transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        pixels = self.images[index].unsqueeze(0)  # (1, 28, 28) uint8
        image = self.transform(pixels) if self.transform else pixels.float().div_(255)
        label = int(self.labels[index])
        return image, self.target_transform(label) if self.target_transform else label

    def __repr__(self) -> str:
        return f"MNIST(split={self.split!r}, {len(self)} images)"
