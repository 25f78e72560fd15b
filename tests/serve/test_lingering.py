"""A request answered before its body was read (413) is read by every client: the server keeps
reading and discarding what the client still sends (a "lingering close"), bounded in bytes
and seconds, instead of closing at once, which makes the kernel reset the connection and
destroy the answer before a client that sends its whole body first (urllib) can read it."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import torch

from mnistlab.inference import Predictor
from mnistlab.models import create_model
from mnistlab.serve import create_app, protocol
from mnistlab.serve.limits import BodyLimitMiddleware
from mnistlab.serve.run import bind_socket, make_server

META = {"model": "lenet5", "config": {}, "normalization": "mnist", "dataset": "mnist"}
LINGER_SECONDS = 1.0
LINGER_BYTES = 2_000_000


@pytest.fixture(scope="module")
def app():
    torch.manual_seed(0)
    return create_app(Predictor(create_model("lenet5"), META))


def test_urllib_reads_the_413_of_a_20_mb_upload(app, live_server):
    body = b"\x89PNG" + bytes(20_000_000)
    with live_server(app) as url:
        request = urllib.request.Request(
            url + "/api/predict", data=body, headers={"Content-Type": "image/png"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 413
        assert json.loads(refused.value.read())["error"] == "body_too_large"
        with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
            assert json.loads(answer.read()) == {"status": "ok"}


async def health_only(scope, receive, send):
    """Answers GET; every POST body here is over the limit, refused before reaching the app."""
    if scope["type"] != "http":
        return
    assert scope["method"] == "GET", "the body limit let a POST through"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=["httptools", "h11"])
def port(request, monkeypatch):
    if request.param == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        monkeypatch.setattr(protocol, "base_protocol", lambda: H11Protocol)
    sock = bind_socket("127.0.0.1", 0)
    app = BodyLimitMiddleware(health_only, max_bytes=1000)
    server = make_server(
        app, sock, log_level="error", linger_seconds=LINGER_SECONDS, linger_bytes=LINGER_BYTES
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


HEAD = b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000000000\r\n\r\n"


def send_forever(port: int, chunk: bytes, pause: float, limit: float = 15.0) -> dict:
    """Send `chunk` every `pause` seconds until the server cuts the connection (or `limit`
    seconds pass), reading what it answers meanwhile."""
    start, sent, received, cut = time.monotonic(), 0, b"", False
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(HEAD)
        sock.settimeout(0.05)
        while time.monotonic() - start < limit:
            try:
                sock.sendall(chunk)
                sent += len(chunk)
            except TimeoutError:
                pass
            except OSError:  # reset or broken pipe: cut
                cut = True
                break
            try:
                received += sock.recv(65536)
            except TimeoutError:
                pass
            except OSError:
                cut = True
                break
            time.sleep(pause)
    return {"seconds": time.monotonic() - start, "sent": sent, "received": received, "cut": cut}


def health(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        return sock.recv(4096)


def test_a_slow_client_reads_its_413_and_is_cut_after_the_time_bound(port):
    result = send_forever(port, b"x" * 1000, pause=0.05)
    assert result["cut"], result
    assert b" 413 " in result["received"] and b"body_too_large" in result["received"]
    # it lingered (not closed at once), and no longer than the bound (plus scheduling slack)
    assert LINGER_SECONDS * 0.8 < result["seconds"] < LINGER_SECONDS + 3, result["seconds"]
    assert health(port).startswith(b"HTTP/1.1 200")  # the server still answers


def test_a_fast_client_is_cut_after_the_byte_bound(port):
    result = send_forever(port, b"x" * 65536, pause=0)
    assert result["cut"], result
    assert result["seconds"] < LINGER_SECONDS, result  # the bytes cut it, not the time
    assert b" 413 " in result["received"]  # and it read why before that
    # what it sent beyond the bound fits in the kernel's socket buffers on both sides
    assert result["sent"] < LINGER_BYTES + 16_000_000, result["sent"]
    assert health(port).startswith(b"HTTP/1.1 200")
