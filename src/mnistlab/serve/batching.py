"""Dynamic micro-batching: digits from concurrent requests share one forward pass.

A forward pass of one digit costs about as much as one of a few dozen (the model's fixed costs
per call dominate), so the digits of requests that arrive together are predicted together. The
first digit to arrive opens a batch and schedules its run `max_wait` seconds later (or on the
next turn of the event loop for 0); a batch that reaches `max_batch` runs at once. So a request
waits at most `max_wait` for others, and nothing waits while the server is idle for long.

The batch runs on the event loop itself. A thread of its own would let the loop parse requests
during the forward pass, but handing every batch to it and every answer back cost more than it
saved: tried under `benchmarks/serve_load.py` (pixels payload), the loop was the bottleneck, the
batches held 2 digits, and the server spent more CPU per request than with this design.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

DEFAULT_MAX_BATCH = 64
DEFAULT_MAX_WAIT = 0.002  # seconds: the most a digit waits for others to join its batch

Predict = Callable[[np.ndarray], Sequence[Any]]  # (N, 28, 28) uint8 -> N answers

# Told the size of every batch that runs in this process: the server's metrics. The batcher is
# made inside the app, so the serving entry point reaches it here, by an explicit call.
_on_batch: Callable[[int], None] | None = None


def report_batch_sizes(observe: Callable[[int], None] | None) -> None:
    """Call `observe(digits)` after each batch any MicroBatcher of this process runs (None:
    stop). For the serving entry point; nothing calls it at import."""
    global _on_batch
    _on_batch = observe


class MicroBatcher:
    """`await run(pixels)` from the event loop: the answers of `predict` for these digits,
    computed in a batch with those of other requests waiting at the same time."""

    def __init__(
        self,
        predict: Predict,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait: float = DEFAULT_MAX_WAIT,
    ):
        if max_batch < 1 or max_wait < 0:
            raise ValueError("max_batch must be >= 1 and max_wait >= 0")
        self._predict, self.max_batch, self.max_wait = predict, max_batch, max_wait
        self._waiting: list[tuple[np.ndarray, asyncio.Future]] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self.batches = self.digits = 0  # how many ran, for tests and /api/model

    async def run(self, pixels: np.ndarray) -> list[Any]:
        """The answers for (k, 28, 28) uint8 digits."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((np.asarray(pixels, dtype=np.uint8), future))
        self._size += len(pixels)
        if self._size >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = (
                loop.call_later(self.max_wait, self._flush)
                if self.max_wait > 0
                else loop.call_soon(self._flush)
            )
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        jobs, self._waiting, self._size = self._waiting, [], 0
        jobs = [(pixels, future) for pixels, future in jobs if not future.done()]  # cancelled
        if not jobs:
            return
        try:
            answers = list(self._predict(np.concatenate([pixels for pixels, _ in jobs])))
        except Exception as exc:  # every request of the batch gets it, not just one
            for _, future in jobs:
                future.set_exception(exc)
            return
        self.batches += 1
        start = 0
        for pixels, future in jobs:
            future.set_result(answers[start : start + len(pixels)])
            start += len(pixels)
        self.digits += start
        if _on_batch is not None:
            _on_batch(start)
