"""An exponential moving average of the weights, with BatchNorm statistics recomputed for it."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mnistlab.data.loader import DeviceLoader
from mnistlab.data.splits import Split

BN_REFRESH_IMAGES = 10_000


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    # use_buffers: the running BN statistics are averaged too, a good estimate between epochs;
    # refresh_batchnorm() replaces them with exact ones for the final weights.
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@torch.no_grad()
def refresh_batchnorm(ema: AveragedModel, train_loader: DeviceLoader) -> None:
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
