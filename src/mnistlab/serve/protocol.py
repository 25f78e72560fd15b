"""uvicorn's HTTP/1.1 protocol with a deadline for request headers.

uvicorn closes idle keep-alive connections, but a connection that never sends a complete request
(silent, or trickling header bytes) stays open forever; a few hundred of them exhaust the file
descriptors and the server stops answering everyone. Here each request's headers must arrive
within the deadline from the connection's start (or the end of the previous response).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    class HeaderTimeoutH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _answered_cycle = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # a new request's headers are complete once uvicorn has made its cycle
            if self._timer is not None and self.cycle not in (None, self._answered_cycle):
                self._disarm()

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
            self._timer = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self) -> None:
            self._timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutH11Protocol
