"""The device-resident loader and the normalisations."""

from __future__ import annotations

import pytest
import torch

from mnistlab.data import MNIST_MEAN, MNIST_STD, NORMALIZATIONS, DeviceLoader, normalize
from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _tiny(n: int = 10) -> Split:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1).expand(n, 28, 28).contiguous()
    return Split(images, torch.arange(n, dtype=torch.int64) % 10)


@pytest.mark.parametrize("device", DEVICES)
def test_batches_have_model_shapes_and_types(real_splits, device):
    loader = DeviceLoader(real_splits["val"], 256, device=device, shuffle=True, seed=0)
    x, y = next(iter(loader))
    assert x.dtype == torch.float32 and x.shape == (256, 1, 28, 28)
    assert y.dtype == torch.int64 and y.shape == (256,)
    assert x.device.type == device and y.device.type == device
    assert loader.images.dtype == torch.uint8  # kept as uint8 on the device


def test_evaluation_sees_every_test_image_once(real_splits):
    test = real_splits["test"]
    loader = DeviceLoader(test, 128)
    batches = list(loader)
    assert len(batches) == len(loader) == 79
    assert [len(y) for _, y in batches][-1] == 10000 - 78 * 128  # the last, partial batch: 16
    order = torch.cat(list(loader.batch_indices()))
    assert torch.equal(order, torch.arange(10000))
    assert torch.equal(torch.cat([y for _, y in batches]), test.labels)
    x_last, _ = batches[-1]
    assert torch.equal(x_last, normalize(test.images[-16:]).unsqueeze(1))


def test_evaluation_refuses_to_drop_the_last_batch():
    with pytest.raises(ValueError, match="every image"):
        DeviceLoader(_tiny(), 3, drop_last=True)


def test_shuffled_epochs_differ_and_are_reproducible():
    split = _tiny(1000)
    loader = DeviceLoader(split, 100, shuffle=True, seed=7)
    e0, e1 = loader.order(0), loader.order(1)
    assert not torch.equal(e0, e1)
    assert torch.equal(torch.sort(e0).values, torch.arange(1000))
    again = DeviceLoader(split, 100, shuffle=True, seed=7)
    assert torch.equal(again.order(1), e1)
    assert not torch.equal(DeviceLoader(split, 100, shuffle=True, seed=8).order(1), e1)
    loader.set_epoch(1)
    first_x, first_y = next(iter(loader))
    assert torch.equal(first_y, split.labels[e1[:100]])


def test_drop_last_for_training():
    loader = DeviceLoader(_tiny(10), 4, shuffle=True, drop_last=True)
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]


@pytest.mark.parametrize("world_size", [2, 3])
def test_shards_are_disjoint_and_cover_each_global_batch(world_size):
    split = _tiny(103)
    full = DeviceLoader(split, 16, shuffle=True, seed=1)
    shards = [
        DeviceLoader(split, 16, shuffle=True, seed=1, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    for loader in [full, *shards]:
        loader.set_epoch(3)
    per_rank = [list(s.batch_indices()) for s in shards]
    for b, global_batch in enumerate(full.batch_indices()):
        parts = [per_rank[r][b] for r in range(world_size)]
        joined = torch.cat(parts)
        assert len(joined) == len(global_batch) == len(set(joined.tolist()))
        assert set(joined.tolist()) == set(global_batch.tolist())


def test_normalize_maps_pixel_values_exactly():
    pixels = torch.arange(256, dtype=torch.uint8)
    expected = (pixels.double() / 255 - MNIST_MEAN) / MNIST_STD  # float64 reference
    # (a plain max-difference check: torch.testing's first call costs over a second of imports)
    assert (normalize(pixels, "mnist").double() - expected).abs().max() < 1e-5
    assert (normalize(pixels, "unit").double() - pixels.double() / 255).abs().max() < 1e-7
    assert set(NORMALIZATIONS) >= {"mnist", "unit", "tutorial"}


def test_normalize_does_not_modify_a_float_input():
    pixels = torch.full((3,), 255.0)
    out = normalize(pixels)
    assert torch.equal(pixels, torch.full((3,), 255.0))
    assert out is not pixels


def test_unknown_normalization_lists_the_choices():
    with pytest.raises(MnistlabError, match="choose one of: mnist, tutorial, unit"):
        normalize(torch.zeros(1), "imagenet")


def test_mnist_normalization_is_standard_on_train(real_splits):
    # From the pixel histogram (exact, cheap) rather than a 170 MB float copy of the images.
    images = real_splits["train"].images
    counts = torch.bincount(images.flatten().long(), minlength=256).double()
    values = normalize(torch.arange(256, dtype=torch.uint8)).double()
    mean = (counts * values).sum() / counts.sum()
    std = ((counts * (values - mean) ** 2).sum() / counts.sum()).sqrt()
    assert abs(mean.item()) < 0.01 and abs(std.item() - 1) < 0.01
    x, _ = next(iter(DeviceLoader(real_splits["train"], 4096, shuffle=True)))
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05


def test_an_epoch_share_draws_a_fresh_subset_each_epoch():
    loader = DeviceLoader(_tiny(100), 10, shuffle=True, seed=3, epoch_share=0.3)
    assert len(loader) == 3
    seen = [torch.cat(list(loader.batch_indices(epoch))) for epoch in range(4)]
    assert all(len(s) == 30 and len(set(s.tolist())) == 30 for s in seen)
    assert len(set(torch.cat(seen).tolist())) > 30  # other images in later epochs
    with pytest.raises(ValueError, match="epoch_share"):
        DeviceLoader(_tiny(), 4, epoch_share=0.5)  # evaluation sees every image
