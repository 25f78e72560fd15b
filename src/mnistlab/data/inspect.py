"""Summaries of a dataset on disk: checksums, counts per split and class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.data import idx, store
from mnistlab.data.datasets import DatasetSpec
from mnistlab.errors import DataError


@dataclass
class FileCheck:
    key: str
    name: str
    path: Path | None
    expected_md5: str
    actual_md5: str | None
    problem: str | None  # None when the file is present and verified

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_files(spec: DatasetSpec, data_dir: str | Path | None = None) -> list[FileCheck]:
    """Check every file's uncompressed MD5 (reading each file from scratch)."""
    roots = store.search_roots(spec, data_dir)
    checks = []
    for file in spec.files:
        path = store.find_file(spec, file, roots)
        if path is None:
            checks.append(FileCheck(file.key, file.name, None, file.md5, None, "missing"))
            continue
        try:
            content = idx.read_bytes(path, max_size=file.size)
        except DataError as exc:
            checks.append(
                FileCheck(file.key, file.name, path, file.md5, None, str(exc).split(": ", 1)[-1])
            )
            continue
        actual = store.md5_hex(content)
        problem = None if actual == file.md5 else "checksum mismatch"
        checks.append(FileCheck(file.key, file.name, path, file.md5, actual, problem))
    return checks


def class_counts(labels: np.ndarray, num_classes: int = 10) -> list[int]:
    return np.bincount(labels.astype(np.int64), minlength=num_classes).tolist()
