"""Several server processes on one listening socket (`mnistlab serve --workers N`).

Python runs one request's preprocessing at a time per process (the GIL), so on a machine with
N cores N processes answer up to N times as many requests. The parent binds the socket and
loads the model once (a bad model fails before anything forks), then forks the workers: each
inherits the loaded model (copy-on-write) and the socket, and the kernel hands each new
connection to one of them. The parent only supervises: a stop signal reaches every worker, and
a worker that dies takes the others down with it rather than leaving a half-sized server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator

METRICS_FOLDER = "PROMETHEUS_MULTIPROC_DIR"  # where prometheus_client's processes share counts


@contextlib.contextmanager
def shared_metrics_folder(processes: int) -> Iterator[str | None]:
    """With several processes, a new temporary folder named in $PROMETHEUS_MULTIPROC_DIR for
    the block (for serve.metrics.Metrics: make it inside the block), removed after it; with
    one process, None and nothing set."""
    if processes == 1:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="mnistlab-metrics-")
    previous = os.environ.get(METRICS_FOLDER)
    os.environ[METRICS_FOLDER] = folder
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(METRICS_FOLDER, None)
        else:
            os.environ[METRICS_FOLDER] = previous
        shutil.rmtree(folder, ignore_errors=True)


def run_workers(
    count: int, serve: Callable[[], None], on_exit: Callable[[int], None] | None = None
) -> int:
    """Fork `count` processes that each call `serve()`; wait for them, calling `on_exit(pid)`
    as each ends; the exit status."""
    if not hasattr(os, "fork"):
        from mnistlab.errors import MnistlabError

        raise MnistlabError("--workers needs fork(), which this system lacks; use --workers 1")
    children: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # a worker
            code = 0
            try:
                serve()
            except (KeyboardInterrupt, SystemExit) as exc:
                # uvicorn stops on SIGTERM/SIGINT, then raises the signal again for the
                # handler it found: the CLI's (SystemExit(128 + signal)) or Python's
                stopped = (None, 0, 128 + signal.SIGTERM, 128 + signal.SIGINT)
                code = 0 if isinstance(exc, KeyboardInterrupt) or exc.code in stopped else 1
            except BaseException:  # a worker must never return into the parent's code
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)

    def stop(signum, frame) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        remaining = set(children)
        while remaining:
            pid, raw = os.wait()
            remaining.discard(pid)
            if on_exit is not None:
                on_exit(pid)
            code = os.waitstatus_to_exitcode(raw)
            if code not in (0, -signal.SIGTERM, -signal.SIGINT) and remaining:
                status = 1
                stop(signal.SIGTERM, None)  # one worker died: stop the rest
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
