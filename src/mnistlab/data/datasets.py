"""The dataset registry: for each dataset, its four files, their checksums and its mirrors."""

from __future__ import annotations

from dataclasses import dataclass, field

from mnistlab.errors import MnistlabError

SPLITS = ("train", "val", "test")  # the fixed splits every dataset has (data.splits)


@dataclass(frozen=True)
class FileSpec:
    """One IDX file. `md5` is the checksum of the *uncompressed* content, so any re-compressed
    copy of the right data passes."""

    key: str  # train-images, train-labels, test-images, test-labels
    name: str  # file name without ".gz", as published
    md5: str
    size: int  # uncompressed bytes
    count: int  # number of images or labels


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]
    # Folder names other tools use for the same files (torchvision: ROOT/MNIST/raw/).
    torchvision_folder: str
    # Read-only places where a system package may have installed the files.
    system_dirs: tuple[str, ...] = field(default=())
    provenance: str = ""

    def file(self, key: str) -> FileSpec:
        return next(f for f in self.files if f.key == key)


MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits (LeCun, Cortes, Burges)",
    files=(
        FileSpec(
            "train-images",
            "train-images-idx3-ubyte",
            "6bbc9ace898e44ae57da46a324031adb",
            47040016,
            60000,
        ),
        FileSpec(
            "train-labels",
            "train-labels-idx1-ubyte",
            "a25bea736e30d166cdddb491f175f624",
            60008,
            60000,
        ),
        FileSpec(
            "test-images",
            "t10k-images-idx3-ubyte",
            "2646ac647ad5339dbf082846283269ea",
            7840016,
            10000,
        ),
        FileSpec(
            "test-labels",
            "t10k-labels-idx1-ubyte",
            "27ae3e4e09519cfbb04c329615203637",
            10008,
            10000,
        ),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://yann.lecun.com/exdb/mnist/",
    ),
    classes=tuple(str(d) for d in range(10)),
    torchvision_folder="MNIST",
    provenance="official MD5s of the uncompressed files, as torchvision and the MNIST page list",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST (Zalando Research)",
    files=(
        FileSpec(
            "train-images",
            "train-images-idx3-ubyte",
            "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            47040016,
            60000,
        ),
        FileSpec(
            "train-labels",
            "train-labels-idx1-ubyte",
            "9018921c3c673c538a1fc5bad174d6f9",
            60008,
            60000,
        ),
        FileSpec(
            "test-images",
            "t10k-images-idx3-ubyte",
            "8181f5470baa50b63fa0f6fddb340f0a",
            7840016,
            10000,
        ),
        FileSpec(
            "test-labels",
            "t10k-labels-idx1-ubyte",
            "15d484375f8d13e6eb1aabb0c3f46965",
            10008,
            10000,
        ),
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    torchvision_folder="FashionMNIST",
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    provenance="MD5s of the uncompressed files of Debian's dataset-fashion-mnist package",
)

DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (MNIST, FASHION_MNIST)}


def get_dataset(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise MnistlabError(f"unknown dataset {name!r}; known datasets: {known}") from None
