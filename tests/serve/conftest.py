"""Fixtures for the web tests: a trained lenet5 (as in tests/inference) and a live server.

Set MNISTLAB_TEST_MODEL to an existing run folder to skip the training while iterating locally.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnistlab.cli import main
from mnistlab.serve.run import bind_socket, make_server


def train_lenet5_once(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Train into the session's base temp folder unless an earlier fixture already did."""
    if os.environ.get("MNISTLAB_TEST_MODEL"):
        return Path(os.environ["MNISTLAB_TEST_MODEL"])
    out = tmp_path_factory.getbasetemp() / "trained-lenet5"
    if not (out / "model.json").is_file():
        code = main(
            [
                "train",
                "--model",
                "lenet5",
                "--epochs",
                "1",
                "--device",
                "cpu",
                "--quiet",
                "--data-dir",
                str(data_dir),
                "--out",
                str(out),
            ]
        )
        assert code == 0, "training the test model failed"
    return out


@pytest.fixture(scope="session")
def trained_lenet5(tmp_path_factory, real_data_dir) -> Path:
    return train_lenet5_once(tmp_path_factory, real_data_dir)


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
