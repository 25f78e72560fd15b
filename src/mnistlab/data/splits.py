"""Train / validation / test splits.

`train` (55,000) and `val` (5,000) come from the official 60,000 training images by a fixed
permutation; `test` is the official 10,000. The permutation sorts the indices by a SplitMix64
hash of (index, seed): integer arithmetic only, so the split is identical on every machine and
with every version of NumPy or PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnistlab.data.datasets import SPLITS as SPLITS  # re-exported: it used to live here
from mnistlab.data.datasets import get_dataset
from mnistlab.data.store import RawDataset, load_raw

SPLIT_SEED = 20240229
VAL_SIZE = 5000


@dataclass
class Split:
    """One split on the CPU: uint8 images (N, 28, 28) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def split_permutation(n: int, seed: int = SPLIT_SEED) -> np.ndarray:
    """A permutation of range(n) that depends only on n and seed."""
    keys = _splitmix64(np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(n))
    return np.argsort(keys, kind="stable")


def split_indices(
    n: int = 60000, val_size: int = VAL_SIZE, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices), each sorted, disjoint, together covering range(n)."""
    perm = split_permutation(n, seed)
    return np.sort(perm[val_size:]), np.sort(perm[:val_size])


def _as_split(images: np.ndarray, labels: np.ndarray) -> Split:
    if not images.flags.writeable:  # a view of the file's bytes: copy before torch owns it
        images = images.copy()
    return Split(
        torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64))
    )


def make_splits(raw: RawDataset, full_train: bool = False) -> dict[str, Split]:
    """train/val/test from the official arrays; `full_train` trains on all 60,000 (val empty)."""
    n = len(raw.train_labels)
    if full_train:
        train_idx, val_idx = np.arange(n), np.arange(0)
    else:
        train_idx, val_idx = split_indices(n)
    return {
        "train": _as_split(raw.train_images[train_idx], raw.train_labels[train_idx]),
        "val": _as_split(raw.train_images[val_idx], raw.train_labels[val_idx]),
        "test": _as_split(raw.test_images, raw.test_labels),
    }


def load_splits(
    dataset: str = "mnist",
    data_dir: str | Path | None = None,
    *,
    full_train: bool = False,
    download: bool = True,
    mirrors: list[str] | None = None,
) -> dict[str, Split]:
    """Find (or download), verify and split a dataset."""
    spec = get_dataset(dataset)
    if download:
        from mnistlab.data.download import ensure_files

        ensure_files(spec, data_dir, mirrors=mirrors)
    return make_splits(load_raw(spec, data_dir), full_train=full_train)
