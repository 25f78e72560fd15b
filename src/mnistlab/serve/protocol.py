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
        _timer: asyncio.TimerHandle | None = None
        _answered_cycle = None
        _header_bytes = 0

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._timer is None:
                return
            # a new request's headers are complete once uvicorn has made its cycle
            if self.cycle not in (None, self._answered_cycle):
                self._disarm()
                return
            self._header_bytes += len(data)
            if self._header_bytes > max_header_bytes and not self.transport.is_closing():
                message = (
                    b'{"error": "headers_too_large", "message": "request headers are over '
                    + str(max_header_bytes).encode()
                    + b' bytes"}'
                )
                self.transport.write(BAD_HEADERS % (len(message), message))
                self.transport.close()

        def on_response_complete(self) -> None:
            self._answered_cycle = self.cycle
            super().on_response_complete()
            if not self.transport.is_closing():
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
            if not self.transport.is_closing():
                self.transport.close()

    return BoundedHeadersProtocol
