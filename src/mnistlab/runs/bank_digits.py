"""The images and labels of the training digits behind the shipped models' feature banks.

A feature bank (runs.features) holds only features: enough to say how far an input is from the
training digits, not which digits they are. To show a reader the nearest training digits,
mnistlab ships their images once for all shipped models, in `weights/bank/digits.safetensors`,
made by scripts/make_bank_digits.py from MNIST's train split only:

- `levels`: the distinct images, LZMA-compressed, each pixel rounded to one of 16 grey levels
  (0, 17, ..., 255) and two pixels packed per byte: 80 bytes a digit instead of 784, and at
  112 px on a page no one sees the difference (0 and 255, ink and background, stay exact);
- `labels`: their labels, (images,) uint8;
- `rows.<first 16 hex digits of a bank's SHA-256>`: for that bank, (rows,) int16 image index
  per bank row, so a model whose bank is a shipped one (copied folders too) finds its digits.

The file is pinned by SHA-256 here: a changed file is an error naming it, never wrong digits.
"""

from __future__ import annotations

import functools
import hashlib
import json
import lzma
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors_bytes
from safetensors.numpy import save as save_safetensors_bytes

from mnistlab.errors import CheckpointError

DIGITS_FILE = Path(__file__).resolve().parent.parent / "weights" / "bank" / "digits.safetensors"
DIGITS_SHA256 = "f1c6c28288643dd2bb1decc891a820f5c3fae8e73aca7e6b2a22b057e706cb29"
LEVEL = 17  # 255 / 15: the step between the 16 grey levels kept
SIDE = 28
ROWS_PREFIX = "rows."


@dataclass(frozen=True)
class BankDigits:
    """One bank's training digits, row for row: images (rows, 28, 28) uint8, labels (rows,)."""

    images: np.ndarray
    labels: np.ndarray


def bank_key(sha256: str) -> str:
    """The name of a bank's row index in the file."""
    return ROWS_PREFIX + sha256[:16]


def to_levels(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 rounded to the 16 levels the file keeps."""
    return ((images.astype(np.int32) + LEVEL // 2) // LEVEL * LEVEL).astype(np.uint8)


def pack(images: np.ndarray) -> bytes:
    """(n, 28, 28) uint8 -> LZMA of their 4-bit levels, two pixels a byte."""
    level = (images.astype(np.int32) + LEVEL // 2) // LEVEL  # 0..15
    flat = level.reshape(len(images), -1)
    return lzma.compress((flat[:, ::2] << 4 | flat[:, 1::2]).astype(np.uint8).tobytes())


def unpack(data: bytes, count: int) -> np.ndarray:
    """pack's inverse: (count, 28, 28) uint8 on the 16 levels."""
    packed = np.frombuffer(lzma.decompress(data), np.uint8).reshape(count, SIDE * SIDE // 2)
    flat = np.empty((count, SIDE * SIDE), np.uint8)
    flat[:, ::2], flat[:, 1::2] = packed >> 4, packed & 15
    return (flat * LEVEL).reshape(count, SIDE, SIDE)


def digits_bytes(images: np.ndarray, labels: np.ndarray, rows: dict[str, np.ndarray]) -> bytes:
    """The file's bytes: distinct `images` with their `labels`, and per bank SHA-256 its row
    index into them."""
    tensors = {
        "levels": np.frombuffer(pack(images), np.uint8).copy(),
        "labels": labels.astype(np.uint8),
        **{bank_key(sha): index.astype(np.int16) for sha, index in rows.items()},
    }
    return save_safetensors_bytes(tensors, metadata={"images": json.dumps(len(images))})


def read_digits(path: Path, sha256: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(images, labels, row index per bank key) from a digits file; CheckpointError, naming
    it, when it is missing, changed or unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the bank's digits ({exc.strerror})") from None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"{path}: does not match the SHA-256 mnistlab ships (damaged?)")
    try:
        tensors = load_safetensors_bytes(data)
        count = len(tensors["labels"])
        images = unpack(tensors["levels"].tobytes(), count)
    except (SafetensorError, KeyError, ValueError, lzma.LZMAError) as exc:
        raise CheckpointError(f"{path}: unreadable bank digits ({exc})") from None
    rows = {k: v.astype(np.int64) for k, v in tensors.items() if k.startswith(ROWS_PREFIX)}
    return images, tensors["labels"].astype(np.int64), rows


_LOCK = threading.Lock()


@functools.cache
def _shipped() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    return read_digits(DIGITS_FILE, DIGITS_SHA256)


def shipped_bank_digits(bank_sha256: str) -> BankDigits | None:
    """The digits of the shipped bank with this SHA-256 (model.json's calibration.features),
    or None for a bank mnistlab does not ship (a model trained here). Loaded once a process."""
    if not bank_sha256:
        return None
    with _LOCK:  # the first explanation loads it; the other threads wait rather than load too
        return _for_bank(bank_sha256)


@functools.cache
def _for_bank(bank_sha256: str) -> BankDigits | None:
    images, labels, rows = _shipped()
    index = rows.get(bank_key(bank_sha256))
    if index is None:
        return None
    digits = BankDigits(images=images[index], labels=labels[index])
    digits.images.flags.writeable = digits.labels.flags.writeable = False  # shared by callers
    return digits


@functools.cache
def shipped_digit_sets() -> tuple[BankDigits, ...]:
    """Every distinct row order of the shipped banks' digits (today one: the shipped models'
    banks all hold the same 6,000 training digits), for matching a bank made here
    (inference.bank_match). Loaded once a process and shared, read-only."""
    with _LOCK:
        images, labels, rows = _shipped()
    distinct = {index.tobytes(): index for index in rows.values()}
    sets = []
    for index in distinct.values():
        digits = BankDigits(images=images[index], labels=labels[index])
        digits.images.flags.writeable = digits.labels.flags.writeable = False
        sets.append(digits)
    return tuple(sets)
