"""Admission control: how many requests decode and predict at once, and how many pixels they
may hold in memory together. Past the bounded queue a request is told to come back (503 with
Retry-After) at once, so a burst never piles up threads or memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator

from mnistlab.serve.inputs import ApiError, Item

PIXELS_OF_VALUES = 28 * 28


class Overloaded(Exception):
    """The server is at its limits; the client should retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class Admission:
    """At most `max_active` requests past this point, holding at most `pixel_budget` declared
    image pixels in all; up to `max_waiting` more wait (each at most `max_wait` seconds)."""

    def __init__(
        self, max_active: int, max_waiting: int, pixel_budget: int, max_wait: float = 10.0
    ):
        self.max_active, self.max_waiting = max_active, max_waiting
        self.pixel_budget, self.max_wait = pixel_budget, max_wait
        self.active = self.waiting = self.pixels = 0
        self._changed: asyncio.Condition | None = None  # made in the server's event loop

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
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            if not self._fits(pixels):
                if self.waiting >= self.max_waiting:
                    raise Overloaded("the server is busy; try again in a moment")
                self.waiting += 1
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self._fits(pixels)), self.max_wait
                    )
                except asyncio.TimeoutError:
                    raise Overloaded("the server stayed busy; try again in a moment") from None
                finally:
                    self.waiting -= 1
            self.active += 1
            self.pixels += pixels
        try:
            yield
        finally:
            async with self._changed:
                self.active -= 1
                self.pixels -= pixels
                self._changed.notify_all()


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
