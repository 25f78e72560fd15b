"""Outlier exposure (Hendrycks et al. 2019): batches of non-digits beside each training batch,
and the loss that pushes the model's answer on them towards the uniform distribution."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
    images = np.asarray(train.images)
    made = outlier_set(images, options.count, options.seed, options.path, options.kinds)
    return torch.from_numpy(made)


def make_photo_digits(cfg: TrainConfig, train: Split) -> Split | None:
    """`cfg.outliers.photo_digits` training digits drawn as photos by the outliers' path,
    with their labels, from the train split only; None when the config asks for none."""
    from mnistlab.synth.outliers import photo_digit_set

    options = cfg.outlier_config
    if not options.photo_digits:
        return None
    images, labels = np.asarray(train.images), np.asarray(train.labels)
    pixels, kept = photo_digit_set(images, labels, options.photo_digits, options.seed)
    return Split(torch.from_numpy(pixels), torch.from_numpy(kept))


class OutlierBatches:
    """Model inputs of a fixed outlier set (or of a labelled `Split`), `batch_size` a step, on
    the device, in a seeded order per epoch (a resumed run draws the same ones); augmented
    like the digits."""

    def __init__(
        self,
        images: torch.Tensor | Split,
        batch_size: int,
        *,
        device: torch.device,
        seed: int,
        normalization: str,
        channels_last: bool,
        transform: Callable[[torch.Tensor], torch.Tensor] | None,
    ):
        if isinstance(images, Split):
            split = images
        else:
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

    def _cycle(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        passes = 0
        while True:  # an epoch of digits may need more than one pass over the outliers
            for index in self.loader.batch_indices(epoch * 1_000 + passes):
                yield self.loader.batch(index)
            passes += 1

    def next(self) -> torch.Tensor:
        """(batch_size, 1, 28, 28) normalised outliers."""
        return next(self._batches)[0]

    def next_labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, labels) of the next batch: for a set of digits."""
        return next(self._batches)


@dataclass
class Exposure:
    """What outlier exposure adds to a step: the outlier batches, the photographed training
    digits that replace part of each batch of digits (None: none), and whether BatchNorm
    takes its statistics from the digits alone."""

    outliers: OutlierBatches
    photos: OutlierBatches | None = None
    digit_batchnorm: bool = False
    refresh_with_photos: bool = False

    def refresh_loader(self, train: DeviceLoader, count: int) -> DeviceLoader:
        """What the EMA's BatchNorm statistics are recomputed on: `train`'s first `count`
        digits, or with refresh_with_photos the photographed ones in their share of a batch."""
        if self.photos is None or not self.refresh_with_photos:
            return train
        photos = self.photos.loader
        share = photos.batch_size / train.batch_size
        taken = min(int(count * share), len(photos.labels))
        images = torch.cat([train.images[: count - taken], photos.images[:taken]])
        labels = torch.cat([train.labels[: count - taken], photos.labels[:taken]])
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
        # shuffled, so every refresh batch has the mix (the refresh reads the first images)
        split = Split(images[order.to(images.device)], labels[order.to(labels.device)])
        return DeviceLoader(
            split,
            train.batch_size,
            device=train.device,
            normalization=train.normalization,
            channels_last=train.channels_last,
        )

    def set_epoch(self, epoch: int) -> None:
        self.outliers.set_epoch(epoch)
        if self.photos is not None:
            self.photos.set_epoch(epoch)

    def mix_digits(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch with its last rows replaced by photographed digits: the batch size and
        the step's cost stay as they were."""
        if self.photos is None:
            return x, y
        px, py = self.photos.next_labelled()
        keep = max(len(y) - len(py), 0)  # a short last batch may be all photos
        return torch.cat([x[:keep], px]), torch.cat([y[:keep], py])

    def loss(
        self, forward: nn.Module, x: torch.Tensor, y: torch.Tensor, smoothing: float, weight: float
    ) -> torch.Tensor:
        """Cross-entropy on the (mixed) digits plus `weight` times uniform_cross_entropy on
        the outliers, both from one forward pass (the caller sets autocast)."""
        x, y = self.mix_digits(x, y)
        batchnorm = digit_statistics if self.digit_batchnorm else everything_statistics
        with batchnorm(forward, len(y)):
            logits = forward(torch.cat([x, self.outliers.next()]))  # (B + B_out, 10)
        digit_loss = F.cross_entropy(logits[: len(y)], y, label_smoothing=smoothing)
        return digit_loss + weight * uniform_cross_entropy(logits[len(y) :])


@contextlib.contextmanager
def everything_statistics(module: nn.Module, digits: int):
    """BatchNorm as it is: the whole batch's statistics (Hendrycks et al.)."""
    yield


@contextlib.contextmanager
def digit_statistics(module: nn.Module, digits: int):
    """Training-mode BatchNorm layers of `module` normalise every row with the mean and
    variance of the first `digits` rows, and update their running statistics from those
    alone: the outliers get the digits' normalisation, as everything does at inference."""
    norms = [
        m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
    ]
    for m in norms:
        m.forward = functools.partial(_digit_batchnorm, m, digits)  # shadows the class's
    try:
        yield
    finally:
        for m in norms:
            del m.forward


def _digit_batchnorm(norm: nn.modules.batchnorm._BatchNorm, digits: int, x: torch.Tensor):
    """The digit rows through the layer's own training-mode batch norm (which updates the
    running statistics); the outlier rows normalised with the digits' batch statistics, taken
    as constants (so the outlier loss does not steer them; native kernels, not a hand-written
    normalisation that made steps 2.5x slower)."""
    head, tail = x[:digits], x[digits:]
    factor = 0.0 if norm.momentum is None else norm.momentum
    if norm.track_running_stats and norm.num_batches_tracked is not None:
        norm.num_batches_tracked.add_(1)  # as nn.BatchNorm counts its training batches
        if norm.momentum is None:  # a cumulative average
            factor = 1.0 / float(norm.num_batches_tracked)
    weight, bias = norm.weight, norm.bias
    out = F.batch_norm(
        head, norm.running_mean, norm.running_var, weight, bias, True, factor, norm.eps
    )
    if not len(tail):
        return out
    with torch.no_grad():
        var, mean = torch.var_mean(head.float(), [0, *range(2, x.dim())], unbiased=False)
    rest = F.batch_norm(tail, mean, var, weight, bias, False, 0.0, norm.eps)
    return torch.cat([out, rest.to(out.dtype)])
