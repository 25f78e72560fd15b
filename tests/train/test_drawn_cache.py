"""Calibration's drawn images kept on disk: the same array back without drawing, a damaged file
drawn again, a read-only cache only costs the time, and a changed source draws anew."""

from __future__ import annotations

import os
import time

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


def test_another_source_s_arrays_go_once_unused_for_a_day(tmp_path, monkeypatch):
    """An upgrade or an edited checkout draws anew; the arrays it replaced are never read again
    and went on taking ~4 MB each time, so a write removes them a day after their last use."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "mnistlab" / "drawn"
    folder.mkdir(parents=True)
    day_ago = time.time() - drawn_cache.STALE_AFTER - 60
    old_source = folder / "fit-kinds-0123456789ab-ffff.npy"
    old_style = folder / "nondigits-ffff.npy"  # named before names carried their source
    recent = folder / "photographed-ba9876543210-ffff.npy"  # another install, in use
    for path in (old_source, old_style, recent):
        np.save(path, np.zeros(3))
    for path in (old_source, old_style):
        os.utime(path, (day_ago, day_ago))
    build, calls = _counting(np.ones(3))
    cached_array("photographed", b"k", build)
    (own,) = folder.glob(f"photographed-{drawn_cache.source_fingerprint()[:12]}-*.npy")
    assert not old_source.exists() and not old_style.exists() and recent.exists()
    os.utime(own, (day_ago, day_ago))
    assert np.array_equal(cached_array("photographed", b"k", build), np.ones(3))
    assert calls == [1] and time.time() - own.stat().st_mtime < 60  # a read marks it used
    assert drawn_cache.remove_stale(folder, drawn_cache.source_fingerprint()[:12]) == []
    # the predecessor was still in use when this source first wrote: a later read removes it
    os.utime(recent, (day_ago, day_ago))
    cached_array("photographed", b"k", build)
    assert calls == [1] and not recent.exists() and own.exists()
