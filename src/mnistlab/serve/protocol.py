"""uvicorn's HTTP/1.1 protocol with a deadline and a size cap for request headers.

uvicorn closes idle keep-alive connections, but a connection that never sends a complete request
(silent, or trickling header bytes) stays open forever; a few hundred of them exhaust the file
descriptors and the server stops answering everyone. Here each request's headers must arrive
within the deadline from the connection's start (or the end of the previous response), and in
at most `max_header_bytes`: the httptools parser, unlike h11, has no cap of its own.

The protocol is uvicorn's httptools one where httptools is installed (it parses in C: measured
about a third less server CPU per small request than h11, see docs/RESULTS.md), else its h11 one.
Both make a `cycle` once a request's headers are complete and call `on_response_complete`.
"""

from __future__ import annotations

import asyncio

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


def bounded_protocol(seconds: float, max_header_bytes: int, base: type | None = None) -> type:
    """`base` (default: base_protocol()) with the header deadline and size cap."""
    parent = base or base_protocol()

    class BoundedHeadersProtocol(parent):  # type: ignore[misc, valid-type]
        """The deadline and the byte count run only while the connection is idle: waiting
        for the headers of its next request, with no request in progress. A request being
        answered, a body still arriving (also one the app answered early without reading it)
        or a pipelined request waiting its turn is never cut by them; a body has its own
        deadline (serve.limits)."""

        _timer: asyncio.TimerHandle | None = None
        _header_bytes = 0

        def _idle(self) -> bool:
            cycle = self.cycle
            return cycle is None or (cycle.response_complete and not cycle.more_body)

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
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
            self._disarm()
            super().connection_lost(exc)

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
            if self._idle() and not self.transport.is_closing():
                self.transport.close()

        def _refuse_headers(self) -> None:
            message = (
                b'{"error": "headers_too_large", "message": "request headers are over '
                + str(max_header_bytes).encode()
                + b' bytes"}'
            )
            self.transport.write(BAD_HEADERS % (len(message), message))
            self.transport.close()

    return BoundedHeadersProtocol
