"""Outlier exposure (Hendrycks et al. 2019): batches of non-digits beside each training batch,
and the loss that pushes the model's answer on them towards the uniform distribution."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from mnistlab.data.loader import DeviceLoader
from mnistlab.data.splits import Split
from mnistlab.train.config import TrainConfig


def uniform_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the cross-entropy from the uniform distribution to
    softmax(logits): -mean over classes of log_softmax; log(C) at its smallest."""
    return -logits.float().log_softmax(1).mean(1).mean()


def make_outliers(cfg: TrainConfig, train: Split) -> torch.Tensor:
    """(count, 28, 28) uint8 outliers of `cfg.outliers`, made from the train split only."""
    from mnistlab.synth.outliers import outlier_set

    options = cfg.outlier_config
    return torch.from_numpy(outlier_set(np.asarray(train.images), options.count, options.seed))


class OutlierBatches:
    """Model inputs of a fixed outlier set, `batch_size` a step, on the device, in a seeded
    order per epoch (a resumed run draws the same ones); augmented like the digits."""

    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        *,
        device: torch.device,
        seed: int,
        normalization: str,
        channels_last: bool,
        transform: Callable[[torch.Tensor], torch.Tensor] | None,
    ):
        split = Split(images, torch.zeros(len(images), dtype=torch.int64))
        self.loader = DeviceLoader(
            split,
            batch_size,
            device=device,
            shuffle=True,
            seed=seed,
            normalization=normalization,
            drop_last=True,
            channels_last=channels_last,
            transform=transform,
        )
        self._batches: Iterator[torch.Tensor] = iter(())
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self._batches = self._cycle(epoch)

    def _cycle(self, epoch: int) -> Iterator[torch.Tensor]:
        passes = 0
        while True:  # an epoch of digits may need more than one pass over the outliers
            for index in self.loader.batch_indices(epoch * 1_000 + passes):
                yield self.loader.batch(index)[0]
            passes += 1

    def next(self) -> torch.Tensor:
        """(batch_size, 1, 28, 28) normalised outliers."""
        return next(self._batches)
