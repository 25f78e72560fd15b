"""The IDX reader: round trips, and one test per validation error, each a one-line message that
names the file and the problem."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mnistlab.data import idx
from mnistlab.data.store import load_raw
from mnistlab.errors import DataError


def _error(path, reader=idx.read_idx) -> str:
    with pytest.raises(DataError) as info:
        reader(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return message


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (5, 28, 28), (2, 3, 4, 5)])
def test_round_trip_plain_and_gzip(tmp_path, idx_writer, shape, suffix):
    array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    path = idx_writer(tmp_path / f"f-idx{suffix}", array)
    out = idx.read_idx(path)
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, array)


def test_gzip_is_detected_by_content_not_name(tmp_path, idx_writer):
    array = np.arange(10, dtype=np.uint8)
    path = idx_writer(tmp_path / "labels-without-suffix", array, gz=True)
    np.testing.assert_array_equal(idx.read_idx(path), array)


def test_header_layout_matches_the_format():
    data = idx.encode_idx(np.zeros((3, 2), dtype=np.uint8))
    assert data[:4] == b"\x00\x00\x08\x02"
    assert data[4:12] == (3).to_bytes(4, "big") + (2).to_bytes(4, "big")
    assert len(data) == 12 + 6


def test_bad_magic(tmp_path):
    path = tmp_path / "bad-magic"
    path.write_bytes(b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    message = _error(path)
    assert "bad magic number 0x12340801" in message


def test_wrong_type_code(tmp_path):
    path = tmp_path / "floats"
    path.write_bytes(b"\x00\x00\x0d\x01" + (1).to_bytes(4, "big") + b"\x00" * 4)
    message = _error(path)
    assert "type code 0x0d (float)" in message and "only unsigned byte" in message


def test_zero_dimensions(tmp_path):
    path = tmp_path / "zero-dims"
    path.write_bytes(b"\x00\x00\x08\x00")
    assert "declares 0 dimensions" in _error(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "short-header"
    path.write_bytes(b"\x00\x00\x08\x03" + (60000).to_bytes(4, "big"))  # 3 dims, 1 size given
    assert "truncated IDX header (8 bytes, 3 dimensions need 16)" in _error(path)


def test_shorter_than_a_magic_number(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    assert "not an IDX file (only 2 bytes)" in _error(path)


def test_truncated_data(tmp_path):
    path = tmp_path / "truncated"
    path.write_bytes(idx.encode_idx(np.zeros((4, 28, 28), dtype=np.uint8))[:-100])
    message = _error(path)
    assert "truncated" in message and "(4, 28, 28)" in message and "fetch it again" in message


def test_header_sizes_too_large_for_int64_are_truncation_not_trailing_bytes(tmp_path):
    # 65536**4 == 2**64 wrapped to 0 in int64 arithmetic and read as "trailing bytes".
    path = tmp_path / "huge"
    path.write_bytes(b"\x00\x00\x08\x04" + (65536).to_bytes(4, "big") * 4 + b"x" * 100)
    assert "truncated" in _error(path)


def test_trailing_bytes(tmp_path):
    path = tmp_path / "trailing"
    path.write_bytes(idx.encode_idx(np.zeros((2, 28, 28), dtype=np.uint8)) + b"junk")
    assert "4 unexpected trailing bytes" in _error(path)


def test_label_outside_0_to_9(tmp_path, synthetic_factory):
    labels = np.arange(20) % 10
    labels[13] = 10
    spec = synthetic_factory(tmp_path, train_labels=labels)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    message = _error(path, lambda _: load_raw(spec, tmp_path))
    assert "label 10 at index 13 is outside 0-9" in message


def test_label_count_differs_from_image_count(tmp_path, synthetic_factory):
    spec = synthetic_factory(tmp_path, train_labels=np.arange(19) % 10)  # 19 labels, 20 images
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    message = _error(path, lambda _: load_raw(spec, tmp_path))
    assert "19 labels for 20 images" in message and "train-images-idx3-ubyte.gz" in message


def test_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress(idx.encode_idx(np.arange(200, dtype=np.uint8) % 10)))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(data))
    message = _error(path)
    assert "corrupt or truncated gzip data" in message and "fetch it again" in message


def test_truncated_gzip(tmp_path):
    data = gzip.compress(idx.encode_idx(np.arange(5000, dtype=np.uint8) % 10))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated gzip data" in _error(path)


def test_missing_file(tmp_path):
    assert "file not found" in _error(tmp_path / "nope")
