"""Reader for the IDX format of the MNIST files (unsigned-byte data only).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the data in C order.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from mnistlab.errors import DataError

UBYTE_TYPE_CODE = 0x08
_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}


def gzip_bound(size: int) -> int:
    """The most bytes a gzip of `size` bytes can take: gzip never grows data by more than
    ~0.1%, plus its header."""
    return size + size // 100 + 1024


def read_bytes(path: str | Path, max_size: int | None = None) -> bytes:
    """The file's content, decompressed when it is gzip (detected by content, not by name).

    `max_size` caps the content: a larger file, or gzip data that would unpack to more (a
    decompression bomb), is a DataError before that much memory is used.
    """
    path = Path(path)
    try:
        if max_size is not None and path.stat().st_size > gzip_bound(max_size):
            raise DataError(f"{path}: larger than the expected file ({max_size:,} bytes)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:2] != b"\x1f\x8b":
        if max_size is not None and len(raw) > max_size:
            raise DataError(f"{path}: larger than the expected file ({max_size:,} bytes)")
        return raw
    try:
        return gunzip_capped(raw, max_size)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"{path}: corrupt or truncated gzip data ({exc}); delete it and fetch it again"
        ) from None
    except OverflowError:
        raise DataError(
            f"{path}: unpacks to more than the expected {max_size:,} bytes; not the right "
            "file (delete it and fetch it again)"
        ) from None


def gunzip_capped(raw: bytes, max_size: int | None) -> bytes:
    """gzip.decompress that stops with OverflowError past `max_size` bytes of output."""
    if max_size is None:
        return gzip.decompress(raw)
    out = bytearray()
    while raw:
        engine = zlib.decompressobj(wbits=31)  # one gzip member
        out += engine.decompress(raw, max_size + 1 - len(out))
        if len(out) > max_size or engine.unconsumed_tail:
            raise OverflowError
        if not engine.eof:
            raise EOFError("compressed file ended before the end-of-stream marker")
        raw = engine.unused_data.lstrip(b"\x00")  # members may follow (and padding)
    return bytes(out)


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a read-only uint8 array, validating the header against the length."""
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file (only {len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{name}: not an IDX file (bad magic number 0x{data[:4].hex()}; "
            "expected 0x0000 followed by type and dimension bytes)"
        )
    type_code, ndim = data[2], data[3]
    if type_code != UBYTE_TYPE_CODE:
        kind = _TYPE_NAMES.get(type_code, f"unknown type 0x{type_code:02x}")
        raise DataError(
            f"{name}: IDX type code 0x{type_code:02x} ({kind}); only unsigned byte "
            "(0x08) is supported"
        )
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(
            f"{name}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need {header_len})"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header_len + math.prod(shape)  # Python ints: no overflow on a bad header
    if len(data) < expected:
        raise DataError(
            f"{name}: truncated: header declares shape {shape} ({expected} bytes) but "
            f"the file has {len(data)} bytes; fetch it again"
        )
    if len(data) > expected:
        raise DataError(
            f"{name}: {len(data) - expected} unexpected trailing bytes after the data "
            f"of shape {shape}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


def read_idx(path: str | Path) -> np.ndarray:
    """Read a plain or gzip-compressed IDX file."""
    return parse_idx(read_bytes(path), str(path))


def check_images(images: np.ndarray, name: str) -> None:
    if images.ndim != 3:
        raise DataError(f"{name}: expected images of shape (N, rows, cols), got {images.shape}")


def check_labels(labels: np.ndarray, name: str, num_classes: int = 10) -> None:
    if labels.ndim != 1:
        raise DataError(f"{name}: expected labels of shape (N,), got {labels.shape}")
    if labels.size and int(labels.max()) >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataError(
            f"{name}: label {int(labels[bad])} at index {bad} is outside 0-{num_classes - 1}"
        )


def check_pair(images: np.ndarray, labels: np.ndarray, images_name: str, labels_name: str) -> None:
    if len(images) != len(labels):
        raise DataError(
            f"{labels_name}: {len(labels)} labels for {len(images)} images in {images_name}"
        )


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for a uint8 array (used by tests, fixtures and the preview exporter)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE_TYPE_CODE, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()
