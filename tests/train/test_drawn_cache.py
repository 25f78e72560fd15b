"""Calibration's drawn images kept on disk: the same array back without drawing, a damaged file
drawn again, a read-only cache only costs the time, and a changed source draws anew."""

from __future__ import annotations

import numpy as np

from mnistlab.train import drawn_cache
from mnistlab.train.drawn_cache import cached_array


def _counting(value: np.ndarray):
    calls = []

    def build() -> np.ndarray:
        calls.append(1)
        return value.copy()

    return build, calls


def test_a_second_call_reads_the_stored_array(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    value = np.arange(28 * 28 * 3, dtype=np.uint8).reshape(3, 28, 28)
    build, calls = _counting(value)
    first = cached_array("photographed", b"key", build)
    second = cached_array("photographed", b"key", build)
    assert calls == [1]
    assert np.array_equal(first, value) and np.array_equal(second, value)
    assert second.dtype == np.uint8 and second.shape == (3, 28, 28)
    cached_array("photographed", b"another key", build)
    assert calls == [1, 1]


def test_a_damaged_file_is_drawn_again_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    value = np.linspace(-1, 1, 50, dtype=np.float32)
    build, calls = _counting(value)
    cached_array("detector", b"k", build)
    (stored,) = (tmp_path / "mnistlab" / "drawn").glob("detector-*.npy")
    stored.write_bytes(stored.read_bytes()[:40])  # cut short
    assert np.array_equal(cached_array("detector", b"k", build), value)
    assert calls == [1, 1]
    assert np.array_equal(np.load(stored), value)  # replaced whole


def test_a_cache_that_cannot_be_written_only_costs_the_time(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    value = np.ones((2, 2), np.uint8)
    build, calls = _counting(value)
    for _ in range(2):
        assert np.array_equal(cached_array("nondigits", b"k", build), value)
    assert calls == [1, 1]


def test_changed_source_draws_anew(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    build, calls = _counting(np.zeros(4))
    cached_array("photographed", b"k", build)
    monkeypatch.setattr(drawn_cache, "source_fingerprint", lambda: "another source")
    cached_array("photographed", b"k", build)
    assert calls == [1, 1]
