"""Data: the IDX format, dataset registry, verified storage, download, splits and loader.

The names below are imported on first use (mnistlab.lazy): the command line reads the dataset
registry for its options without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnistlab.lazy import make_lazy

_PUBLIC = {
    "DATASETS": "mnistlab.data.datasets",
    "DatasetSpec": "mnistlab.data.datasets",
    "FileSpec": "mnistlab.data.datasets",
    "get_dataset": "mnistlab.data.datasets",
    "DeviceLoader": "mnistlab.data.loader",
    "MNIST_MEAN": "mnistlab.data.normalize",
    "MNIST_STD": "mnistlab.data.normalize",
    "NORMALIZATIONS": "mnistlab.data.normalize",
    "normalize": "mnistlab.data.normalize",
    "Split": "mnistlab.data.splits",
    "load_splits": "mnistlab.data.splits",
    "make_splits": "mnistlab.data.splits",
    "split_indices": "mnistlab.data.splits",
}
__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DeviceLoader",
    "FileSpec",
    "MNIST_MEAN",
    "MNIST_STD",
    "NORMALIZATIONS",
    "Split",
    "get_dataset",
    "load_splits",
    "make_splits",
    "normalize",
    "split_indices",
]

if TYPE_CHECKING:
    from mnistlab.data.datasets import DATASETS, DatasetSpec, FileSpec, get_dataset
    from mnistlab.data.loader import DeviceLoader
    from mnistlab.data.normalize import MNIST_MEAN, MNIST_STD, NORMALIZATIONS, normalize
    from mnistlab.data.splits import Split, load_splits, make_splits, split_indices

make_lazy(__name__, _PUBLIC)
