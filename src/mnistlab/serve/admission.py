"""Admission control: how many requests decode and predict at once, and how many pixels they
may hold in memory together. Past the bounded queue a request is told to come back (503 with
Retry-After) at once, so a burst never piles up threads or memory.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
from collections.abc import AsyncIterator, Callable

from mnistlab.serve.inputs import ApiError, Item

PIXELS_OF_VALUES = 28 * 28


def _ignore(*args: object) -> None:
    pass


class Overloaded(Exception):
    """The server is at its limits; the client should retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class Admission:
    """At most `max_active` requests past this point, holding at most `pixel_budget` declared
    image pixels in all; up to `max_waiting` more wait, first come first served (each at most
    `max_wait` seconds).

    Used from one event loop only, so the counts need no lock: nothing awaits between checking
    and taking a slot. A request that fits takes its slot without waiting on anything (the
    common case, a few microseconds); only a request that does not fit waits, on a future of
    its own that a leaving request completes."""

    def __init__(
        self, max_active: int, max_waiting: int, pixel_budget: int, max_wait: float = 10.0
    ):
        self.max_active, self.max_waiting = max_active, max_waiting
        self.pixel_budget, self.max_wait = pixel_budget, max_wait
        self.active = self.pixels = 0
        self._queue: collections.deque[tuple[int, asyncio.Future]] = collections.deque()
        self._on_waiting: Callable[[int], None] = _ignore
        self._on_rejected: Callable[[], None] = _ignore

    def report_to(self, waiting: Callable[[int], None], rejected: Callable[[], None]) -> None:
        """Call `waiting(queue length)` when the queue changes and `rejected()` at each
        request turned away as overloaded (the server's metrics). Only requests that wait
        call them: one that fits at once costs nothing more."""
        self._on_waiting, self._on_rejected = waiting, rejected

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _fits(self, pixels: int) -> bool:
        return self.active < self.max_active and self.pixels + pixels <= self.pixel_budget

    @contextlib.asynccontextmanager
    async def slot(self, pixels: int) -> AsyncIterator[None]:
        if pixels > self.pixel_budget:
            raise ApiError(
                413,
                "too_many_pixels",
                f"the images of this request hold {pixels:,} pixels; the server takes at most "
                f"{self.pixel_budget:,} at a time",
            )
        if self._queue or not self._fits(pixels):  # others came first, or no room
            await self._wait_for_turn(pixels)
        else:
            self._take(pixels)
        try:
            yield
        finally:
            self._release(pixels)

    def _take(self, pixels: int) -> None:
        self.active += 1
        self.pixels += pixels

    def _release(self, pixels: int) -> None:
        self.active -= 1
        self.pixels -= pixels
        self._admit_waiting()

    async def _wait_for_turn(self, pixels: int) -> None:
        """Return once a leaving request has taken a slot on our behalf."""
        if len(self._queue) >= self.max_waiting:
            self._on_rejected()
            raise Overloaded("the server is busy; try again in a moment")
        future = asyncio.get_running_loop().create_future()
        entry = (pixels, future)
        self._queue.append(entry)
        self._on_waiting(len(self._queue))
        try:
            await asyncio.wait_for(asyncio.shield(future), self.max_wait)
        except BaseException as exc:  # timed out, or the request was cancelled
            if future.done() and not future.cancelled():
                self._release(pixels)  # admitted just as it gave up: hand the slot on
            else:
                self._queue.remove(entry)
                self._on_waiting(len(self._queue))
                future.cancel()
                self._admit_waiting()  # a large request leaving may let smaller ones in
            if isinstance(exc, asyncio.TimeoutError):
                self._on_rejected()
                raise Overloaded("the server stayed busy; try again in a moment") from None
            raise

    def _admit_waiting(self) -> None:
        """Let in the requests at the head of the queue while they fit (first come first
        served: a large image is not overtaken forever by small ones)."""
        while self._queue and self._fits(self._queue[0][0]):
            pixels, future = self._queue.popleft()
            self._take(pixels)
            future.set_result(None)
            self._on_waiting(len(self._queue))


def declared_pixels(items: list[Item], max_pixels: int) -> int:
    """Pixels the items' decoded images will hold, read from their headers (no decoding). An
    unreadable header counts as nothing here: decoding it will fail as a 400 anyway."""
    from PIL import Image

    total = 0
    for item in items:
        if item.image is None:
            total += PIXELS_OF_VALUES
            continue
        try:
            with Image.open(io.BytesIO(item.image)) as image:
                width, height = image.size
        except Exception:  # not an image: answered per item later
            continue
        total += min(width * height, max_pixels + 1)  # past max_pixels it is refused unread
    return total
