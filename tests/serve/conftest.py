"""Fixtures for the web tests: a live server (the trained lenet5 is in tests/conftest.py)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from mnistlab.serve.run import bind_socket, make_server


@contextlib.contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 on a free port in a thread; yields the base URL."""
    sock = bind_socket("127.0.0.1", 0)
    server = make_server(app, sock, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def live_server():
    """`with live_server(app) as url:` runs a real uvicorn server for the block."""
    return serve_in_thread
