"""The published OpenAPI document and the server agree: schemathesis, with all its checks, against
a live server. A request the schema allows is answered 2xx, one it forbids is refused with a
documented 4xx, every answer has a documented status and matches its schema, and none is a 5xx.

Its CLI runs in a subprocess (its own phases: boundary cases from the schema, then generated
ones), bounded by a fixed number of examples per operation and a fixed seed, so a run is the
same every time and takes well under a minute. schemathesis_hooks.py teaches it what a readable
image is (the one thing no schema keyword can say)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnistlab.serve import create_app

HERE = Path(__file__).parent
EXAMPLES = 25  # per operation, in the generated phase; the boundary-case phase is on top
SEED = 20261206


@pytest.fixture(scope="module")
def server(live_server):
    """The shipped lenet5, as `mnistlab serve` runs it; a batch limit of 4, so that generated
    batches reach it (the schema's maxItems says the app's limit)."""
    with live_server(create_app("lenet5", max_batch=4)) as url:
        yield url


def run_schemathesis(url: str, tmp_path: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", str(SEED),
        "--workers", "1", "--request-timeout", "20", "--max-failures", "20",
        "--no-color", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(HERE), "SCHEMATHESIS_HOOKS": "schemathesis_hooks"}
    return subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240
    )


def test_the_schema_and_the_server_agree(server, tmp_path):
    done = run_schemathesis(server, tmp_path)
    summary = done.stdout[-6000:]
    assert done.returncode == 0, summary + done.stderr[-2000:]
    assert "No issues found" in done.stdout and "6 selected / 6 total" in done.stdout, summary
