"""The server as its operator sees it: Prometheus metrics at /metrics, a request id on every
answer, and the access log line.

`ObservedApp(app, metrics)` wraps the app where the serving process builds it, a thin ASGI layer
outside FastAPI: /metrics stays out of the API's documentation, and the cost per request is a
few counter updates (labelled children are looked up once and kept). With several worker
processes (`--workers`), prometheus_client's multiprocess mode sums the counts of all of them
in files under one folder, so whichever worker answers /metrics shows the whole server; the
serving entry point makes that folder and sets PROMETHEUS_MULTIPROC_DIR, before any metric
exists. prometheus_client is imported here only when a Metrics is made.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OTHER_ROUTE = "other"  # a path no route matches: not one series per path a client makes up
DISCONNECTED = 499  # nginx's status for a client that left before its answer
# A request id from the client is kept when it is short and safe to echo and to log.
SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
ACCESS_LOGGER = "mnistlab.serve.access"


class Metrics:
    """The server's metrics: of this process, or with `multiprocess_dir` (which must be
    $PROMETHEUS_MULTIPROC_DIR) of every process writing there."""

    def __init__(self, model: str, backend: str, version: str, multiprocess_dir: str | None = None):
        try:
            import prometheus_client as prom
        except ModuleNotFoundError:
            from mnistlab.errors import MnistlabError

            raise MnistlabError(
                "serving needs prometheus_client (/metrics): pip install 'mnistlab[web]'"
            ) from None

        self._dir = multiprocess_dir
        if multiprocess_dir is None:
            self.registry = owner = prom.CollectorRegistry()
        else:
            _check_multiprocess(multiprocess_dir)
            owner = None  # values live in the files; the collector reads them all
            self.registry = prom.CollectorRegistry()
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(self.registry, path=multiprocess_dir)
        self.requests = prom.Counter(
            "mnistlab_http_requests", "HTTP requests answered", ["route", "status"],
            registry=owner,
        )  # fmt: skip
        self.latency = prom.Histogram(
            "mnistlab_http_request_duration_seconds", "Seconds from a request's headers to "
            "its answer", ["route"], buckets=LATENCY_BUCKETS, registry=owner,
        )  # fmt: skip
        self.in_flight = prom.Gauge(
            "mnistlab_http_requests_in_flight", "Requests being answered (per worker pid "
            "with --workers)", registry=owner, multiprocess_mode="liveall",
        )  # fmt: skip
        self.waiting = prom.Gauge(
            "mnistlab_admission_waiting", "Requests queued for the admission control",
            registry=owner, multiprocess_mode="livesum",
        )  # fmt: skip
        self.rejected = prom.Counter(
            "mnistlab_admission_rejected", "Requests turned away as overloaded (503)",
            registry=owner,
        )  # fmt: skip
        self.batch_size = prom.Histogram(
            "mnistlab_batch_size_digits", "Digits per forward pass of the micro-batcher",
            buckets=BATCH_BUCKETS, registry=owner,
        )  # fmt: skip
        served = prom.Gauge(
            "mnistlab_model_info", "The model served (always 1)",
            ["model", "backend", "version"], registry=owner, multiprocess_mode="max",
        )  # fmt: skip
        served.labels(model, backend, version).set(1)
        self.content_type = prom.CONTENT_TYPE_LATEST
        self._generate = prom.generate_latest
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def count(self, route: str, status: int, seconds: float) -> None:
        """One request answered."""
        children = self._children.get((route, status))
        if children is None:
            children = self.requests.labels(route, str(status)), self.latency.labels(route)
            self._children[route, status] = children
        children[0].inc()
        children[1].observe(seconds)

    def attach(self, admission: Any) -> None:
        """Count the queue and the 503s of `admission`, and the size of every batch the
        micro-batchers of this process run (a setting of the whole process: for the serving
        entry point)."""
        from mnistlab.serve.batching import report_batch_sizes

        admission.report_to(self.waiting.set, self.rejected.inc)
        report_batch_sizes(self.batch_size.observe)

    def text(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return self._generate(self.registry)

    def forget_process(self, pid: int) -> None:
        """Drop the live gauges (requests in flight, queue length) of process `pid` from the
        sums: a worker that ended, or the parent, which serves nothing, before it forks."""
        if self._dir is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self._dir)


def _check_multiprocess(folder: str) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != folder:
        raise ValueError("set PROMETHEUS_MULTIPROC_DIR to the metrics folder before metrics")
    from prometheus_client import values

    # prometheus_client picks its value class when first imported; imported earlier in this
    # process (before the variable was set), it must be told, or each worker counts alone
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()


class ObservedApp:
    """`app` with its requests counted in `metrics`, /metrics answered here, an X-Request-ID
    on every answer (the client's when it is safe, else a new one), and with `access_log` a
    log line per request that carries it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool = False):
        self.app, self.metrics, self.access_log = app, metrics, access_log
        # to name the route of a request answered before routing (413, 408); Starlette
        # names it in scope["route"] for the others
        self._routes = list(getattr(app, "routes", ()))
        self._log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            await send(message)

        metrics = self.metrics
        metrics.in_flight.inc()
        start = perf_counter()
        try:
            if scope["path"] == "/metrics":
                await self._metrics_page(scope, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            status = status or 500  # uvicorn answers 500 for an app that raised
            raise
        finally:
            seconds = perf_counter() - start
            metrics.in_flight.dec()
            route = self._route(scope)
            metrics.count(route, status or DISCONNECTED, seconds)
            if self.access_log:
                self._log_line(scope, status or DISCONNECTED, seconds, request_id)

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            if scope["path"] == "/metrics":
                return "/metrics"
            route = self._match(scope)
        return getattr(route, "path", OTHER_ROUTE)

    def _match(self, scope: Scope) -> Any:
        from starlette.routing import Match

        for route in self._routes:
            if route.matches(scope)[0] is not Match.NONE:
                return route
        return None

    async def _metrics_page(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            from mnistlab.serve.limits import send_json_error

            await send_json_error(send, 405, "method_not_allowed", "/metrics answers GET")
            return
        body = self.metrics.text()
        headers = [
            (b"content-type", self.metrics.content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})  # uvicorn drops it for HEAD

    def _log_line(self, scope: Scope, status: int, seconds: float, request_id: bytes) -> None:
        client = scope.get("client")
        path = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            path += b"?" + scope["query_string"]
        self._log.info(
            '%s - "%s %s HTTP/%s" %d %.1fms %s',
            f"{client[0]}:{client[1]}" if client else "-",
            scope["method"],
            path.decode("latin-1").replace('"', "%22"),
            scope["http_version"],
            status,
            1000 * seconds,
            request_id.decode(),
        )


def request_id_of(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's X-Request-ID when it is 1-128 characters of A-Z a-z 0-9 . _ : -, else a
    new random one (32 hex digits)."""
    for name, value in headers:
        if name == b"x-request-id":
            if SAFE_REQUEST_ID.fullmatch(value):
                return value
            break
    return os.urandom(16).hex().encode()
