"""Training the shipped helper networks (the digit detector, the one-digit reader): one loop
for both, configured by a typed HelperConfig, so scripts/ only draw their data sets.

Both are binary ("a digit", "exactly one digit"): binary cross-entropy on one logit per input,
AdamW under a one-cycle schedule, one optimizer step per batch. The batch orders are the two
the scripts always used, so the shipped weights can be made again bit for bit: "numpy" (a
NumPy permutation per epoch from [seed, 7], full batches only, each batch rolled by a random
shift of up to `shift` pixels) and "torch" (torch.randperm from a generator seeded `seed`,
the last batch short).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.errors import MnistlabError

ORDERS = ("numpy", "torch")


@dataclass(frozen=True)
class HelperConfig:
    """How a helper network is trained; unknown keys are refused (from_dict)."""

    epochs: int
    batch_size: int
    max_lr: float = 3e-3  # the one-cycle peak
    weight_decay: float = 1e-4
    seed: int = 0
    order: str = "torch"  # ORDERS
    shift: int = 0  # "numpy" order: random shifts of up to this many pixels
    balance: bool = False  # weigh both classes the same in the loss, however many of each

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise MnistlabError(f"unknown order {self.order!r}; choose one of: {', '.join(ORDERS)}")
        if self.epochs < 1 or self.batch_size < 1 or self.shift < 0:
            raise MnistlabError("epochs and batch_size must be positive, shift not negative")
        if self.shift and self.order != "numpy":
            raise MnistlabError('shift needs the "numpy" order')

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HelperConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MnistlabError(f"helper config: unknown option {unknown[0]!r}")
        return cls(**data)


Batches = Iterator[tuple[torch.Tensor, tuple[int, int]]]  # (indices, (dy, dx) shift)


def batches(cfg: HelperConfig, n: int) -> Callable[[], Batches]:
    """A function giving one epoch's batches each call, in cfg.order."""
    if cfg.order == "numpy":
        rng = np.random.default_rng([cfg.seed, 7])

        def numpy_epoch() -> Batches:
            order = torch.from_numpy(rng.permutation(n))
            for b in range(n // cfg.batch_size):
                dy, dx = (int(v) for v in rng.integers(-cfg.shift, cfg.shift + 1, 2))
                yield order[b * cfg.batch_size : (b + 1) * cfg.batch_size], (dy, dx)

        return numpy_epoch
    generator = torch.Generator().manual_seed(cfg.seed)

    def torch_epoch() -> Batches:
        for batch in torch.randperm(n, generator=generator).split(cfg.batch_size):
            yield batch, (0, 0)

    return torch_epoch


def steps_per_epoch(cfg: HelperConfig, n: int) -> int:
    full = n // cfg.batch_size
    return full if cfg.order == "numpy" else full + (n % cfg.batch_size > 0)


def train_helper(
    net: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    targets: torch.Tensor,
    cfg: HelperConfig,
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train `net` (called as net(*inputs), the first input (N, 1, H, W) images, returning (N,)
    logits) on 0/1 `targets`; returns the mean loss per epoch (`on_epoch(epoch, loss)` hears
    each). The caller seeds torch (torch.manual_seed) before building `net`."""
    n = len(targets)
    optimizer = torch.optim.AdamW(net.parameters(), cfg.max_lr, weight_decay=cfg.weight_decay)
    total = cfg.epochs * steps_per_epoch(cfg, n)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.max_lr, total_steps=total)
    weight = None
    if cfg.balance:
        weight = torch.tensor(float((targets == 0).sum() / (targets == 1).sum()))
    epoch_batches = batches(cfg, n)
    losses = []
    for epoch in range(cfg.epochs):
        net.train()
        total_loss, count = 0.0, 0
        for index, (dy, dx) in epoch_batches():
            first, *rest = (x[index] for x in inputs)
            if dy or dx:
                first = torch.roll(first, (dy, dx), (2, 3))
            loss = F.binary_cross_entropy_with_logits(
                net(first, *rest), targets[index], pos_weight=weight
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item()
            count += 1
        losses.append(total_loss / count)
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return losses
