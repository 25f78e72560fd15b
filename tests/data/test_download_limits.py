"""Downloads that fail cleanly: size caps (compressed and unpacked), a stall window, an overall
deadline, and no .part file left on any exit."""

from __future__ import annotations

import gzip
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from mnistlab.data import idx
from mnistlab.data.datasets import MNIST
from mnistlab.data.download import Limits, download_file
from mnistlab.errors import DataError, DownloadError

LABELS = MNIST.file("test-labels")  # 10,008 bytes unpacked
IMAGES = MNIST.file("test-images")  # 7,840,016 bytes unpacked


def _no_parts(folder) -> bool:
    return not list(folder.glob(".*.part"))


def test_a_gzip_bomb_as_the_labels_file_is_refused_before_it_grows(mirror, tmp_path):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DownloadError, match="announces 65,2[0-9]{2} bytes, more than the file"):
        download_file(LABELS, [mirror.url("bomb")], tmp_path, retries=0)
    assert _no_parts(tmp_path) and not (tmp_path / "t10k-labels-idx1-ubyte.gz").exists()
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 50_000


def test_a_bomb_that_fits_the_compressed_cap_is_stopped_while_unpacking(mirror, tmp_path):
    # 64 KB compressed passes the 7.9 MB cap of the test images; unpacking stops at 7.8 MB
    with pytest.raises(DownloadError, match="unpacks to more than the expected 7,840,016 bytes"):
        download_file(IMAGES, [mirror.url("bomb")], tmp_path, retries=0)
    assert _no_parts(tmp_path)


def test_gunzip_capped_stops_past_the_cap_and_reads_concatenated_members():
    data = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 10)
    assert idx.gunzip_capped(data, 1010) == b"a" * 1000 + b"b" * 10
    with pytest.raises(OverflowError):
        idx.gunzip_capped(data, 1009)
    with pytest.raises(EOFError):
        idx.gunzip_capped(data[:20], 1010)


def test_an_endless_body_is_cut_at_the_cap(mirror, tmp_path):
    with pytest.raises(DownloadError, match="sent more than"):
        download_file(IMAGES, [mirror.url("endless")], tmp_path, retries=0)
    assert _no_parts(tmp_path)


def test_a_trickling_mirror_is_dropped_as_stalled_and_the_next_one_used(mirror, tmp_path):
    limits = Limits(timeout=5, stall_seconds=1.0, stall_bytes=100, max_bytes=20_000)
    start = time.monotonic()
    path = download_file(
        LABELS, [mirror.url("trickle"), mirror.url("good")], tmp_path, limits=limits
    )
    assert path.is_file() and time.monotonic() - start < 10
    assert _no_parts(tmp_path)


def test_the_overall_deadline(mirror, tmp_path):
    limits = Limits(timeout=5, stall_seconds=60, stall_bytes=1, deadline=1.0, max_bytes=20_000)
    with pytest.raises(DownloadError, match="not done after 1 s"):
        download_file(LABELS, [mirror.url("trickle")], tmp_path, retries=0, limits=limits)


def test_sigterm_mid_download_leaves_no_part_file(mirror, tmp_path):
    target = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "MNISTLAB_DATA_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "data", "fetch", "--data-dir", str(target),
         "--mirror", mirror.url("trickle")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (target.is_dir() and list(target.glob(".*.part"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err
    assert _no_parts(target)


def test_stale_part_files_are_cleared(mirror, tmp_path):
    stale = tmp_path / ".t10k-labels-idx1-ubyte.gz.abc.part"
    stale.write_bytes(b"x")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = tmp_path / ".t10k-labels-idx1-ubyte.gz.def.part"
    fresh.write_bytes(b"y")  # may belong to a download still running: kept
    download_file(LABELS, [mirror.url("good")], tmp_path)
    assert not stale.exists() and fresh.exists()


def test_every_default_mnist_mirror_is_https():
    assert all(m.startswith("https://") for m in MNIST.mirrors)


def test_an_oversized_local_file_is_a_data_error(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\0" * 50_000)
    with pytest.raises(DataError, match="larger than the expected file"):
        idx.read_bytes(path, max_size=LABELS.size)
