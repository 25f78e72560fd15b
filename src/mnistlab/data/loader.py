"""A data loader whose data lives on the device as uint8.

MNIST fits in a few tens of MB, so there is no reason to copy batches from the host: each epoch
is one `randperm`, each batch an index, a normalising multiply-add and a reshape, all on the
device. Every epoch's permutation is derived from (seed, epoch), so a resumed run sees the same
batches, and every rank of a distributed run draws the same permutation and takes its own shard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from mnistlab.data.normalize import check_normalization, normalize
from mnistlab.data.splits import Split


class DeviceLoader:
    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        device: str | torch.device = "cpu",
        shuffle: bool = False,
        seed: int = 0,
        normalization: str = "mnist",
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        epoch_share: float = 1.0,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 0 < epoch_share <= 1 or (epoch_share < 1 and not shuffle):
            raise ValueError("epoch_share must be in (0, 1], and below 1 only when shuffling")
        if shuffle is False and drop_last:
            raise ValueError("evaluation must see every image: drop_last needs shuffle")
        self.device = torch.device(device)
        self.images = split.images.to(self.device)  # (N, 28, 28) uint8
        self.labels = split.labels.to(self.device)  # (N,) int64
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.normalization = check_normalization(normalization)
        self.drop_last = drop_last
        self.rank, self.world_size = rank, world_size
        self.channels_last = channels_last
        # Applied to training batches as float pixels in 0..1, (B, 1, 28, 28), before the
        # normalisation, so that augmentation pads with true background.
        self.transform = transform
        # An epoch may be a budget of examples rather than all of them: the first share of each
        # epoch's fresh permutation, so every image is still drawn over the epochs
        self.epoch_share = epoch_share
        self.epoch = 0

    def __len__(self) -> int:
        n = max(1, round(len(self.labels) * self.epoch_share))
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self, epoch: int | None = None) -> torch.Tensor:
        """The image order of an epoch (global, before sharding)."""
        n = len(self.labels)
        if not self.shuffle:
            return torch.arange(n, device=self.device)
        epoch = self.epoch if epoch is None else epoch
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=generator).to(self.device)

    def batch_indices(self, epoch: int | None = None) -> Iterator[torch.Tensor]:
        """Index tensors of this rank's batches: each global batch is split across ranks."""
        order = self.order(epoch)
        for b in range(len(self)):
            chunk = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield chunk[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for index in self.batch_indices():
            yield self.batch(index)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model inputs and labels of the images at `index` (a device tensor). Device work only,
        with no host sync, so that a CUDA graph can record it (train/graph.py)."""
        pixels = self.images[index].unsqueeze(1)  # (B, 1, 28, 28) uint8
        if self.transform is None:
            x = normalize(pixels, self.normalization)
        else:
            x = normalize(
                self.transform(pixels.float().div_(255.0)).mul_(255.0), self.normalization
            )
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.labels[index]
