"""Outlier exposure: the config checks it, and a short real training with it makes the model
less sure of non-digits it never saw than the same training without it."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from mnistlab.data.normalize import normalize
from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.synth import outliers as synth_outliers
from mnistlab.synth.outliers import OUTLIER_KINDS, outlier_set, photo_digit_set, photograph
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
        ({"outliers": {"photo_digit": 100}}, "did you mean 'photo_digits'"),
        ({"outliers": {"path": "jpeg"}}, "unknown path"),
        # photographed digits beside outliers that only saw field_from_ink: a path as a cue
        ({"outliers": {"photo_digits": 100}}, 'needs path "photo"'),
        ({"outliers": {"path": "photo", "photo_digits": 100, "photo_share": 0}}, "photo_share"),
        ({"outliers": {"path": "photo", "photo_digits": 9, "photo_share": 0.001}}, "no digit"),
        ({"outliers": {"kinds": ["letters"]}}, "unknown kinds"),
    ],
)
def test_config_rejects_bad_outlier_options(options, match):
    with pytest.raises(MnistlabError, match=match):
        TrainConfig.from_dict({"model": "lenet5", **options})


def test_off_by_default_and_in_no_recipe_but_its_own():
    from mnistlab.train.recipes import RECIPES, get_recipe

    assert TrainConfig().outlier_exposure == 0.0
    on = [name for name in RECIPES if get_recipe(name).get("outlier_exposure")]
    assert on == ["sota-cpu-oe", "sota-cpu-oe-photo"]
    assert TrainConfig().outlier_config.photo_digits == 0
    honest = TrainConfig.from_dict({"model": "lenet5", **get_recipe("sota-cpu-oe-photo")})
    assert honest.outlier_config.path == "photo" and honest.outlier_config.photo_digits > 0


def test_kinds_from_json_are_a_tuple_of_known_kinds():
    cfg = TrainConfig.from_dict({"model": "lenet5", "outliers": {"kinds": ["strokes", "noise"]}})
    assert cfg.outlier_config.kinds == ("strokes", "noise")


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


def test_photo_outliers_and_photo_digits_take_the_same_path(mnist_splits, monkeypatch):
    """Every photographed digit and every "photo" outlier goes through the one function,
    and it runs the whole preprocess: so "was preprocessed" cannot tell them apart."""
    digits = mnist_splits["train"].images[:200].numpy()
    labels = mnist_splits["train"].labels[:200].numpy()
    calls = []
    real = synth_outliers.photograph
    monkeypatch.setattr(
        synth_outliers, "photograph", lambda ink, rng: calls.append(1) or real(ink, rng)
    )
    monkeypatch.setitem(synth_outliers.STEPS, "photo", synth_outliers.photograph)
    pixels, kept = photo_digit_set(digits, labels, 20, seed=0)
    assert len(calls) == 20 and pixels.shape == (20, 28, 28) and len(kept) == 20
    outlier_set(digits, 14, seed=0, path="photo")
    assert len(calls) >= 20 + 14  # a redraw after NoDigitError calls it again
    # the labels are those of the digits drawn, and the pixels are not MNIST's own
    index = np.random.default_rng([0, 0xD1]).permutation(len(digits))[:20]
    assert np.array_equal(kept, labels[index])
    assert not any(np.array_equal(p, digits[i]) for p, i in zip(pixels, index, strict=True))


def test_photograph_is_the_real_preprocessing(mnist_splits, monkeypatch):
    import mnistlab.synth.outliers as module

    seen = []
    real = module.preprocess
    monkeypatch.setattr(module, "preprocess", lambda image: seen.append(image.size) or real(image))
    out = photograph(mnist_splits["train"].images[0].numpy() / 255.0, np.random.default_rng(0))
    assert out.shape == (28, 28) and out.dtype == np.uint8 and len(seen) == 1
    assert min(seen[0]) > 56  # drawn large on paper, not handed over as a 28x28 field


class _Recorder(torch.nn.Module):
    """A tiny model that keeps the inputs of its forward passes."""

    def __init__(self):
        super().__init__()
        self.inputs: list[torch.Tensor] = []
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.net(x)


def test_the_digit_batch_holds_photographed_digits_and_outliers_ride_along(mnist_splits):
    """With photo_digits, the last photo_share of each batch of digits are photographed
    training digits (with their labels) and the outliers follow them in the same pass, with
    and without digit_batchnorm."""
    train = Split(mnist_splits["train"].images[:64], mnist_splits["train"].labels[:64])
    splits = {"train": train, "val": Split(train.images[:0], train.labels[:0])}
    photo_pixels, _ = photo_digit_set(train.images.numpy(), train.labels.numpy(), 16, seed=0)
    photo_inputs = normalize(torch.from_numpy(photo_pixels).unsqueeze(1))
    outliers = torch.from_numpy(outlier_set(train.images.numpy(), 8, seed=0, path="photo"))
    outlier_inputs = normalize(outliers.unsqueeze(1))
    for digit_batchnorm in (False, True):
        cfg = TrainConfig.from_dict(
            {
                "model": "MLP",
                "epochs": 1,
                "batch_size": 16,
                "channels_last": False,
                "outlier_exposure": 0.5,
                "outliers": {
                    "count": 8,
                    "batch_size": 4,
                    "path": "photo",
                    "photo_digits": 16,
                    "photo_share": 0.25,
                    "digit_batchnorm": digit_batchnorm,
                },
            }
        )
        model = _Recorder()
        train_epochs(cfg, splits, torch.device("cpu"), model=model, outliers=outliers)
        first = list(model.inputs[0].split([16, 4]))
        digits, extra = first
        assert digits.shape[0] == 16 and extra.shape[0] == 4
        raw = normalize(train.images.unsqueeze(1))
        # 12 MNIST digits as they are, then 4 of the photographed set
        assert all((raw == row).all((1, 2, 3)).any() for row in digits[:12])
        assert all((photo_inputs == row).all((1, 2, 3)).any() for row in digits[12:])
        assert all((outlier_inputs == row).all((1, 2, 3)).any() for row in extra)
        assert len(model.inputs) == 4  # 4 steps of 16, one pass each


def test_refresh_with_photos_mixes_photographed_digits_in_their_share():
    from mnistlab.data.loader import DeviceLoader
    from mnistlab.train.outliers import Exposure, OutlierBatches

    raw = Split(torch.zeros(100, 28, 28, dtype=torch.uint8), torch.zeros(100, dtype=torch.int64))
    photos = Split(
        torch.full((40, 28, 28), 255, dtype=torch.uint8), torch.ones(40, dtype=torch.int64)
    )
    train = DeviceLoader(raw, 20, shuffle=True)
    batches = OutlierBatches(
        photos,
        5,
        device=torch.device("cpu"),
        seed=0,
        normalization="mnist",
        channels_last=False,
        transform=None,
    )
    outliers = OutlierBatches(
        torch.zeros(10, 28, 28, dtype=torch.uint8),
        5,
        device=torch.device("cpu"),
        seed=0,
        normalization="mnist",
        channels_last=False,
        transform=None,
    )
    assert Exposure(outliers, batches).refresh_loader(train, 80) is train  # off by default
    mixed = Exposure(outliers, batches, refresh_with_photos=True).refresh_loader(train, 80)
    assert len(mixed.labels) == 80 and int(mixed.labels.sum()) == 20  # a quarter, as 5 of 20
    assert 0 < int(mixed.labels[:40].sum()) < 20  # shuffled: not all at the end


def test_digit_batchnorm_normalises_everything_with_the_digits_statistics():
    """The digit rows come out as a plain BatchNorm gives them without the outliers, the
    outliers get the same normalisation, and only the digits move the running statistics."""
    from mnistlab.train.outliers import digit_statistics

    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4)).train()
    patched = copy.deepcopy(plain)
    digits, outliers = torch.randn(6, 1, 8, 8), 5 + 3 * torch.randn(3, 1, 8, 8)
    expected = plain(digits)
    with digit_statistics(patched, 6):
        both = patched(torch.cat([digits, outliers]))
    torch.testing.assert_close(both[:6], expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(patched[1].running_mean, plain[1].running_mean)
    torch.testing.assert_close(patched[1].running_var, plain[1].running_var)
    assert int(patched[1].num_batches_tracked) == 1
    conv = patched[0](outliers)
    mean = plain[0](digits).mean((0, 2, 3), keepdim=True)
    var = plain[0](digits).var((0, 2, 3), unbiased=False, keepdim=True)
    norm = patched[1]
    by_hand = (conv - mean) / torch.sqrt(var + norm.eps) * norm.weight.view(1, -1, 1, 1)
    torch.testing.assert_close(
        both[6:], by_hand + norm.bias.view(1, -1, 1, 1), rtol=1e-4, atol=1e-4
    )
    assert "forward" not in vars(patched[1])  # the layer is itself again afterwards


def test_an_objective_of_its_own_is_refused_beside_outlier_exposure():
    cfg = TrainConfig.from_dict({"model": "lenet5", "outlier_exposure": 0.5})
    digits = Split(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(MnistlabError, match="objective of its own"):
        train_epochs(
            cfg, {"train": digits, "val": digits}, torch.device("cpu"),
            objective=lambda forward, x, y, smoothing: forward(x).sum(),
        )  # fmt: skip
