"""The thread governor's rule, driven with made-up CPU readings (no timing, no load)."""

from __future__ import annotations

import pytest

from mnistlab.errors import MnistlabError
from mnistlab.threads import Sample, ThreadGovernor, parse_threads


class Clock:
    """Readings the test writes: each interval, the cores this process used and left idle."""

    def __init__(self):
        self.now = Sample(0.0, 0.0, 0.0)

    def advance(self, used: float, idle: float | None, seconds: float = 1.0) -> None:
        prev = self.now
        self.now = Sample(
            prev.wall + seconds,
            prev.cpu + used * seconds,
            None if idle is None else (prev.idle or 0.0) + idle * seconds,
        )


def governor(max_threads=2):
    clock, calls = Clock(), []
    gov = ThreadGovernor(
        max_threads,
        sample=lambda: clock.now,
        set_threads=calls.append,
        clock=lambda: clock.now.wall,
    )
    return gov, clock, calls


def test_steps_down_when_another_process_takes_a_core_and_back_up_when_it_leaves():
    gov, clock, calls = governor()
    assert calls == [2]
    clock.advance(used=1.95, idle=0.02)  # alone: keeps both
    gov.on_step(0, 1, 10)
    assert gov.threads == 2
    clock.advance(used=1.0, idle=0.0)  # a second training shares the cores
    gov.on_step(0, 2, 10)
    assert gov.threads == 1 and calls == [2, 1]
    clock.advance(used=1.0, idle=0.0)  # both at one thread each: stay
    gov.on_step(0, 3, 10)
    assert gov.threads == 1
    clock.advance(used=1.0, idle=0.98)  # the other one finished
    gov.on_step(0, 4, 10)
    assert gov.threads == 2 and calls == [2, 1, 2] and gov.changes == 2


def test_quiet_phases_of_its_own_do_not_count_as_contention():
    gov, clock, _ = governor()
    clock.advance(used=1.0, idle=0.9)  # its own single-threaded work (evaluation, saving)
    gov.on_step(0, 1, 10)
    assert gov.threads == 2


def test_reads_only_once_per_interval_and_keeps_its_count_without_machine_readings():
    gov, clock, calls = governor()
    clock.advance(used=1.0, idle=0.0, seconds=0.5)
    gov.on_step(0, 1, 10)
    assert gov.threads == 2  # too soon: not read
    clock.advance(used=0.5, idle=None)
    gov.on_step(0, 2, 10)
    assert gov.threads == 2 and calls == [2]


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ("3", 3), (None, None)])
def test_parse_threads(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two"])
def test_parse_threads_rejects(text):
    with pytest.raises(MnistlabError, match="threads: expected 'auto' or a positive integer"):
        parse_threads(text)
