"""The CUDA-graph step runner's bookkeeping, checked on the CPU.

A CUDA graph replays the kernels it recorded, reading only the tensors it recorded, and writes
its output into the same tensor each time. Here a stand-in recorder re-runs the recorded Python
at each replay (after checking that the learning rates are tensors, the one value a step would
otherwise read from a Python float) and copies the result into one output tensor; the results
must then match plain eager steps. A runner that fed the recording a stale batch, a stale
learning rate or a miscounted EMA, or handed out the recording's own output, fails.
"""

from __future__ import annotations

import contextlib
from functools import partial

import pytest
import torch

from mnistlab.data.augment import build_augment
from mnistlab.data.loader import DeviceLoader
from mnistlab.data.splits import Split
from mnistlab.train.config import build_config
from mnistlab.train.engine import build_state, train_step
from mnistlab.train.graph import WARMUP_STEPS, GraphedSteps


class RerunRecorder:
    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self.recorded = 0

    def warmup(self):
        return contextlib.nullcontext()

    def record(self, fn):
        self.recorded += 1
        out = []

        def replay():
            # a graph cannot see a Python float changing: the rates must come from tensors
            assert all(isinstance(g["lr"], torch.Tensor) for g in self.optimizer.param_groups)
            result = fn()
            if not out:
                out.append(result.clone())
            return out[0].copy_(result)  # one output tensor, as a graph has

        return replay


OPTIMIZERS = {
    "sgd": {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
    "adam": {"optimizer": "adam", "lr": 0.01, "betas": (0.7, 0.9)},
}


def _setup(optimizer: str = "sgd", n_images: int = 200, batch: int = 32):
    cfg = build_config(
        "convnet",
        {
            "model_config": {"widths": (4, 8, 8), "depth": 1, "dropout": 0.1},
            **OPTIMIZERS[optimizer],
            "weight_decay": 5e-4,
            "schedule": "onecycle",
            "warmup": 0.3,
            "label_smoothing": 0.1,
            "augment": {"rotate": 10.0, "translate": 2.0},
            "ema_decay": 0.9,
            "batch_size": batch,
            "epochs": 2,
            "cuda_graph": True,  # the optimizer a graph needs: fused, rates as tensors
        },
    )
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_images, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (n_images,), generator=generator)
    loader = DeviceLoader(
        Split(images, labels),
        batch,
        shuffle=True,
        channels_last=True,
        transform=build_augment(cfg.augment),
    )
    state = build_state(cfg, torch.device("cpu"), len(loader))
    step = partial(train_step, cfg, torch.device("cpu"), state, state.model, loader)
    return cfg, loader, state, step


def _train(runner, loader, state) -> list[float]:
    torch.manual_seed(1)  # the augmentation's and dropout's random numbers
    losses = []
    for epoch in range(2):
        loader.set_epoch(epoch)
        for index in loader.batch_indices():
            losses.append(float(runner(index)))
            state.scheduler.step()
    return losses


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_replayed_steps_match_eager_steps(optimizer):
    _, loader, eager_state, eager_step = _setup(optimizer)
    eager_losses = _train(
        lambda index: eager_step(index, eager_state.ema.update_parameters), loader, eager_state
    )

    _, loader, state, step = _setup(optimizer)
    recorder = RerunRecorder(state.optimizer)
    runner = GraphedSteps(
        step, state.optimizer, state.ema, loader.batch_size, torch.device("cpu"), recorder
    )
    losses = _train(runner, loader, state)

    # 200 images in batches of 32: 6 full batches and one of 8 per epoch
    assert recorder.recorded == 1
    assert runner.eager_steps == WARMUP_STEPS + 2  # the warm-up, and each epoch's partial batch
    assert state.ema.n_averaged == eager_state.ema.n_averaged == 14
    # Rates as float32 tensors round differently from Python floats: close, not identical.
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(eager_losses))
    for ours, theirs in [(state.model, eager_state.model), (state.ema, eager_state.ema)]:
        for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
            if isinstance(a, torch.Tensor):
                torch.testing.assert_close(a, b)
    assert all(isinstance(g["lr"], float) for g in state.optimizer.param_groups)


def test_a_replay_uses_the_batch_it_is_given():
    _, loader, state, step = _setup()
    runner = GraphedSteps(
        step,
        state.optimizer,
        state.ema,
        loader.batch_size,
        torch.device("cpu"),
        RerunRecorder(state.optimizer),
    )
    torch.manual_seed(0)
    indices = list(loader.batch_indices())
    for index in indices[:WARMUP_STEPS]:
        runner(index)
    state.model.eval()  # no dropout, and no augmentation: the loss depends on the batch only
    loader.transform = None
    state.optimizer.param_groups[0]["lr"] = 1e-12  # and barely on the step
    # kept as tensors: each must stay what its own step computed
    first, again, other = runner(indices[3]), runner(indices[3]), runner(indices[4])
    assert abs(first - again) < 1e-5 and abs(first - other) > 1e-3


def test_graphed_steps_get_optimizers_that_can_be_recorded():
    # foreach SGD would turn a tensor rate into a Python number: no graph can hold that
    for name, flags in [("sgd", {"fused": True}), ("adam", {"fused": True, "capturable": True})]:
        cfg, _, state, _ = _setup(name)
        group = state.optimizer.param_groups[0]
        assert {k: group[k] for k in flags} == flags, name
