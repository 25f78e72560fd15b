"""Load test of `mnistlab serve`: many concurrent clients posting digit images to /api/predict.

Starts the real server (`python -m mnistlab serve MODEL`, uvicorn, one process) on 127.0.0.1,
then 32 clients (asyncio, one keep-alive connection each) send 2,000 requests. Each request is
what the drawing page sends: JSON {"image": "data:image/png;base64,..."} of a 280x280 canvas
with a dark digit on white (MNIST test digits, scaled up). Reports throughput, latency
percentiles, errors (must be 0) and how many answers were the right digit.

The clients run on the same machine as the server and compete with it for the CPU: the
numbers are what one machine does end to end, not the server alone.

    python -m benchmarks.serve_load runs/lenet5 --requests 2000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="run folder made by `mnistlab train`")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=64, help="untimed requests first")
    parser.add_argument("--images", type=int, default=200, help="distinct test digits to cycle")
    parser.add_argument("--data-dir", default=os.environ.get("MNISTLAB_DATA_DIR", DEFAULT_DATA))
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk",
        help="wrk (Debian's, compiled: it leaves the cores to the server; default) or the "
        "asyncio client here (also checks each answer's digit)",
    )
    parser.add_argument(
        "--payload",
        choices=("page", "pixels"),
        default="page",
        help="page: the canvas PNG as the page sends it; pixels: 784 values (default page)",
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of wrk load")
    parser.add_argument(
        "--serve-args",
        default="",
        help='more options for `mnistlab serve`, e.g. "--batch-wait 0" (default none)',
    )
    parser.add_argument(
        "--json-out", help="also write the measured numbers to this JSON file (wrk client)"
    )
    parser.add_argument(
        "--write-results",
        action="store_true",
        help="also rewrite this benchmark's section of docs/RESULTS.md",
    )
    return parser.parse_args()


def canvas_payloads(data_dir: str, n: int) -> tuple[list[bytes], list[int]]:
    """JSON bodies like the page's: a 280x280 PNG, dark digit on white."""
    import json

    from PIL import Image

    from mnistlab.data import load_splits

    test = load_splits("mnist", data_dir, download=False)["test"]
    bodies, labels = [], []
    for image, label in zip(test.images[:n].numpy(), test.labels[:n].tolist(), strict=True):
        canvas = Image.new("L", (280, 280), 255)
        canvas.paste(Image.fromarray(255 - image).resize((200, 200), Image.BILINEAR), (40, 40))
        buffer = io.BytesIO()
        canvas.save(buffer, "PNG")
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        bodies.append(json.dumps({"image": url}).encode())
        labels.append(label)
    return bodies, labels


def pixel_payloads(data_dir: str, n: int) -> tuple[list[bytes], list[int]]:
    """JSON bodies {"pixels": [784 values]}: MNIST test digits as they are."""
    import json

    from mnistlab.data import load_splits

    test = load_splits("mnist", data_dir, download=False)["test"]
    bodies = [
        json.dumps({"pixels": image.reshape(-1).tolist()}).encode()
        for image in test.images[:n].numpy()
    ]
    return bodies, test.labels[:n].tolist()


WRK_SCRIPT = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/api/predict", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "status_errors": %%d, "socket_errors": %%d, ' ..
    '"timeouts": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "mean_us": %%f}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


def run_wrk(port: int, bodies: list[bytes], seconds: int, connections: int) -> dict:
    """wrk's summary (requests, errors, latency percentiles in microseconds) as a dict."""
    import json
    import shutil
    import tempfile

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (scripts/test.sh does)")
    strings = ",".join("[==[" + b.decode() + "]==]" for b in bodies)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % strings)
    try:
        result = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
             "-s", script.name, f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        os.unlink(script.name)
    return json.loads(result.stdout.strip().splitlines()[-1])


def process_tree(pid: int) -> list[int]:
    """The server and its worker processes (Linux)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [pid, *(int(c) for c in children.read_text().split())]
    except OSError:
        return [pid]


def peak_rss_mb(pids: list[int]) -> float:
    """The sum over processes of each one's peak resident memory (VmHWM), in MB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    model: str, port: int, workers: int = 1, extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    command = [sys.executable, "-m", "mnistlab", "serve", model, "--port", str(port)]
    command += ["--workers", str(workers), *extra]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("server did not start within 60 s")


class Connection:
    """A minimal HTTP/1.1 keep-alive client: about 0.2 ms of CPU per request where httpx takes
    8 ms, so the clients leave the shared cores to the server being measured."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length)
        if close:
            self.close()
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(
    port: int, bodies: list[bytes], labels: list[int], total: int, concurrency: int
) -> tuple[list[float], int, int, float]:
    """(latencies in s, errors, correct digits, wall seconds) for `total` requests."""
    import json

    latencies: list[float] = []
    errors = correct = 0
    counter = iter(range(total))

    async def client() -> None:
        nonlocal errors, correct
        connection = Connection("127.0.0.1", port)
        for i in counter:
            k = i % len(bodies)
            start = time.perf_counter()
            try:
                status, payload = await connection.post("/api/predict", bodies[k])
                digit = json.loads(payload).get("digit") if status == 200 else None
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                connection.close()
                status, digit = 0, None
            latencies.append(time.perf_counter() - start)
            errors += status != 200
            correct += digit == labels[k]
        connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors, correct, time.perf_counter() - start


def header() -> str:
    import fastapi
    import torch
    import uvicorn

    from mnistlab import __version__
    from mnistlab.system import cpu_model, now_iso

    return (
        f"hardware: {cpu_model()}, {os.cpu_count()} cores (server and clients share them)\n"
        f"versions: mnistlab {__version__}, python {platform.python_version()}, torch "
        f"{torch.__version__}, fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}"
        f"\ndate: {now_iso()}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main_wrk(args: argparse.Namespace) -> int:
    make = canvas_payloads if args.payload == "page" else pixel_payloads
    bodies, _ = make(str(args.data_dir), args.images)
    port = free_port()
    server = start_server(args.model, port, args.workers, tuple(args.serve_args.split()))
    try:
        time.sleep(1.0)  # let the workers start
        run_wrk(port, bodies, 2, args.concurrency)  # warm-up
        pids = process_tree(server.pid)
        cpu_before = sum(cpu_seconds(p) for p in pids)
        summary = run_wrk(port, bodies, args.duration, args.concurrency)
        server_cpu = sum(cpu_seconds(p) for p in pids) - cpu_before
        rss = peak_rss_mb(pids)
    finally:
        server.terminate()
        server.wait(timeout=30)
    n = summary["requests"]
    errors = summary["status_errors"] + summary["socket_errors"] + summary["timeouts"]
    rows = [
        ("requests", f"{n:,} in {summary['duration_us'] / 1e6:.1f} s"),
        ("connections", str(args.concurrency)),
        ("errors (non-2xx, socket, timeouts)", str(errors)),
        ("throughput", f"{n / (summary['duration_us'] / 1e6):.1f} requests/s"),
        ("latency p50", f"{summary['p50_us'] / 1000:.1f} ms"),
        ("latency p90", f"{summary['p90_us'] / 1000:.1f} ms"),
        ("latency p99", f"{summary['p99_us'] / 1000:.1f} ms"),
        ("server CPU per request", f"{1000 * server_cpu / max(n, 1):.2f} ms"),
        ("server peak RSS, all processes", f"{rss:.0f} MB"),
    ]
    name = f"{args.payload}, {args.workers} worker{'s' if args.workers > 1 else ''}"
    table = "\n".join([f"| {name} | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])
    body_kb = statistics.fmean(len(b) for b in bodies) / 1024
    what = "a 280x280 PNG canvas as base64 JSON" if args.payload == "page" else "784 pixel values"
    serve_args = f" {args.serve_args}" if args.serve_args else ""
    setup = (
        f"`python -m benchmarks.serve_load {args.model} --payload {args.payload} --workers "
        f"{args.workers}{serve_args}`: `mnistlab serve --workers {args.workers}{serve_args}` on "
        f"127.0.0.1; wrk (2 "
        f"threads, {args.concurrency} connections, {args.duration} s after a 2 s warm-up) "
        f"posts {what} ({body_kb:.1f} KiB) to /api/predict"
    )
    print(header())
    print(setup)
    print()
    print(table)
    if args.json_out:
        import json

        measured = {
            "requests": n,
            "errors": errors,
            "requests_per_s": n / (summary["duration_us"] / 1e6),
            "p50_ms": summary["p50_us"] / 1000,
            "p99_ms": summary["p99_us"] / 1000,
            "server_cpu_ms_per_request": 1000 * server_cpu / max(n, 1),
            "peak_rss_mb": rss,
        }
        Path(args.json_out).write_text(json.dumps(measured))
    if args.write_results:
        from benchmarks._report import update_section

        section = f"serve_load_{args.payload}_{args.workers}"
        if args.serve_args:  # e.g. "--backend onnx" -> serve_load_page_2_backend_onnx
            section += "_" + "_".join(w.strip("-").replace("=", "_") for w in serve_args.split())
        update_section(section, f"{header()}\n\n{setup}\n\n{table}\n")
    return 1 if errors else 0


def main() -> int:
    args = parse_args()
    if args.client == "wrk":
        return main_wrk(args)
    bodies, labels = canvas_payloads(str(args.data_dir), args.images)
    port = free_port()
    server = start_server(args.model, port, args.workers)
    try:
        asyncio.run(load(port, bodies, labels, args.warmup, args.concurrency))
        server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
        latencies, errors, correct, wall = asyncio.run(
            load(port, bodies, labels, args.requests, args.concurrency)
        )
        server_cpu = cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = [1000 * v for v in latencies]
    rows = [
        ("requests", f"{len(latencies):,}"),
        ("concurrent clients", str(args.concurrency)),
        ("errors", str(errors)),
        ("throughput", f"{len(latencies) / wall:.1f} requests/s"),
        ("latency p50", f"{percentile(ms, 50):.1f} ms"),
        ("latency p90", f"{percentile(ms, 90):.1f} ms"),
        ("latency p99", f"{percentile(ms, 99):.1f} ms"),
        ("latency mean", f"{statistics.fmean(ms):.1f} ms"),
        ("right digit", f"{correct / len(latencies):.1%}"),
        ("server CPU per request", f"{1000 * server_cpu / len(latencies):.1f} ms"),
        ("client CPU per request", f"{1000 * client_cpu / len(latencies):.1f} ms"),
    ]
    table = "\n".join(["| serve_load | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])
    body_kb = statistics.fmean(len(b) for b in bodies) / 1024
    setup = (
        f"`mnistlab serve {Path(args.model).name}` (uvicorn, 1 process) on 127.0.0.1; "
        f"POST /api/predict with a 280x280 PNG canvas as base64 JSON ({body_kb:.1f} KiB), "
        f"{args.warmup} warm-up requests first"
    )
    print(header())
    print(setup)
    print()
    print(table)
    if args.write_results:
        from benchmarks._report import update_section

        update_section(
            "serve_load", f"### Web API under load\n\n{header()}\n\n{setup}\n\n{table}\n"
        )
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
