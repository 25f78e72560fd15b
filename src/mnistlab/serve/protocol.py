"""uvicorn's HTTP/1.1 protocol with a deadline and a size cap for request headers.

uvicorn closes idle keep-alive connections, but a connection that never sends a complete request
(silent, or trickling header bytes) stays open forever; a few hundred of them exhaust the file
descriptors and the server stops answering everyone. Here each request's headers must arrive
within the deadline from the connection's start (or the end of the previous response), and in
at most `max_header_bytes`: the httptools parser, unlike h11, has no cap of its own.

The protocol is uvicorn's httptools one where httptools is installed (it parses in C: measured
about a third less server CPU per small request than h11, see docs/RESULTS.md), else its h11 one.
Both make a `cycle` once a request's headers are complete and call `on_response_complete`.

A connection closed while the client is still sending a body nobody read (an early 413) is
closed lingering, as nginx does: closing a socket with unread data makes the kernel send a
reset, which destroys the answer in the client's buffers before a client that sends its whole
body first (urllib, most simple clients) reads it. Instead the answer is followed by the end of
our side of the stream, and what the client still sends is read and dropped until it stops, for
at most `linger_seconds` and `linger_bytes`; then the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

BAD_HEADERS = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


def base_protocol() -> type:
    """uvicorn's fastest HTTP/1.1 protocol class available here."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # httptools is optional (no wheel on some platforms)
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


LINGER_SECONDS = 10.0  # the most a refused client is read after its answer
LINGER_BYTES = 64 * 1024 * 1024  # and the most bytes read from it then


class _ClosingTransport:
    """The connection's transport as uvicorn sees it: the real one, except that close() and
    is_closing() are the protocol's (close may linger). The other methods are the real
    transport's own bound methods, so a write costs no extra call."""

    def __init__(self, transport: asyncio.Transport, protocol: Any):
        self._transport = transport
        self.close, self.is_closing = protocol._close, protocol._is_closing
        for name in ("write", "writelines", "write_eof", "can_write_eof", "get_extra_info",
                     "pause_reading", "resume_reading", "is_reading", "abort",
                     "get_write_buffer_size", "set_write_buffer_limits"):  # fmt: skip
            if hasattr(transport, name):
                setattr(self, name, getattr(transport, name))

    def __getattr__(self, name: str) -> Any:  # anything rarer
        return getattr(self._transport, name)


def bounded_protocol(
    seconds: float,
    max_header_bytes: int,
    base: type | None = None,
    *,
    linger_seconds: float = LINGER_SECONDS,
    linger_bytes: int = LINGER_BYTES,
) -> type:
    """`base` (default: base_protocol()) with the header deadline and size cap, and closing
    lingering (bounded by `linger_seconds` and `linger_bytes`) when a body is left unread."""
    parent = base or base_protocol()

    class BoundedHeadersProtocol(parent):  # type: ignore[misc, valid-type]
        """The deadline and the byte count run only while the connection is idle: waiting
        for the headers of its next request, with no request in progress. A request being
        answered, a body still arriving (also one the app answered early without reading it)
        or a pipelined request waiting its turn is never cut by them; a body has its own
        deadline (serve.limits)."""

        _timer: asyncio.TimerHandle | None = None
        _header_bytes = 0
        _real: asyncio.Transport
        _lingering = False  # reading and dropping what a refused client still sends
        _linger_bytes = 0
        _closing_now = False  # the connection is lost or the server stops: no lingering

        def _idle(self) -> bool:
            cycle = self.cycle
            return cycle is None or (cycle.response_complete and not cycle.more_body)

        def connection_made(self, transport) -> None:  # type: ignore[override]
            self._real = transport
            super().connection_made(_ClosingTransport(transport, self))
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._lingering:
                self._linger_bytes += len(data)
                if self._linger_bytes > linger_bytes:
                    self._real.close()
                return
            was_idle = self._idle()
            super().data_received(data)
            if not self._idle():  # a request's headers are complete, or its body is arriving
                self._disarm()
                return
            if self._timer is None:  # idle again, e.g. the end of a body answered early
                self._arm()
            if was_idle:  # all of `data` belongs to the next request's headers
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes and not self.transport.is_closing():
                    self._refuse_headers()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._idle() and not self.transport.is_closing():
                self._arm()  # the next request on this connection gets the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._closing_now = True
            self._disarm()
            super().connection_lost(exc)

        def shutdown(self) -> None:
            self._closing_now = True  # the server stops: no one waits for lingering clients
            if self._lingering:
                self._real.close()
            else:
                super().shutdown()

        def _is_closing(self) -> bool:
            return self._lingering or self._real.is_closing()

        def _close(self) -> None:
            """transport.close() as uvicorn calls it: lingering where the client may still
            be sending a body that was answered without being read."""
            if self._lingering:
                return
            cycle, real = self.cycle, self._real
            if self._closing_now or cycle is None or not cycle.more_body or real.is_closing():
                real.close()
                return
            self._lingering = True
            self._disarm()
            if real.can_write_eof():
                real.write_eof()  # after the answer, once written: the client sees it end
            real.resume_reading()  # uvicorn paused reading while the body went unread
            self._timer = self.loop.call_later(linger_seconds, real.close)

        def _arm(self) -> None:
            self._disarm()
            self._header_bytes = 0
            self._timer = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self) -> None:
            self._timer = None
            if self._idle() and not self._real.is_closing():
                self._real.close()

        def _refuse_headers(self) -> None:
            message = (
                b'{"error": "headers_too_large", "message": "request headers are over '
                + str(max_header_bytes).encode()
                + b' bytes"}'
            )
            self._real.write(BAD_HEADERS % (len(message), message))
            self._real.close()

    return BoundedHeadersProtocol
