"""Data: the IDX format, dataset registry, verified storage, download, splits and loader."""

from mnistlab.data.datasets import DATASETS, DatasetSpec, FileSpec, get_dataset
from mnistlab.data.loader import DeviceLoader
from mnistlab.data.normalize import MNIST_MEAN, MNIST_STD, NORMALIZATIONS, normalize
from mnistlab.data.splits import Split, load_splits, make_splits, split_indices

__all__ = [
    "DATASETS",
    "MNIST_MEAN",
    "MNIST_STD",
    "NORMALIZATIONS",
    "DatasetSpec",
    "DeviceLoader",
    "FileSpec",
    "Split",
    "get_dataset",
    "load_splits",
    "make_splits",
    "normalize",
    "split_indices",
]
