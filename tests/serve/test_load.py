"""A CI-sized load test with a compiled load generator (wrk): the real server, two worker
processes, 127.0.0.1 only, a few seconds: no errors, a memory ceiling, clean shutdown."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from benchmarks.serve_load import (
    free_port,
    peak_rss_mb,
    pixel_payloads,
    process_tree,
    run_wrk,
)

pytestmark = pytest.mark.slow


def test_two_workers_under_wrk(real_data_dir):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is missing: apt-get install wrk (scripts/test.sh does)")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "serve", "lenet5", "--port", str(port),
         "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # a full pipe would block the logs
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the server exited"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        pids = process_tree(server.pid)
        assert len(pids) == 3  # the supervisor and two workers
        bodies, _ = pixel_payloads(str(real_data_dir), 50)
        summary = run_wrk(port, bodies, seconds=3, connections=32)
        assert summary["requests"] >= 300, summary
        assert summary["status_errors"] == summary["socket_errors"] == 0, summary
        assert summary["timeouts"] == 0, summary
        assert peak_rss_mb(pids) < 1500
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C: every worker stops, then the supervisor
        server.wait(timeout=30)
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
