"""An exponential moving average of the weights, with BatchNorm statistics recomputed for it."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from mnistlab.data.loader import DeviceLoader
from mnistlab.data.splits import Split

BN_REFRESH_IMAGES = 10_000


class WeightEMA(nn.Module):
    """EMA of a model's parameters and buffers: the first update copies the weights, each later
    one moves the average (1 - decay) of the way towards them.

    It does what torch's AveragedModel with an EMA function does, but keeps its step count on
    the host: AveragedModel reads a device tensor at every update, which on a GPU stalls the
    queue of kernels once per training step.
    """

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        self.module = copy.deepcopy(model)
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.n_averaged = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        if self.n_averaged == 0:
            mine, theirs = self._pairs(model)
            torch._foreach_copy_(mine, theirs)
        else:
            self.blend(model)
        self.n_averaged += 1

    @torch.no_grad()
    def blend(self, model: nn.Module) -> None:
        """Move the average towards `model`, without counting the update: device work only,
        which a CUDA graph can record (the caller counts each replay)."""
        # Buffers too: the running BN statistics are averaged, a good estimate between epochs;
        # refresh_batchnorm() replaces them with exact ones for the final weights.
        mine, theirs = self._pairs(model)
        floats = [(a, b) for a, b in zip(mine, theirs, strict=True) if a.is_floating_point()]
        torch._foreach_lerp_([a for a, _ in floats], [b for _, b in floats], 1 - self.decay)
        for a, b in zip(mine, theirs, strict=True):
            if not a.is_floating_point():  # BN's batch counter
                a.copy_(a * self.decay + b * (1 - self.decay))

    def _pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        mine = [*self.module.parameters(), *self.module.buffers()]
        theirs = [t.detach() for t in (*model.parameters(), *model.buffers())]
        return mine, theirs

    def get_extra_state(self) -> dict[str, int]:
        return {"n_averaged": self.n_averaged}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.n_averaged = int(state["n_averaged"])


def make_ema(model: nn.Module, decay: float) -> WeightEMA:
    return WeightEMA(model, decay)


@torch.no_grad()
def refresh_batchnorm(ema: WeightEMA, train_loader: DeviceLoader) -> None:
    """Recompute BN running statistics of the averaged weights on un-augmented training images
    (the averaged weights never produced the statistics they inherited)."""
    module = ema.module
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    n = min(BN_REFRESH_IMAGES, len(train_loader.labels))
    subset = Split(train_loader.images[:n], train_loader.labels[:n])  # stays on the device
    loader = DeviceLoader(
        subset,
        500,
        device=train_loader.device,
        normalization=train_loader.normalization,
        channels_last=train_loader.channels_last,
    )
    saved = {m: m.momentum for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    was_training = module.training
    module.train()
    for x, _ in loader:
        module(x)
    module.train(was_training)
    for m, momentum in saved.items():
        m.momentum = momentum
