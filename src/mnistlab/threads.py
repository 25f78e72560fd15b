"""How many CPU threads a training uses, and a governor that adapts it when the machine is shared.

Measured on a 2-core machine (docs/speed-log.md, benchmarks/contention.py): torch's OpenMP pool
with one thread per core is ~25% faster than one thread when the machine is free, but when two
such processes share the cores each runs 3.5-6x slower than alone, because every parallel region
ends at a barrier where a thread waits for a partner that the kernel has not scheduled. OpenMP's
waiting policy does not save it (passive waiting: 2.2x; shorter spinning: 2.6-4.7x), while one
thread per process lost nothing when paired. So the governor runs with all cores while the
machine is free and steps down to the cores this process actually gets when it is not.

Changing the thread count is process-wide, so nothing here runs unless a caller asks: the CLI
passes `--threads auto` (its default), library users pass `threads=` to `fit`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from mnistlab.errors import MnistlabError


def parse_threads(text: str | int | None) -> int | str | None:
    """'auto', a positive count, or None (leave torch's setting alone)."""
    if text is None or text == "auto":
        return text
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise MnistlabError(f"threads: expected 'auto' or a positive integer, got {text!r}")
    return value


def machine_idle_seconds() -> float | None:
    """Idle CPU-seconds summed over all cores since boot (Linux /proc/stat), else None."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    idle, iowait = int(fields[4]), int(fields[5])
    return (idle + iowait) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    wall: float  # seconds, monotonic
    cpu: float  # this process's CPU seconds, all threads
    idle: float | None  # the machine's idle CPU seconds, all cores


def take_sample() -> Sample:
    return Sample(time.perf_counter(), time.process_time(), machine_idle_seconds())


class ThreadGovernor:
    """A training callback that adapts torch's intra-op thread count about once a second.

    - With n > 1 threads, when this process got fewer than n - 0.5 cores' worth of CPU and the
      machine had less than 0.3 of a core idle, the cores are taken by someone else: step down to
      the cores it did get (at least 1).
    - With fewer threads than cores, when at least 0.75 of a core sat idle: step up.

    Weights trained with different thread counts differ in their last bits (oneDNN splits its
    sums by thread), so a run that must repeat bit for bit uses a fixed count (`--threads N`).
    `sample`, `set_threads` and `clock` are parts: tests drive the rule with made-up readings.
    """

    def __init__(
        self,
        max_threads: int | None = None,
        interval: float = 1.0,
        sample: Callable[[], Sample] = take_sample,
        set_threads: Callable[[int], None] = torch.set_num_threads,
        threads: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        # the ceiling is what torch would use anyway (all cores, or OMP_NUM_THREADS if set)
        self.max_threads = max_threads or torch.get_num_threads()
        self.interval = interval
        self.sample, self.set_threads, self.clock = sample, set_threads, clock
        self.threads = threads or self.max_threads
        self.set_threads(self.threads)
        self.last = sample()
        self.changes = 0

    def decide(self, used_cores: float, idle_cores: float | None) -> int:
        """The thread count for the next interval, from the cores used and left idle."""
        n = self.threads
        if idle_cores is None:
            return n  # no machine-wide reading (not Linux): keep the count
        if n > 1 and used_cores < n - 0.5 and idle_cores < 0.3:
            return max(1, min(n - 1, round(used_cores)))
        if n < self.max_threads and idle_cores >= 0.75:
            return min(self.max_threads, n + max(1, int(idle_cores + 0.25)))
        return n

    def on_step(self, epoch: int, step: int, steps: int, loss=None) -> None:
        now = self.clock()  # cheap; the readings below cost a file read
        if now - self.last.wall < self.interval:
            return
        current = self.sample()
        wall = current.wall - self.last.wall
        used = (current.cpu - self.last.cpu) / wall
        idle = None
        if current.idle is not None and self.last.idle is not None:
            idle = (current.idle - self.last.idle) / wall
        self.last = current
        wanted = self.decide(used, idle)
        if wanted != self.threads:
            self.threads = wanted
            self.changes += 1
            self.set_threads(wanted)

    def on_epoch_end(self, metrics: dict, state) -> None: ...


@contextlib.contextmanager
def thread_setting(
    threads: int | str | None, device_type: str, shared: bool = False
) -> Iterator[list[ThreadGovernor]]:
    """Apply a threads setting for a block, then give torch its previous count back.

    None leaves torch alone; a count is set now; "auto" yields a ThreadGovernor to pass to
    training as a callback (on the CPU only, and not when `shared`: ranks under torchrun already
    split the cores). Yields the callbacks to add.
    """
    before = torch.get_num_threads()
    callbacks: list[ThreadGovernor] = []
    if isinstance(threads, int):
        torch.set_num_threads(threads)
    elif threads == "auto" and device_type == "cpu" and not shared:
        callbacks.append(ThreadGovernor())
    try:
        yield callbacks
    finally:
        if threads is not None:
            torch.set_num_threads(before)
