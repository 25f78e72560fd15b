"""A whole training step recorded once as a CUDA graph and replayed for every full batch.

On a GPU the small MNIST networks are launch-bound: the H100 took 6.7 ms per `sota` step at
batch 256 and 8.1 ms at batch 512 (docs/RESULTS.md), so most of a step is the CPU issuing a few
hundred kernels. A CUDA graph issues them all at once. What it records: gathering the batch,
augmenting it (its random numbers come from the graph-safe default CUDA generator), forward,
backward, the optimizer's update and the EMA's. What stays on the host: the batch order, the
learning-rate schedule (copied into a device tensor before each replay) and the step counts.

The first WARMUP_STEPS steps run eagerly: they are real training steps, and they make the lazy
work (cuDNN's algorithm search, the optimizer's state, the EMA's first copy) happen before the
capture. A batch of another size (an epoch's last, partial one) also runs eagerly.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Protocol

import torch

from mnistlab.train.ema import WeightEMA

WARMUP_STEPS = 3

# step(index, average) -> loss: the whole training step on the batch at `index`; `average`
# updates the EMA (None without one).
StepFn = Callable[[torch.Tensor, Callable[[torch.nn.Module], None] | None], torch.Tensor]


class Recorder(Protocol):
    """How steps are warmed up and recorded: CUDA graphs on a GPU (`CudaGraphRecorder`)."""

    def warmup(self) -> contextlib.AbstractContextManager:
        """Where eager steps run (the capture's stream)."""
        ...

    def record(self, fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        """Record `fn` without running it; return what replays it and gives its output."""
        ...


class CudaGraphRecorder:
    """Records with torch.cuda.graph on a side stream, where the eager steps also run."""

    def __init__(self, device: torch.device):
        # Warm-up and capture share one side stream, as the CUDA-graph notes ask: the lazy
        # per-stream state (cuBLAS workspaces, autograd's streams) is then made before capture.
        self.stream = torch.cuda.Stream(device)

    @contextlib.contextmanager
    def warmup(self):
        current = torch.cuda.current_stream(self.stream.device)
        self.stream.wait_stream(current)
        try:
            with torch.cuda.stream(self.stream):
                yield
        finally:
            current.wait_stream(self.stream)

    def record(self, fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            out = fn()

        def replay() -> torch.Tensor:
            graph.replay()
            return out  # the same tensor each time, overwritten by the next replay

        return replay


class GraphedSteps:
    """Runs training steps (`step(index, average)`), replaying a recording for full batches.

    Call it with each batch's index tensor; it returns the step's loss as a device tensor of
    its own. Only the fused optimizers can be recorded (`build_optimizer` with `cuda_graph`).
    """

    def __init__(
        self,
        step: StepFn,
        optimizer: torch.optim.Optimizer,
        ema: WeightEMA | None,
        batch_size: int,
        device: torch.device,
        recorder: Recorder | None = None,
    ):
        self.step = step
        self.optimizer = optimizer
        self.ema = ema
        self.batch_size = batch_size
        self.recorder = recorder if recorder is not None else CudaGraphRecorder(device)
        self.index = torch.zeros(batch_size, dtype=torch.long, device=device)  # static input
        self.lrs = [torch.tensor(0.0, device=device) for _ in optimizer.param_groups]
        self.eager_steps = 0
        self.replay: Callable[[], torch.Tensor] | None = None

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        for group, lr in zip(self.optimizer.param_groups, self.lrs, strict=True):
            lr.fill_(group["lr"])  # this step's scheduled rate
        # Eager steps read the rates from the same tensors, so that they run the very kernels
        # the recording holds: none is loaded for the first time during a capture.
        with self._rates_on_device():
            if len(index) != self.batch_size or self.eager_steps < WARMUP_STEPS:
                return self._eager(index)
            self.index.copy_(index)
            if self.ema is not None:
                self.ema.count_update()  # and this step's EMA share: the recorded blend reads it
            if self.replay is None:
                average = self.ema.blend if self.ema is not None else None
                self.replay = self.recorder.record(lambda: self.step(self.index, average))
            return self.replay().clone()  # the recording's output is overwritten next time

    def _eager(self, index: torch.Tensor) -> torch.Tensor:
        self.eager_steps += 1
        average = self.ema.update_parameters if self.ema is not None else None
        with self.recorder.warmup(), warnings.catch_warnings():
            # Adam made capturable warns when it steps outside a capture, as it does here
            warnings.filterwarnings("ignore", message="This instance was constructed with capt")
            return self.step(index, average)

    @contextlib.contextmanager
    def _rates_on_device(self):
        """The recorded optimizer step reads its learning rates from device tensors, refilled
        before each replay; outside, the param groups keep plain floats for the scheduler, the
        metrics and checkpoints."""
        groups = self.optimizer.param_groups
        saved = [group["lr"] for group in groups]
        for group, lr in zip(groups, self.lrs, strict=True):
            group["lr"] = lr
        try:
            yield
        finally:
            for group, lr in zip(groups, saved, strict=True):
                group["lr"] = lr
