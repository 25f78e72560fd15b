"""The real MNIST files against the official checksums, in every layout a user may have."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np

from mnistlab.data import inspect, store
from mnistlab.data.datasets import get_dataset

MNIST = get_dataset("mnist")


def test_registry_matches_the_published_checksums(official_md5):
    assert {f.name: f.md5 for f in MNIST.files} == official_md5


def test_real_files_have_the_official_checksums(real_data_dir, official_md5):
    # An independent computation: gunzip + hashlib, not the package's own reader.
    for name, md5 in official_md5.items():
        gz = real_data_dir / f"{name}.gz"
        content = (
            gzip.decompress(gz.read_bytes())
            if gz.is_file()
            else (real_data_dir / name).read_bytes()
        )
        assert hashlib.md5(content).hexdigest() == md5, name


def test_real_counts_and_shapes(real_raw):
    assert real_raw.train_images.shape == (60000, 28, 28)
    assert real_raw.train_labels.shape == (60000,)
    assert real_raw.test_images.shape == (10000, 28, 28)
    assert real_raw.test_labels.shape == (10000,)
    assert real_raw.train_images.dtype == np.uint8
    assert set(np.unique(real_raw.test_labels)) == set(range(10))
    # the well-known first labels of each set
    assert real_raw.train_labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert real_raw.test_labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_recompressed_copy_passes(tmp_path, real_data_dir, link_real):
    # A .gz made with another compression level has other bytes but the same content.
    root = tmp_path / "recompressed"
    link_real(root, skip=("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    for name, level in (("t10k-images-idx3-ubyte", 1), ("t10k-labels-idx1-ubyte", 9)):
        original = (real_data_dir / f"{name}.gz").read_bytes()
        again = gzip.compress(gzip.decompress(original), compresslevel=level, mtime=0)
        assert again != original
        (root / f"{name}.gz").write_bytes(again)
    checks = inspect.verify_files(MNIST, root)
    assert [c.ok for c in checks] == [True] * 4
    assert store.load_raw(MNIST, root).test_images.shape == (10000, 28, 28)


def test_uncompressed_copy_passes(tmp_path, real_data_dir, link_real):
    root = tmp_path / "plain"
    link_real(root, skip=("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (root / name).write_bytes(gzip.decompress((real_data_dir / f"{name}.gz").read_bytes()))
    assert store.locate(MNIST, root)["test-images"] == root / "t10k-images-idx3-ubyte"
    assert [c.ok for c in inspect.verify_files(MNIST, root)] == [True] * 4
    raw = store.load_raw(MNIST, root)
    assert raw.test_labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_torchvision_layout_is_found(tmp_path, link_real):
    root = tmp_path / "torchvision-root"
    link_real(root / "MNIST" / "raw")
    paths = store.locate(MNIST, root)
    assert all(p.parent == root / "MNIST" / "raw" for p in paths.values())
    assert [c.ok for c in inspect.verify_files(MNIST, root)] == [True] * 4


def test_one_flipped_byte_fails_verification(tmp_path, real_data_dir, link_real):
    root = tmp_path / "flipped"
    link_real(root, skip=("t10k-labels-idx1-ubyte",))
    content = bytearray(gzip.decompress((real_data_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    content[5000] ^= 0x01
    (root / "t10k-labels-idx1-ubyte").write_bytes(bytes(content))
    checks = {c.key: c for c in inspect.verify_files(MNIST, root)}
    bad = checks["test-labels"]
    assert not bad.ok and bad.problem == "checksum mismatch"
    assert bad.actual_md5 == hashlib.md5(bytes(content)).hexdigest()
    assert all(c.ok for k, c in checks.items() if k != "test-labels")
