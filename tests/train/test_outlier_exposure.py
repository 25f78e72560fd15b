"""Outlier exposure: the config checks it, and a short real training with it makes the model
less sure of non-digits it never saw than the same training without it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mnistlab.data.normalize import normalize
from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.synth.outliers import OUTLIER_KINDS, outlier_set
from mnistlab.train.config import TrainConfig
from mnistlab.train.engine import train_epochs
from mnistlab.train.outliers import uniform_cross_entropy


@pytest.mark.parametrize(
    "options, match",
    [
        ({"outlier_exposure": -0.5}, "outlier exposure"),
        ({"outlier_exposure": math.nan}, "outlier exposure"),
        ({"outlier_exposure": math.inf}, "outlier exposure"),
        ({"outliers": {"cuont": 10}}, "did you mean 'count'"),
        ({"outliers": {"count": 10, "batch_size": 64}}, "count >= batch_size"),
        ({"outlier_exposure": 0.5, "cuda_graph": True, "optimizer": "sgd"}, "cuda-graph"),
    ],
)
def test_config_rejects_bad_outlier_options(options, match):
    with pytest.raises(MnistlabError, match=match):
        TrainConfig.from_dict({"model": "lenet5", **options})


def test_off_by_default_and_in_no_recipe_but_its_own():
    from mnistlab.train.recipes import RECIPES, get_recipe

    assert TrainConfig().outlier_exposure == 0.0
    on = [name for name in RECIPES if get_recipe(name).get("outlier_exposure")]
    assert on == ["sota-cpu-oe"]


def test_uniform_cross_entropy_is_log_classes_at_uniform_and_grows_with_confidence():
    assert uniform_cross_entropy(torch.zeros(3, 10)).item() == pytest.approx(math.log(10))
    sure = torch.tensor([[10.0] + [0.0] * 9])
    assert uniform_cross_entropy(sure).item() > math.log(10) + 3


def test_outlier_set_is_seeded_and_uses_every_kind(mnist_splits):
    digits = mnist_splits["train"].images[:500].numpy()
    first = outlier_set(digits, 2 * len(OUTLIER_KINDS), seed=3)
    assert first.shape == (2 * len(OUTLIER_KINDS), 28, 28) and first.dtype == np.uint8
    assert (first.reshape(len(first), -1).max(1) > 200).all()  # every one has ink
    assert np.array_equal(first, outlier_set(digits, 2 * len(OUTLIER_KINDS), seed=3))
    assert not np.array_equal(first, outlier_set(digits, 2 * len(OUTLIER_KINDS), seed=4))


@torch.inference_mode()
def _mean_max_prob(model: torch.nn.Module, pixels: np.ndarray) -> float:
    x = normalize(torch.from_numpy(pixels).unsqueeze(1))
    return float(model.eval()(x).softmax(1).amax(1).mean())


@pytest.fixture
def one_thread():
    """Tiny steps: two threads only wait on each other, and far worse on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_outlier_exposure_lowers_confidence_on_held_out_outliers(mnist_splits, one_thread):
    """240 steps of a small MLP on 4,000 digits, with and without the term (same seed, same
    batches of digits): outliers from another seed get a far lower mean max probability, and
    the digits are learnt about as well."""
    train = Split(mnist_splits["train"].images[:4000], mnist_splits["train"].labels[:4000])
    val = Split(mnist_splits["val"].images[:1000], mnist_splits["val"].labels[:1000])
    splits = {"train": train, "val": val}
    digits = train.images.numpy()
    outliers = torch.from_numpy(outlier_set(digits, 1400, seed=0))
    held_out = outlier_set(digits, 350, seed=1)
    results = {}
    for weight in (0.0, 0.5):
        cfg = TrainConfig.from_dict(
            {
                "model": "MLP",
                "epochs": 3,
                "batch_size": 50,
                "lr": 3e-3,
                "channels_last": False,
                "outlier_exposure": weight,
                "outliers": {"count": 1400, "batch_size": 25},
            }
        )
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
        )
        state = train_epochs(cfg, splits, torch.device("cpu"), model=model, outliers=outliers)
        results[weight] = (_mean_max_prob(state.eval_model, held_out), state.metrics[-1])
    (plain, plain_metrics), (exposed, exposed_metrics) = results[0.0], results[0.5]
    assert exposed < plain - 0.2, (plain, exposed)
    assert exposed_metrics["val_acc"] >= plain_metrics["val_acc"] - 0.02 >= 0.88
