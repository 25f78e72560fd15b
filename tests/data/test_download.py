"""Downloading from mirrors, against a real HTTP server on 127.0.0.1 serving the real files.

Most tests fetch the 10 kB test-labels file; one fetches all four through the CLI.
"""

from __future__ import annotations

import gzip
import os
import socket

import pytest

from mnistlab.data import download, store
from mnistlab.data.datasets import get_dataset
from mnistlab.errors import DataError, DownloadError

MNIST = get_dataset("mnist")
LABELS = MNIST.file("test-labels")
NAME = "t10k-labels-idx1-ubyte.gz"


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def _assert_verified(path, file=LABELS):
    assert store.md5_hex(gzip.decompress(path.read_bytes())) == file.md5


def test_404_then_good_mirror(tmp_path, mirror):
    dest = tmp_path / "dest"
    path = download.download_file(LABELS, [mirror.url("missing"), mirror.url("good")], dest)
    assert path == dest / NAME and os.listdir(dest) == [NAME]
    _assert_verified(path)
    assert mirror.hits[f"/missing/{NAME}"] == 1  # a 404 is not retried
    assert path.stat().st_mode & 0o044 == 0o044  # readable by others, not mkstemp's 0600


def test_corrupt_mirror_is_rejected_and_leaves_nothing(tmp_path, mirror):
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError) as info:
        download.download_file(LABELS, [mirror.url("corrupt")], dest)
    assert f"{mirror.url('corrupt')}{NAME}: checksum mismatch" in str(info.value)
    assert mirror.hits[f"/corrupt/{NAME}"] == 1  # a bad checksum is not retried on the same URL
    assert os.listdir(dest) == []


def test_corrupt_then_good_mirror(tmp_path, mirror):
    dest = tmp_path / "dest"
    path = download.download_file(LABELS, [mirror.url("corrupt"), mirror.url("good")], dest)
    _assert_verified(path)
    assert os.listdir(dest) == [NAME]


def test_cut_transfer_leaves_nothing(tmp_path, mirror):
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match="transfer cut short"):
        download.download_file(LABELS, [mirror.url("cut")], dest)
    assert os.listdir(dest) == []


def test_retry_once_on_5xx(tmp_path, mirror):
    dest = tmp_path / "dest"
    path = download.download_file(LABELS, [mirror.url("flaky")], dest)
    _assert_verified(path)
    assert mirror.hits[f"/flaky/{NAME}"] == 2
    with pytest.raises(DownloadError, match="HTTP 500"):
        download.download_file(LABELS, [mirror.url("error")], tmp_path / "other")
    assert mirror.hits[f"/error/{NAME}"] == 2  # one retry, not more


def test_timeout_moves_on_to_the_next_mirror(tmp_path, mirror):
    dest = tmp_path / "dest"
    path = download.download_file(
        LABELS, [mirror.url("slow"), mirror.url("good")], dest, timeout=0.3
    )
    _assert_verified(path)
    assert mirror.hits[f"/slow/{NAME}"] == 2  # tried, retried, then the next mirror
    assert os.listdir(dest) == [NAME]


def test_all_mirrors_bad_lists_every_mirror_and_why(tmp_path, mirror):
    refused = _closed_port_url()
    urls = [mirror.url("missing"), mirror.url("corrupt"), mirror.url("cut"), refused]
    with pytest.raises(DownloadError) as info:
        download.download_file(LABELS, urls, tmp_path / "dest", timeout=5)
    message = str(info.value)
    assert "\n" not in message
    for url, why in zip(
        urls, ["HTTP 404", "checksum mismatch", "transfer cut short", "cannot connect"], strict=True
    ):
        assert f"{url}{NAME}: {why}" in message
    assert "--mirror URL" in message and "--data-dir" in message and "MNISTLAB_DATA_DIR" in message
    assert os.listdir(tmp_path / "dest") == []


def test_user_agent_is_sent(tmp_path, mirror):
    download.download_file(LABELS, [mirror.url("good")], tmp_path)
    assert mirror.user_agents == [download.USER_AGENT]
    assert download.USER_AGENT.startswith("mnistlab/")


def test_progress_reports_bytes(tmp_path, mirror):
    calls = []
    download.download_file(
        LABELS,
        [mirror.url("good")],
        tmp_path,
        progress=lambda name, done, total: calls.append((name, done, total)),
    )
    size = len(mirror.files[NAME])
    assert calls and calls[-1] == (NAME, size, size)
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)


def test_progress_bar_draws_on_stderr(capsys):
    download.terminal_progress("f.gz", 500_000, 1_000_000)
    download.terminal_progress("f.gz", 1_000_000, 1_000_000)
    err = capsys.readouterr().err
    assert "f.gz [###############...............]" in err and err.endswith("1.0/1.0 MB\n")


def test_mirror_order_flag_then_env_then_registry(monkeypatch):
    monkeypatch.delenv("MNISTLAB_MIRRORS", raising=False)
    assert download.mirror_list(MNIST) == list(MNIST.mirrors)
    monkeypatch.setenv("MNISTLAB_MIRRORS", " http://a/ ,http://b/,")
    assert download.mirror_list(MNIST) == ["http://a/", "http://b/"]
    assert download.mirror_list(MNIST, ["http://c/"]) == ["http://c/"]


def test_ensure_files_downloads_only_what_is_missing(tmp_path, mirror, link_real, monkeypatch):
    root = tmp_path / "root"
    link_real(root, skip=("t10k-labels-idx1-ubyte",))
    monkeypatch.setenv("MNISTLAB_MIRRORS", mirror.url("good"))
    paths = download.ensure_files(MNIST, root)
    assert paths["test-labels"] == root / NAME
    assert list(mirror.hits) == [f"/good/{NAME}"]


def test_unwritable_destination_is_a_one_line_error(tmp_path, mirror):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DataError, match="cannot write downloads there") as info:
        download.download_file(LABELS, [mirror.url("good")], blocker / "sub")
    assert not isinstance(info.value, DownloadError) and "\n" not in str(info.value)
