"""Running the app under uvicorn on a socket bound up front, so a busy port is a clear error."""

from __future__ import annotations

import copy
import socket

from mnistlab.errors import MnistlabError
from mnistlab.serve.protocol import LINGER_BYTES, LINGER_SECONDS


def bind_socket(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A listening TCP socket; port 0 picks a free port (read it from getsockname())."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MnistlabError(f"cannot resolve host {host!r} ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise MnistlabError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


HEADER_TIMEOUT = 10.0  # seconds a connection may take to send a request's headers
MAX_CONNECTIONS = 1000  # past this, uvicorn answers 503 at once
MAX_HEADER_BYTES = 16 * 1024


def make_server(
    app,
    sock: socket.socket,
    log_level: str = "info",
    *,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    access_log: bool = False,
    linger_seconds: float = LINGER_SECONDS,
    linger_bytes: int = LINGER_BYTES,
):
    """A uvicorn.Server for `app`; call .run(sockets=[sock]) to serve, set .should_exit to stop.

    Bounded against clients that hold connections: request headers must arrive within
    `header_timeout` seconds (uvicorn alone waits forever for a silent client), idle keep-alive
    connections close after 5 s, headers are capped at 16 KB, and past `max_connections` open
    connections new requests get a 503 at once. A client refused before its body was read
    (413) is read for at most `linger_seconds` and `linger_bytes` more, so it can read why
    (serve.protocol). The access log (a line per request) is off
    unless asked for: it costs CPU on every request and a classroom's requests are not worth
    logging one by one. uvicorn picks uvloop for the event loop where it is installed.
    """
    try:
        import uvicorn
    except ModuleNotFoundError:
        raise MnistlabError("serving needs uvicorn: pip install 'mnistlab[web]'") from None
    from mnistlab.serve.protocol import bounded_protocol

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_keep_alive=5,
        backlog=2048,
        http=bounded_protocol(
            header_timeout,
            MAX_HEADER_BYTES,
            linger_seconds=linger_seconds,
            linger_bytes=linger_bytes,
        ),
        access_log=access_log,
        limit_concurrency=max_connections,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_config=log_config(),
    )
    return uvicorn.Server(config)


def log_config() -> dict:
    """uvicorn's logging set-up, plus the access log line of serve.metrics.ObservedApp (to
    stdout, as uvicorn's own)."""
    from uvicorn.config import LOGGING_CONFIG

    from mnistlab.serve.metrics import ACCESS_LOGGER

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["mnistlab_access"] = {
        "formatter": "default",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"][ACCESS_LOGGER] = {
        "handlers": ["mnistlab_access"],
        "level": "INFO",
        "propagate": False,
    }
    return config
