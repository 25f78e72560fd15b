"""Micro-batching and admission: concurrent digits share forward passes, answers reach the
request that asked, errors reach every request of a batch, and waiting requests never leak a
slot."""

from __future__ import annotations

import asyncio
import functools

import numpy as np
import pytest

from mnistlab.serve.admission import Admission, Overloaded
from mnistlab.serve.batching import MicroBatcher, report_batch_sizes


def digits(*values: int) -> np.ndarray:
    """(k, 28, 28) uint8 digits, each filled with its value, so an answer shows whose it is."""
    return np.stack([np.full((28, 28), v, np.uint8) for v in values])


class Recorder:
    def __init__(self, fail: bool = False):
        self.calls: list[int] = []
        self.fail = fail

    def __call__(self, batch: np.ndarray) -> list[int]:
        self.calls.append(len(batch))
        if self.fail:
            raise RuntimeError("model broke")
        return [int(d[0, 0]) for d in batch]


def test_concurrent_requests_share_one_pass_and_get_their_own_answers():
    model = Recorder()
    batcher = MicroBatcher(model, max_batch=64, max_wait=0.005)

    async def main():
        return await asyncio.gather(*(batcher.run(digits(i, i + 100)) for i in range(20)))

    answers = asyncio.run(main())
    assert answers == [[i, i + 100] for i in range(20)]
    assert model.calls == [40]
    assert (batcher.batches, batcher.digits) == (1, 40)


def test_a_full_batch_runs_at_once_and_the_rest_waits_for_the_next():
    model = Recorder()
    batcher = MicroBatcher(model, max_batch=8, max_wait=10.0)  # a wait no test would survive

    async def main():
        return await asyncio.wait_for(
            asyncio.gather(*(batcher.run(digits(i)) for i in range(16))), timeout=5
        )

    assert asyncio.run(main()) == [[i] for i in range(16)]
    assert model.calls == [8, 8]


def test_without_a_wait_a_lone_request_is_answered_on_the_next_turn():
    model = Recorder()
    batcher = MicroBatcher(model, max_wait=0.0)
    assert asyncio.run(asyncio.wait_for(batcher.run(digits(7)), timeout=1)) == [7]


def test_a_failing_model_fails_every_request_of_its_batch():
    batcher = MicroBatcher(Recorder(fail=True), max_wait=0.005)

    async def main():
        return await asyncio.gather(
            *(batcher.run(digits(i)) for i in range(3)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) and "model broke" in str(r) for r in results)


def test_a_cancelled_request_is_left_out_of_the_batch():
    model = Recorder()
    batcher = MicroBatcher(model, max_wait=0.01)

    async def main():
        gone = asyncio.ensure_future(batcher.run(digits(1)))
        kept = asyncio.ensure_future(batcher.run(digits(2)))
        await asyncio.sleep(0)
        gone.cancel()
        return await kept

    assert asyncio.run(main()) == [2]
    assert model.calls == [1]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_batch=0)
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_wait=-1)


async def enter(admission: Admission, order: list[str], name: str, pixels: int, hold: float):
    """One request: take a slot for `pixels`, note its name in `order`, hold it `hold` s."""
    async with admission.slot(pixels):
        order.append(name)
        await asyncio.sleep(hold)


def test_admission_lets_waiters_in_first_come_first_served():
    admission = Admission(max_active=1, max_waiting=4, pixel_budget=100)
    order: list[str] = []
    request = functools.partial(enter, admission, order)

    async def main():
        first = asyncio.ensure_future(request("a", 10, 0.05))
        await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(request(n, 10, 0.0)) for n in "bcd"]
        await asyncio.gather(first, *rest)

    asyncio.run(main())
    assert order == ["a", "b", "c", "d"]
    assert (admission.active, admission.pixels, admission.waiting) == (0, 0, 0)


def test_admission_past_its_queue_or_its_wait_says_overloaded_and_leaks_nothing():
    admission = Admission(max_active=1, max_waiting=1, pixel_budget=100, max_wait=0.05)

    async def hold(seconds: float):
        async with admission.slot(10):
            await asyncio.sleep(seconds)

    async def main():
        holder = asyncio.ensure_future(hold(0.3))
        await asyncio.sleep(0.01)
        waiter = asyncio.ensure_future(hold(0))  # waits, then gives up after 0.05 s
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded):  # the one waiting place is taken
            await hold(0)
        with pytest.raises(Overloaded):
            await waiter
        cancelled = asyncio.ensure_future(hold(0))
        await asyncio.sleep(0.01)
        cancelled.cancel()  # the client went away while waiting
        await asyncio.gather(cancelled, return_exceptions=True)
        await holder
        await hold(0)  # all slots came back

    asyncio.run(main())
    assert (admission.active, admission.pixels, admission.waiting) == (0, 0, 0)


def test_admission_does_not_let_a_large_request_be_overtaken_forever():
    admission = Admission(max_active=4, max_waiting=8, pixel_budget=100)
    order: list[str] = []
    request = functools.partial(enter, admission, order)

    async def main():
        first = asyncio.ensure_future(request("small-1", 60, 0.05))
        await asyncio.sleep(0.01)
        large = asyncio.ensure_future(request("large", 90, 0.0))
        await asyncio.sleep(0.01)
        later = asyncio.ensure_future(request("small-2", 10, 0.0))  # fits now, but queues
        await asyncio.gather(first, large, later)

    asyncio.run(main())
    assert order == ["small-1", "large", "small-2"]


def test_admission_reports_its_queue_and_its_refusals():
    admission = Admission(max_active=1, max_waiting=2, pixel_budget=100, max_wait=0.05)
    queue: list[int] = []
    refused: list[None] = []
    admission.report_to(queue.append, lambda: refused.append(None))
    order: list[str] = []
    request = functools.partial(enter, admission, order)

    async def main():
        holder = asyncio.ensure_future(request("a", 10, 0.03))
        await asyncio.sleep(0.01)
        waiting = [asyncio.ensure_future(request(n, 10, 0.0)) for n in "bc"]
        await asyncio.sleep(0.005)
        with pytest.raises(Overloaded):  # both waiting places are taken
            await request("d", 10, 0.0)
        await asyncio.gather(holder, *waiting)

    asyncio.run(main())
    assert order == ["a", "b", "c"]
    assert queue == [1, 2, 1, 0]  # b and c join; b, then c, are let in
    assert len(refused) == 1


def test_a_request_let_in_at_once_reports_nothing():
    admission = Admission(max_active=2, max_waiting=2, pixel_budget=100)
    calls: list[object] = []
    admission.report_to(calls.append, lambda: calls.append("refused"))
    asyncio.run(enter(admission, [], "a", 10, 0.0))
    assert calls == []


def test_the_size_of_every_batch_is_reported_when_asked():
    sizes: list[int] = []
    report_batch_sizes(sizes.append)
    try:
        batcher = MicroBatcher(Recorder(), max_batch=4, max_wait=0.005)

        async def main():
            return await asyncio.gather(*(batcher.run(digits(i)) for i in range(6)))

        asyncio.run(main())
    finally:
        report_batch_sizes(None)
    assert sizes == [4, 2]
