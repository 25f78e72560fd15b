"""Where the data lives on disk: finding, verifying and loading the four files of a dataset.

Roots are searched in order: an explicit `data_dir`, then `$MNISTLAB_DATA_DIR`, then the cache
(`$XDG_CACHE_HOME/mnistlab/<dataset>` or `~/.cache/mnistlab/<dataset>`) and any system folder that
a package installs. Inside a root a file may be plain or `.gz`, at the top, in `<dataset>/`, or in
torchvision's `MNIST/raw/`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.data import idx
from mnistlab.data.datasets import DatasetSpec, FileSpec
from mnistlab.errors import DataError
from mnistlab.files import write_bytes_atomic

OFFLINE_HINT = (
    "copy the four files (plain or .gz) into a folder and pass --data-dir DIR or set "
    "MNISTLAB_DATA_DIR"
)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mnistlab"


def search_roots(spec: DatasetSpec, data_dir: str | Path | None = None) -> list[Path]:
    """The roots to look in, in priority order. An explicit folder must exist.

    `--data-dir` names the folder of one dataset. `$MNISTLAB_DATA_DIR` is a data root: MNIST's
    files may sit at its top, any dataset's in `ROOT/<dataset>/` or torchvision's layout; the
    cache and system folders are searched after it.
    """
    if data_dir is not None:
        return [_existing(data_dir, "--data-dir")]
    fallbacks = [cache_root() / spec.name, *(Path(d) for d in spec.system_dirs)]
    env = os.environ.get("MNISTLAB_DATA_DIR")
    if env:
        root = _existing(env, "MNISTLAB_DATA_DIR")
        if spec.name == "mnist":
            return [root, *fallbacks]
        return [root / spec.name, root / spec.torchvision_folder / "raw", *fallbacks]
    return fallbacks


def _existing(folder: str | Path, source: str) -> Path:
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data folder {root} ({source}) does not exist; create it or point "
            "to the folder that holds the MNIST files"
        )
    return root


def download_root(spec: DatasetSpec, data_dir: str | Path | None = None) -> Path:
    """The folder that downloads go to: `--data-dir`, else $MNISTLAB_DATA_DIR when it is
    writable, else the cache."""
    roots = search_roots(spec, data_dir)
    if data_dir is not None:
        return roots[0]
    for root in roots:
        existing = next((p for p in (root, *root.parents) if p.exists()), root)
        if os.access(existing, os.W_OK):
            return root
    return cache_root() / spec.name


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


def _unpacked_cache_path(file: FileSpec) -> Path:
    # Content-addressed: the name carries the checksum the content must have.
    return cache_root() / "unpacked" / f"{file.name}-{file.md5}"


def _source_stamp(path: Path) -> str:
    """Identity of the .gz a cache entry was unpacked from: a changed file misses the cache."""
    stat = path.stat()
    return f"{path.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}\n"


def load_verified(path: Path, file: FileSpec) -> bytes:
    """The uncompressed content of `path`, checked against the official MD5.

    Decompressing the 47 MB training images costs ~0.3 s, so a `.gz` is unpacked once into a
    content-addressed cache. The cache is used only for the very file it was unpacked from (same
    path, size and mtime), so a damaged or replaced source is caught, and its content is re-hashed
    on every read, so it is trusted no more than the original.
    """
    if path.suffix != ".gz":
        content = idx.read_bytes(path, max_size=file.size)
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
    content = idx.read_bytes(path, max_size=file.size)
    verify_bytes(content, file, path)
    if stamp is not None:
        try:
            write_bytes_atomic(cached, content, durable=False)
            write_bytes_atomic(stamp_path, stamp.encode(), durable=False)
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
        raise DataError(
            f"{spec.name}: missing {', '.join(missing)} in {where}; run "
            f"`mnistlab data fetch` to download, or {OFFLINE_HINT}"
        )
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
        idx.check_pair(images, labels, str(paths[f"{split}-images"]), str(paths[f"{split}-labels"]))
    return RawDataset(
        arrays["train-images"],
        arrays["train-labels"],
        arrays["test-images"],
        arrays["test-labels"],
        paths,
    )
