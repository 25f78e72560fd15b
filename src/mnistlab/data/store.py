"""Where the data lives on disk: finding, verifying and loading the four files of a dataset.

Roots are searched in order: an explicit `data_dir`, then `$MNISTLAB_DATA_DIR`, then the cache
(`$XDG_CACHE_HOME/mnistlab/<dataset>` or `~/.cache/mnistlab/<dataset>`) and any system folder that
a package installs. Inside a root a file may be plain or `.gz`, at the top, in `<dataset>/`, or in
torchvision's `MNIST/raw/`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.data import idx
from mnistlab.data.datasets import DatasetSpec, FileSpec
from mnistlab.errors import DataError

OFFLINE_HINT = ("copy the four files (plain or .gz) into a folder and pass --data-dir DIR or set "
                "MNISTLAB_DATA_DIR")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mnistlab"


def search_roots(spec: DatasetSpec, data_dir: str | Path | None = None) -> list[Path]:
    """The roots to look in, in priority order. An explicit folder must exist.

    `--data-dir` names the folder of one dataset. `$MNISTLAB_DATA_DIR` is a data root: MNIST's
    files may sit at its top, any dataset's in `ROOT/<dataset>/` or torchvision's layout; for
    other datasets the cache and system folders are searched after it.
    """
    if data_dir is not None:
        return [_existing(data_dir, "--data-dir")]
    fallbacks = [cache_root() / spec.name, *(Path(d) for d in spec.system_dirs)]
    env = os.environ.get("MNISTLAB_DATA_DIR")
    if env:
        root = _existing(env, "MNISTLAB_DATA_DIR")
        if spec.name == "mnist":
            return [root]
        return [root / spec.name, root / spec.torchvision_folder / "raw", *fallbacks]
    return fallbacks


def _existing(folder: str | Path, source: str) -> Path:
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"data folder {root} ({source}) does not exist; create it or point "
                        "to the folder that holds the MNIST files")
    return root


def download_root(spec: DatasetSpec, data_dir: str | Path | None = None) -> Path:
    """The folder that downloads go to: the chosen root, or the cache."""
    return search_roots(spec, data_dir)[0]


def candidate_paths(root: Path, spec: DatasetSpec, file: FileSpec) -> list[Path]:
    folders = [root, root / spec.name, root / spec.torchvision_folder / "raw"]
    return [folder / (file.name + ext) for folder in folders for ext in (".gz", "")]


def find_file(spec: DatasetSpec, file: FileSpec, roots: list[Path]) -> Path | None:
    for root in roots:
        for path in candidate_paths(root, spec, file):
            if path.is_file():
                return path
    return None


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def verify_bytes(content: bytes, file: FileSpec, path: Path | str) -> None:
    """Raise DataError unless `content` (uncompressed) has the official checksum."""
    actual = md5_hex(content)
    if actual != file.md5:
        raise DataError(
            f"{path}: checksum mismatch (MD5 of the uncompressed content is {actual}, expected "
            f"{file.md5}); the file is corrupt or not {file.name}: delete it and run "
            "`mnistlab data fetch`, or replace it with a good copy"
        )


@dataclass(frozen=True)
class VerifiedFile:
    path: Path  # where the file was found
    content: bytes  # uncompressed, checksum verified


def _unpacked_cache_path(file: FileSpec) -> Path:
    # Content-addressed: the name carries the checksum the content must have.
    return cache_root() / "unpacked" / f"{file.name}-{file.md5}"


def _source_stamp(path: Path) -> str:
    """Identity of the .gz a cache entry was unpacked from: a changed file misses the cache."""
    stat = path.stat()
    return f"{path.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}\n"


def readable_mode() -> int:
    """0644 under the usual umask: mkstemp's 0600 would hide shared data from other users."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.chmod(tmp, readable_mode())
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_verified(path: Path, file: FileSpec) -> bytes:
    """The uncompressed content of `path`, checked against the official MD5.

    Decompressing the 47 MB training images costs ~0.3 s, so a `.gz` is unpacked once into a
    content-addressed cache. The cache is used only for the very file it was unpacked from (same
    path, size and mtime), so a damaged or replaced source is caught, and its content is re-hashed
    on every read, so it is trusted no more than the original.
    """
    if path.suffix != ".gz":
        content = idx.read_bytes(path)
        verify_bytes(content, file, path)
        return content
    cached = _unpacked_cache_path(file)
    stamp_path = cached.with_name(cached.name + ".source")
    try:
        stamp = _source_stamp(path)
    except OSError:
        stamp = None  # idx.read_bytes below reports the unreadable file
    try:
        if stamp is not None and stamp_path.read_text() == stamp:
            content = cached.read_bytes()
            if md5_hex(content) == file.md5:
                return content
    except (OSError, UnicodeDecodeError):
        pass  # no cache, or an unreadable one: fall back to the source
    content = idx.read_bytes(path)
    verify_bytes(content, file, path)
    if stamp is not None:
        try:
            _write_atomic(cached, content)
            _write_atomic(stamp_path, stamp.encode())
        except OSError:
            pass  # a read-only cache only costs speed
    return content


def missing_files(spec: DatasetSpec, data_dir: str | Path | None = None) -> list[FileSpec]:
    roots = search_roots(spec, data_dir)
    return [f for f in spec.files if find_file(spec, f, roots) is None]


def locate(spec: DatasetSpec, data_dir: str | Path | None = None) -> dict[str, Path]:
    """Paths of the four files; a DataError naming the missing ones if any is absent."""
    roots = search_roots(spec, data_dir)
    found = {f.key: find_file(spec, f, roots) for f in spec.files}
    missing = [spec.file(k).name for k, p in found.items() if p is None]
    if missing:
        where = ", ".join(str(r) for r in roots)
        raise DataError(f"{spec.name}: missing {', '.join(missing)} in {where}; run "
                        f"`mnistlab data fetch` to download, or {OFFLINE_HINT}")
    return {k: p for k, p in found.items() if p is not None}


@dataclass(frozen=True)
class RawDataset:
    """The official arrays: uint8 images (N, 28, 28) and uint8 labels (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    paths: dict[str, Path]


def load_raw(spec: DatasetSpec, data_dir: str | Path | None = None) -> RawDataset:
    """Load and validate all four files (no download: see `mnistlab.data.fetch`)."""
    paths = locate(spec, data_dir)
    arrays = {}
    for file in spec.files:
        path = paths[file.key]
        arrays[file.key] = idx.parse_idx(load_verified(path, file), str(path))
    for split in ("train", "test"):
        images, labels = arrays[f"{split}-images"], arrays[f"{split}-labels"]
        idx.check_images(images, str(paths[f"{split}-images"]))
        idx.check_labels(labels, str(paths[f"{split}-labels"]), len(spec.classes))
        idx.check_pair(images, labels, str(paths[f"{split}-images"]),
                       str(paths[f"{split}-labels"]))
    return RawDataset(arrays["train-images"], arrays["train-labels"], arrays["test-images"],
                      arrays["test-labels"], paths)
