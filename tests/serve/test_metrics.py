"""The operator's view: /metrics counts what the server did (also summed over --workers), and
every answer carries an X-Request-ID."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import httpx2
import pytest
import torch

from mnistlab.inference import Predictor
from mnistlab.models import create_model
from mnistlab.serve import create_app
from mnistlab.serve.admission import Admission
from mnistlab.serve.batching import report_batch_sizes
from mnistlab.serve.metrics import Metrics, ObservedApp
from mnistlab.serve.workers import run_workers, shared_metrics_folder

META = {"model": "lenet5", "config": {}, "normalization": "mnist", "dataset": "mnist"}
STROKE = [255 if 12 <= i % 28 <= 15 and 4 <= i // 28 <= 23 else 0 for i in range(784)]
NAMES = (
    "mnistlab_http_requests_total",
    "mnistlab_http_request_duration_seconds_bucket",
    "mnistlab_http_requests_in_flight",
    "mnistlab_admission_waiting",
    "mnistlab_admission_rejected_total",
    "mnistlab_batch_size_digits_bucket",
    "mnistlab_model_info",
)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the one sample `name{labels...}` in Prometheus text (0 when absent)."""
    found = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            found += float(line.rsplit(" ", 1)[1])
    return found


@pytest.fixture
def observed():
    """`observed(admission=None)`: a model app wrapped as `mnistlab serve` wraps it."""

    def make(admission: Admission | None = None) -> ObservedApp:
        torch.manual_seed(0)
        app = create_app(Predictor(create_model("lenet5"), META), admission=admission,
                         max_body_bytes=100_000)  # fmt: skip
        metrics = Metrics("lenet5", "torch", "test")
        if admission is not None:
            metrics.attach(admission)
        else:
            report_batch_sizes(metrics.batch_size.observe)
        return ObservedApp(app, metrics)

    yield make
    report_batch_sizes(None)  # a setting of the whole process: leave it as found


def test_metrics_count_requests_by_route_and_status(observed, live_server):
    with live_server(observed()) as url:
        before = httpx2.get(url + "/metrics").text
        for _ in range(3):
            assert httpx2.post(url + "/api/predict", json={"pixels": STROKE}).status_code == 200
        assert httpx2.post(url + "/api/predict", json={"pixels": [1, 2]}).status_code == 400
        too_big = httpx2.post(url + "/api/predict", content=b"x" * 200_000,
                             headers={"content-type": "image/png"})  # fmt: skip
        assert too_big.status_code == 413  # answered before routing, still named by its route
        assert httpx2.get(url + "/nowhere/123").status_code == 404
        answer = httpx2.get(url + "/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    for name in NAMES:
        assert name in text, name
    assert sample(before, "mnistlab_http_requests_total", route="/api/predict") == 0
    assert sample(text, "mnistlab_http_requests_total", route="/api/predict", status="200") == 3
    assert sample(text, "mnistlab_http_requests_total", route="/api/predict", status="400") == 1
    assert sample(text, "mnistlab_http_requests_total", route="/api/predict", status="413") == 1
    assert sample(text, "mnistlab_http_requests_total", route="other", status="404") == 1
    assert sample(text, "mnistlab_http_requests_total", route="/metrics", status="200") == 1
    count = "mnistlab_http_request_duration_seconds_count"
    assert sample(text, count, route="/api/predict") == 5
    assert sample(text, "mnistlab_http_requests_in_flight") == 1  # this scrape itself
    assert sample(text, "mnistlab_batch_size_digits_sum") == 3  # one digit per predict
    assert sample(text, "mnistlab_model_info", model="lenet5", backend="torch") == 1


def test_an_overloaded_server_counts_its_503s(observed, live_server):
    full = Admission(max_active=0, max_waiting=0, pixel_budget=10**9)  # no room for anyone
    with live_server(observed(full)) as url:
        for _ in range(2):
            answer = httpx2.post(url + "/api/predict", json={"pixels": STROKE})
            assert answer.status_code == 503 and answer.json()["error"] == "overloaded"
        text = httpx2.get(url + "/metrics").text
    assert sample(text, "mnistlab_http_requests_total", route="/api/predict", status="503") == 2
    assert sample(text, "mnistlab_admission_rejected_total") == 2


def test_metrics_answer_get_only(observed, live_server):
    with live_server(observed()) as url:
        answer = httpx2.post(url + "/metrics", content=b"")
    assert answer.status_code == 405 and answer.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("0af7651916cd43dd8448eb211c80319c:b7ad6b71.69", True),
        ("x" * 129, False),  # too long
        ("a b<script>", False),  # unsafe to echo or to log
        ("", False),
        (None, False),  # absent
    ],
)
def test_request_id_is_echoed_when_safe_and_made_otherwise(observed, live_server, given, kept):
    headers = {} if given is None else {"X-Request-ID": given}
    with live_server(observed()) as url:
        first = httpx2.get(url + "/healthz", headers=headers).headers["x-request-id"]
        second = httpx2.get(url + "/healthz", headers=headers).headers["x-request-id"]
    if kept:
        assert first == second == given
    else:
        assert re.fullmatch("[0-9a-f]{32}", first) and first != second


def test_a_shared_metrics_folder_lives_as_long_as_its_block():
    with shared_metrics_folder(1) as none:
        assert none is None and "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    with shared_metrics_folder(2) as folder:
        assert os.path.isdir(folder) and os.environ["PROMETHEUS_MULTIPROC_DIR"] == folder
    assert not os.path.exists(folder) and "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_run_workers_reports_each_ended_worker():
    ended: list[int] = []
    assert run_workers(2, lambda: None, on_exit=ended.append) == 0
    assert len(set(ended)) == 2 and os.getpid() not in ended


@pytest.fixture
def two_workers(tmp_path):
    """`mnistlab serve lenet5 --workers 2 --access-log` on a free port; its temporary folders
    go under tmp_path (TMPDIR). Yields (process, url, output lines so far)."""
    env = {k: v for k, v in os.environ.items() if k != "MNISTLAB_DATA_DIR"}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "serve", "lenet5", "--port", "0", "--workers", "2",
         "--access-log"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        first = proc.stdout.readline()
        match = re.search(r"on (http://[\d.]+:\d+)/", first)
        assert match, first
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        url, deadline = match.group(1), time.monotonic() + 60
        while True:
            try:
                httpx2.get(url + "/healthz", timeout=2)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.1)
        yield proc, url, lines
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_two_workers_show_one_sum_whichever_answers(two_workers, tmp_path):
    proc, url, lines = two_workers
    count = 12
    for index in range(count):  # a new connection each: the kernel picks the worker
        headers = {"X-Request-ID": f"trace-{index}"}
        answer = httpx2.post(url + "/api/predict", json={"pixels": STROKE}, headers=headers)
        assert answer.status_code == 200 and answer.headers["x-request-id"] == f"trace-{index}"
    answering: set[str] = set()  # the pid of the worker that answered each scrape
    for _ in range(80):
        text = httpx2.get(url + "/metrics").text
        total = sample(text, "mnistlab_http_requests_total", route="/api/predict", status="200")
        assert total == count
        busy = re.findall(r'mnistlab_http_requests_in_flight\{pid="(\d+)"\} 1\.0', text)
        assert len(busy) == 1, text  # this scrape, in the worker answering it
        answering.update(busy)
        if len(answering) == 2:
            break
    assert len(answering) == 2, "one worker answered every scrape"
    assert sample(text, "mnistlab_batch_size_digits_sum") == count
    deadline = time.monotonic() + 10
    while not any("trace-7" in line for line in lines):
        assert time.monotonic() < deadline, lines[-5:]
        time.sleep(0.1)
    line = next(line for line in lines if "trace-7" in line)
    assert '"POST /api/predict HTTP/1.1" 200' in line
    assert len(list(tmp_path.glob("mnistlab-metrics-*"))) == 1  # removed at exit:
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    assert list(tmp_path.glob("mnistlab-metrics-*")) == []


def test_without_prometheus_client_the_error_names_the_extra(monkeypatch):
    from mnistlab.errors import MnistlabError

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if it were not installed
    with pytest.raises(MnistlabError, match=r"pip install 'mnistlab\[web\]'"):
        Metrics("lenet5", "torch", "test")
