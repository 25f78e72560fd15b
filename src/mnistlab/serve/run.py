"""Running the app under uvicorn on a socket bound up front, so a busy port is a clear error."""

from __future__ import annotations

import socket

from mnistlab.errors import MnistlabError


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


def make_server(app, sock: socket.socket, log_level: str = "info"):
    """A uvicorn.Server for `app`; call .run(sockets=[sock]) to serve, set .should_exit to stop."""
    try:
        import uvicorn
    except ModuleNotFoundError:
        raise MnistlabError("serving needs uvicorn: pip install 'mnistlab[web]'") from None
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, timeout_keep_alive=5, backlog=2048
    )
    return uvicorn.Server(config)
