"""Digits and non-digits drawn for calibration, and the digit detector's scores of them, kept
on disk between runs.

Every training run calibrates at its end on the same drawn images (validation digits as photos,
the bank's photos, non-digits): ~10 s of rendering and preprocessing on a 2-core CPU, against
well under a second to train a small model on a share of an epoch. They are a pure function of
their inputs, the mnistlab source and the image libraries, so all of these make the key: a
changed renderer or preprocessing draws them anew. The cache sits beside the data cache
(`$XDG_CACHE_HOME/mnistlab/drawn/`); a folder that cannot be written only costs the time.

One source's arrays take about 4 MB. Those of another source (an earlier mnistlab, other library
versions, an edited checkout) are never read by this one, so each use of the cache removes
theirs once they have gone unused for STALE_AFTER: an upgrade does not leave its predecessor's
behind, and two installs used side by side by the same person each keep theirs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from mnistlab.data.store import cache_root
from mnistlab.files import write_bytes_atomic

# they draw and resample the images; onnxruntime (with onnx) scores the digit detector, within
# 5e-6 of PyTorch: which of the two ran is part of the key too
LIBRARIES = ("numpy", "pillow", "scipy", "onnx", "onnxruntime", "torch")
SOURCE_CHARS = 12  # of the source fingerprint, in each file's name: whose array it is
STALE_AFTER = 24 * 3600.0  # seconds unused after which another source's arrays are removed


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """SHA-256 of every .py file of the installed mnistlab and the drawing libraries' versions."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]  # the mnistlab package
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    for name in LIBRARIES:
        try:
            digest.update(f"{name}=={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} absent".encode())
    return digest.hexdigest()


def cached_array(name: str, key: bytes, build: Callable[[], np.ndarray]) -> np.ndarray:
    """`build()`, or the array an earlier call with the same `name`, `key` and source stored.
    A damaged or unreadable file is drawn again and replaced."""
    source = source_fingerprint()
    digest = hashlib.sha256(key + source.encode()).hexdigest()[:32]
    folder = cache_root() / "drawn"
    path = folder / f"{name}-{source[:SOURCE_CHARS]}-{digest}.npy"
    with contextlib.suppress(OSError):  # a missing or read-only folder: nothing to remove
        remove_stale(folder, source[:SOURCE_CHARS])  # ~200 stat calls at most: well under 1 ms
    try:
        array = np.load(path, allow_pickle=False)
        with contextlib.suppress(OSError):
            os.utime(path)  # its last use, which remove_stale goes by
        return array
    except (OSError, ValueError, EOFError):
        pass
    array = build()
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    with contextlib.suppress(OSError):  # a read-only cache: draw them each time
        write_bytes_atomic(path, buffer.getvalue(), durable=False)
    return array


def remove_stale(folder: Path, source: str, now: float | None = None) -> list[Path]:
    """Remove the arrays in `folder` of any other source (its first SOURCE_CHARS in the name;
    older files have none) unused for STALE_AFTER seconds; the paths removed."""
    now = time.time() if now is None else now
    removed = []
    for path in folder.glob("*.npy"):
        if f"-{source}-" in path.name:
            continue
        with contextlib.suppress(OSError):  # another process removed it first, or reads it
            if now - path.stat().st_mtime > STALE_AFTER:
                path.unlink()
                removed.append(path)
    return removed
