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
    """A bias-corrected exponential moving average of a model's parameters and buffers.

    After n updates it is sum_k (1 - d) d^(n-k) w_k / (1 - d^n) over the weights w_1..w_n it
    was given (d the decay): an EMA whose weights add up to one, with no share left for where
    the average started. torch's AveragedModel instead starts from w_1 and keeps d^(n-1) of it:
    after the 1,720 steps of an 8-epoch `sota` run that is 18% of the first step's nearly
    random weights (0.999^1720), and after one epoch of `sota-cpu` a validation accuracy near
    chance. Here the first update copies, and update n moves the average a share
    (1 - d) / (1 - d^n) of the way, which falls to 1 - d.

    The step count lives on the host and the share in a device tensor, so no update reads
    from the device (a sync per step on a GPU), and a recorded update (train/graph.py) takes
    the share set before each replay.
    """

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        self.module = copy.deepcopy(model)
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.n_averaged = 0
        device = next(iter(model.parameters())).device
        self.register_buffer("share", torch.ones((), device=device), persistent=False)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        self.count_update()
        if self.n_averaged == 1:
            mine, theirs = self._pairs(model)
            torch._foreach_copy_(mine, theirs)
        else:
            self.blend(model)

    def count_update(self) -> None:
        """Count the next update and set its share (before blend(), or a replay of it)."""
        self.n_averaged += 1
        self.share.fill_((1 - self.decay) / (1 - self.decay**self.n_averaged))

    @torch.no_grad()
    def blend(self, model: nn.Module) -> None:
        """Move the average `share` of the way towards `model`: device work only, which a
        CUDA graph can record."""
        # Buffers too: the running BN statistics are averaged, a good estimate between epochs;
        # refresh_batchnorm() replaces them with exact ones for the final weights.
        mine, theirs = self._pairs(model)
        floats = [(a, b) for a, b in zip(mine, theirs, strict=True) if a.is_floating_point()]
        mine_f = [a for a, _ in floats]
        step = torch._foreach_sub([b for _, b in floats], mine_f)
        torch._foreach_mul_(step, self.share)
        torch._foreach_add_(mine_f, step)
        for a, b in zip(mine, theirs, strict=True):
            if not a.is_floating_point():  # BN's batch counter, unused while momentum is set
                a.copy_(b)

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
