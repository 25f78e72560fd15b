"""Digits and non-digits drawn for calibration, and the digit detector's scores of them, kept
on disk between runs.

Every training run calibrates at its end on the same drawn images (validation digits as photos,
the bank's photos, non-digits): ~10 s of rendering and preprocessing on a 2-core CPU, against
well under a second to train a small model on a share of an epoch. They are a pure function of
their inputs, the mnistlab source and the image libraries, so all of these make the key: a
changed renderer or preprocessing draws them anew. The cache sits beside the data cache
(`$XDG_CACHE_HOME/mnistlab/drawn/`); a folder that cannot be written only costs the time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from mnistlab.data.store import cache_root
from mnistlab.files import write_bytes_atomic

# they draw and resample the images; onnxruntime (with onnx) scores the digit detector, within
# 5e-6 of PyTorch: which of the two ran is part of the key too
LIBRARIES = ("numpy", "pillow", "scipy", "onnx", "onnxruntime", "torch")


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
    digest = hashlib.sha256(key + source_fingerprint().encode()).hexdigest()[:32]
    path = cache_root() / "drawn" / f"{name}-{digest}.npy"
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        pass
    array = build()
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    with contextlib.suppress(OSError):  # a read-only cache: draw them each time
        write_bytes_atomic(path, buffer.getvalue(), durable=False)
    return array
