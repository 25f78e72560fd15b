"""Named recipes: every one builds, and the accuracy recipes' code path really trains."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mnistlab.data.loader import DeviceLoader
from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.evaluate import count_correct
from mnistlab.models import create_model
from mnistlab.train.config import build_config
from mnistlab.train.engine import train_epochs
from mnistlab.train.recipes import RECIPES, get_recipe


@pytest.mark.parametrize("name", sorted(RECIPES))
@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
def test_every_recipe_builds_a_working_model(name, device_type):
    recipe = get_recipe(name, device_type)
    cfg = build_config(recipe.get("model", "lenet5"), recipe)
    model = create_model(cfg.model, **cfg.model_config)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_unknown_recipe_lists_known_ones():
    with pytest.raises(MnistlabError, match="known recipes: .*sota"):
        get_recipe("nope")


def _subset(split: Split, n: int) -> Split:
    return Split(split.images[:n], split.labels[:n])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sota", "sota-cpu"])
def test_sota_recipes_learn_on_a_fraction_of_an_epoch(name, mnist_splits):
    """The GPU recipe's code path (augmentation, EMA with BN refresh, label smoothing, one-cycle,
    channels_last) on the CPU: 1 epoch over 3,000 images must beat chance by far."""
    recipe = get_recipe(name, "cpu")
    cfg = build_config(recipe["model"], recipe)
    # 30 steps instead of thousands: a gentler peak and a longer warm-up than the recipe's
    cfg = dataclasses.replace(
        cfg, epochs=1, batch_size=100, ema_decay=0.9, lr=cfg.lr * 0.2, warmup=0.3
    )
    splits = {
        "train": _subset(mnist_splits["train"], 3000),
        "val": _subset(mnist_splits["val"], 1000),
        "test": mnist_splits["test"],
    }
    state = train_epochs(cfg, splits, torch.device("cpu"))
    loader = DeviceLoader(_subset(mnist_splits["test"], 2000), 500)
    correct, total = count_correct(state.eval_model, loader)
    assert correct / total >= 0.80, correct / total
    assert state.metrics[0]["val_acc"] >= 0.80


def test_the_fast_recipe_uses_bf16_exactly_where_the_cpu_computes_it_natively():
    from mnistlab.system import cpu_has_native_bf16
    from mnistlab.train.recipes import get_recipe

    assert get_recipe("fast", "cpu").get("cpu_bf16", False) is cpu_has_native_bf16()
    assert "cpu_bf16" not in get_recipe("fast", "cuda")
    # the CPU's batch and step (fast_next round 9) do not leak into the GPU's measured recipe
    cpu, cuda = get_recipe("fast", "cpu"), get_recipe("fast", "cuda")
    assert (cpu["batch_size"], cpu["lr"]) == (256, 0.015)
    assert (cuda["model"], cuda["batch_size"], cuda["lr"]) == ("tinynet-fast-cuda", 512, 0.01)
    sota = get_recipe("sota-cpu", "cpu")
    assert sota.get("cpu_bf16", False) is cpu_has_native_bf16()
    # the time budgets: 10 epochs under native bf16 (20x tuomaso's epoch), 12 in fp32 (30x)
    assert sota["epochs"] == (10 if cpu_has_native_bf16() else 12)
    for name in ("sota-cpu-oe", "sota-cpu-oe-photo"):  # measured at 12 epochs: kept there
        assert get_recipe(name, "cpu")["epochs"] == 12
    assert "cpu_bf16" not in get_recipe("sota", "cuda")


def test_the_fast_network_reads_only_the_middle_24_pixels():
    """tinynet-fast cuts MNIST's 2-pixel border: ink there changes nothing; inside it does."""
    model = create_model("tinynet-fast").eval()
    x = torch.rand(4, 1, 28, 28)
    border = x.clone()
    border[:, :, :2] = border[:, :, -2:] = 5.0
    border[:, :, :, :2] = border[:, :, :, -2:] = 5.0
    inside = x.clone()
    inside[:, :, 2, 2] = 5.0
    with torch.no_grad():
        assert torch.equal(model(x), model(border))
        assert not torch.allclose(model(x), model(inside))
    with pytest.raises(ValueError, match="crop"):
        create_model("tinynet", crop=3)
    with pytest.raises(ValueError, match="k1"):
        create_model("tinynet", k1=4)


def test_the_fast_network_strides_its_first_conv_instead_of_pooling():
    model = create_model("tinynet-fast")
    first = model.net[0]
    assert first.stride == (2, 2) and not isinstance(model.net[1], torch.nn.MaxPool2d)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # k1=6 with stride 2 sees the 6x6 window of a 5x5 conv and a 2x2 pool, same output size
    wide = create_model("tinynet", crop=2, stride1=2, k1=6)
    assert wide(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_an_epoch_share_outside_0_to_1_is_refused():
    with pytest.raises(MnistlabError, match="epoch_share"):
        build_config("tinynet", epoch_share=1.5)
    assert build_config("tinynet", epoch_share=0.5).epoch_share == 0.5
