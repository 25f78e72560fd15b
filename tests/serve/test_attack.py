"""A real server under attack from 127.0.0.1, bounded in count and time: memory stays under a
ceiling, silent and slow clients are cut, and /healthz keeps answering everyone else."""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time

import httpx2
import pytest
from PIL import Image

RSS_CEILING_KB = 1_500_000  # 1.5 GB


@pytest.fixture(scope="module")
def server():
    env = {k: v for k, v in os.environ.items() if k != "MNISTLAB_DATA_DIR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "serve", "lenet5", "--port", "0",
         "--header-timeout", "2", "--body-timeout", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    first = proc.stdout.readline()
    match = re.search(r"on (http://[\d.]+:\d+)/", first)
    assert match, first
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
    url = match.group(1)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx2.get(url + "/healthz", timeout=2)
            break
        except httpx2.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    yield proc, url
    proc.terminate()
    proc.wait(timeout=20)


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return int(next(line for line in handle if line.startswith("VmHWM")).split()[1])


def near_limit_png() -> bytes:
    side = 5400  # 29.2 MP, inside the 30 MP limit; RGBA, compresses to ~100 KB
    image = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    image.paste((0, 0, 0, 255), (side // 3, side // 5, side // 2, side * 4 // 5))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


@pytest.mark.slow
def test_forty_near_limit_images_at_once_stay_under_the_memory_ceiling(server):
    proc, url = server
    body = near_limit_png()
    assert len(body) < 1_000_000
    statuses: list[int] = []

    def send() -> None:
        with httpx2.Client(timeout=120) as client:
            answer = client.post(url + "/api/predict", files={"file": ("big.png", body)})
            statuses.append(answer.status_code)
            assert answer.headers["content-type"].startswith("application/json")

    threads = [threading.Thread(target=send) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(statuses) == 40
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 2  # some were answered, the rest told to come back
    peak = peak_rss_kb(proc.pid)
    print(f"40 near-limit images: {statuses.count(200)} answered, {statuses.count(503)} told to "
          f"retry; server peak RSS {peak / 1024:.0f} MB")  # fmt: skip
    assert peak < RSS_CEILING_KB
    assert httpx2.get(url + "/healthz", timeout=2).status_code == 200


@pytest.mark.slow
def test_silent_connections_are_cut_and_health_answers_meanwhile(server):
    _, url = server
    host, port = url.removeprefix("http://").split(":")
    silent = [socket.create_connection((host, int(port))) for _ in range(500)]
    start = time.monotonic()
    assert httpx2.get(url + "/healthz", timeout=1).status_code == 200
    assert time.monotonic() - start < 1
    partial = socket.create_connection((host, int(port)))
    partial.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    time.sleep(3)  # past the 2 s header timeout
    for sock in [*silent[:20], partial]:
        sock.settimeout(2)
        assert sock.recv(1) == b"", "the server kept a silent connection open"
    for sock in silent:
        sock.close()
    partial.close()


def test_a_body_trickling_past_its_deadline_gets_a_408(server):
    _, url = server
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    sock.settimeout(10)
    start = time.monotonic()
    answer = b""
    try:
        while time.monotonic() - start < 8 and b"\r\n\r\n" not in answer:
            sock.sendall(b"x")  # a byte every 0.5 s: never stalls, never finishes
            time.sleep(0.5)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                answer += sock.recv(4096)
            sock.setblocking(True)
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert 2.5 < time.monotonic() - start < 8
