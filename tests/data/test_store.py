"""Finding, verifying and caching the four files (synthetic data, so these run everywhere)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from mnistlab.data import idx, inspect, store
from mnistlab.data.datasets import DATASETS, get_dataset
from mnistlab.data.splits import load_splits
from mnistlab.errors import DataError, MnistlabError


def _cache_files(cache: Path) -> list[Path]:
    return sorted((cache / "unpacked").glob("*")) if (cache / "unpacked").is_dir() else []


def test_registry_lists_files_mirrors_and_checksums():
    mnist = get_dataset("mnist")
    assert [f.key for f in mnist.files] == [
        "train-images",
        "train-labels",
        "test-images",
        "test-labels",
    ]
    assert mnist.mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    for spec in DATASETS.values():
        assert all(len(f.md5) == 32 for f in spec.files)
        assert len(spec.classes) == 10


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(
        MnistlabError, match="unknown dataset 'emnist'; known datasets: fashion-mnist, mnist"
    ):
        get_dataset("emnist")


@pytest.mark.parametrize("layout", ["top", "dataset-folder", "torchvision", "plain"])
def test_files_are_found_in_every_layout(tmp_path, synthetic_factory, fresh_cache, layout):
    source = tmp_path / "source"
    source.mkdir()
    spec = synthetic_factory(source)
    root = tmp_path / "root"
    folder = {
        "top": root,
        "plain": root,
        "dataset-folder": root / spec.name,
        "torchvision": root / "MNIST" / "raw",
    }[layout]
    folder.mkdir(parents=True)
    for file in spec.files:
        gz = source / f"{file.name}.gz"
        if layout == "plain":
            (folder / file.name).write_bytes(gzip.decompress(gz.read_bytes()))
        else:
            (folder / gz.name).write_bytes(gz.read_bytes())
    paths = store.locate(spec, root)
    assert {p.parent for p in paths.values()} == {folder}
    raw = store.load_raw(spec, root)
    assert raw.train_images.shape == (20, 28, 28) and raw.test_labels.shape == (10,)
    assert all(c.ok for c in inspect.verify_files(spec, root))


def test_missing_files_are_named_with_what_to_do(tmp_path, synthetic):
    spec, folder = synthetic
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    assert [f.name for f in store.missing_files(spec, folder)] == ["t10k-labels-idx1-ubyte"]
    with pytest.raises(DataError) as info:
        store.locate(spec, folder)
    message = str(info.value)
    assert "missing t10k-labels-idx1-ubyte" in message and str(folder) in message
    assert "mnistlab data fetch" in message and "--data-dir" in message


def test_explicit_folder_must_exist(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"nowhere \(--data-dir\) does not exist"):
        store.search_roots(get_dataset("mnist"), tmp_path / "nowhere")
    monkeypatch.setenv("MNISTLAB_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(DataError, match=r"gone \(MNISTLAB_DATA_DIR\) does not exist"):
        store.search_roots(get_dataset("mnist"))


def test_search_order_flag_then_env_then_cache(tmp_path, fresh_cache, monkeypatch):
    spec = get_dataset("mnist")
    flag, env = tmp_path / "flag", tmp_path / "env"
    flag.mkdir()
    env.mkdir()
    assert store.search_roots(spec) == [fresh_cache / "mnist"]
    assert store.download_root(spec) == fresh_cache / "mnist"
    monkeypatch.setenv("MNISTLAB_DATA_DIR", str(env))
    assert store.search_roots(spec) == [env, fresh_cache / "mnist"]  # env, then the cache
    assert store.download_root(spec) == env  # writable: downloads go where the user pointed
    assert store.search_roots(spec, flag) == [flag]
    fashion = get_dataset("fashion-mnist")  # other datasets: a subfolder of the env root
    roots = store.search_roots(fashion)
    assert roots[:2] == [env / "fashion-mnist", env / "FashionMNIST" / "raw"]
    assert roots[2] == fresh_cache / "fashion-mnist"


def test_read_only_env_folder_downloads_into_the_cache(tmp_path, fresh_cache, monkeypatch):
    env = tmp_path / "shared"
    env.mkdir()
    monkeypatch.setenv("MNISTLAB_DATA_DIR", str(env))
    real_access = os.access
    # root may write anywhere, so the read-only folder is simulated
    monkeypatch.setattr(store.os, "access", lambda p, mode: Path(p) != env and real_access(p, mode))
    assert store.download_root(get_dataset("mnist")) == fresh_cache / "mnist"


def test_cache_falls_back_to_home_without_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert store.cache_root() == tmp_path / ".cache" / "mnistlab"


def test_checksum_mismatch_is_never_used(tmp_path, synthetic, fresh_cache):
    spec, folder = synthetic
    path = folder / "t10k-images-idx3-ubyte.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[-1] ^= 0x01  # still a valid IDX file: only the checksum can tell
    path.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(DataError) as info:
        store.load_raw(spec, folder)
    message = str(info.value)
    expected = spec.file("test-images").md5
    assert str(path) in message and f"expected {expected}" in message
    assert store.md5_hex(bytes(content)) in message and "mnistlab data fetch" in message
    assert not any(p.name.startswith("t10k-images") for p in _cache_files(fresh_cache))


def test_unpacked_cache_is_written_and_reused(synthetic, fresh_cache, monkeypatch):
    spec, folder = synthetic
    first = store.load_raw(spec, folder)
    file = spec.file("train-images")
    cached = fresh_cache / "unpacked" / f"{file.name}-{file.md5}"
    assert cached.read_bytes() == gzip.decompress((folder / f"{file.name}.gz").read_bytes())

    def no_decompress(path):
        raise AssertionError(f"{path} decompressed again despite a valid cache")

    monkeypatch.setattr(idx, "read_bytes", no_decompress)
    second = store.load_raw(spec, folder)
    np.testing.assert_array_equal(first.train_images, second.train_images)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_damaged_cache_is_detected_and_rebuilt(synthetic, fresh_cache, damage):
    spec, folder = synthetic
    good = store.load_raw(spec, folder)
    file = spec.file("train-images")
    cached = fresh_cache / "unpacked" / f"{file.name}-{file.md5}"
    data = bytearray(cached.read_bytes())
    if damage == "flip":
        data[500] ^= 0x40
    cached.write_bytes({"flip": bytes(data), "truncate": bytes(data[:100]), "empty": b""}[damage])
    again = store.load_raw(spec, folder)
    np.testing.assert_array_equal(again.train_images, good.train_images)
    assert store.md5_hex(cached.read_bytes()) == file.md5  # repaired


def test_warm_cache_does_not_hide_a_damaged_source(tmp_path, synthetic, fresh_cache):
    # The cache holds the right content, but the .gz in this folder is now corrupt: loading must
    # fail exactly as `mnistlab data verify` does, not quietly serve the cached copy.
    spec, folder = synthetic
    store.load_raw(spec, folder)
    path = folder / "train-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        store.load_raw(spec, folder)


def test_warm_cache_does_not_vouch_for_another_folder(
    tmp_path, synthetic, synthetic_factory, fresh_cache
):
    spec, folder = synthetic
    store.load_raw(spec, folder)
    other = tmp_path / "other"
    other.mkdir()
    different = synthetic_factory(other, n_train=21)  # same names, different content
    with pytest.raises(DataError, match="checksum mismatch|unpacks to more than the expected"):
        store.load_raw(spec, other)
    assert different.file("train-images").md5 != spec.file("train-images").md5


def test_read_only_cache_only_costs_speed(tmp_path, synthetic, monkeypatch):
    spec, folder = synthetic
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    raw = store.load_raw(spec, folder)
    assert raw.train_images.shape == (20, 28, 28)


def test_fashion_mnist_found_in_the_system_folder(monkeypatch):
    spec = get_dataset("fashion-mnist")
    system = Path(spec.system_dirs[0])
    if not system.is_dir():
        message = f"{system} absent (Debian package dataset-fashion-mnist)"
        if os.environ.get("MNISTLAB_REQUIRE_DATA") == "1" or os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    monkeypatch.delenv("MNISTLAB_DATA_DIR", raising=False)
    assert store.missing_files(spec) == []
    assert all(p.parent == system for p in store.locate(spec).values())
    checks = inspect.verify_files(spec)
    assert [c.ok for c in checks] == [True] * 4, [c.problem for c in checks]
    splits = load_splits("fashion-mnist", download=False)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [55000, 5000, 10000]
    # downloads would go to the writable cache, never to the system folder
    assert store.download_root(spec) == store.cache_root() / "fashion-mnist"
