"""The public Python API, used as a notebook user would."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import mnistlab
from mnistlab.errors import MnistlabError
from mnistlab.models.tutorial import TUTORIAL_KEYS


def test_public_names():
    for name in ("MNIST", "create_model", "evaluate", "fit", "load", "load_mnist", "list_models"):
        assert name in mnistlab.__all__ and callable(getattr(mnistlab, name)), name
        assert getattr(mnistlab, name).__doc__, f"{name} has no docstring"


def test_load_mnist_tensors_and_numpy(real_data_dir):
    images, labels = mnistlab.load_mnist("test", root=real_data_dir)
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    x, y = mnistlab.load_mnist("train+val", root=real_data_dir, numpy=True)
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    with pytest.raises(MnistlabError, match="unknown split 'training'"):
        mnistlab.load_mnist("training", root=real_data_dir)


def test_mnist_dataset_works_with_a_dataloader(real_data_dir):
    data = mnistlab.MNIST(real_data_dir, split="val")
    assert len(data) == 5000
    x, y = next(iter(DataLoader(data, batch_size=32)))
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1 and y.dtype == torch.int64
    raw = mnistlab.MNIST(real_data_dir, split="val", transform=lambda p: p, target_transform=str)
    image, label = raw[0]
    assert image.dtype == torch.uint8 and image.shape == (1, 28, 28) and isinstance(label, str)
    assert torch.equal(image.float() / 255, data[0][0])


class TwoLayer(nn.Module):  # not registered anywhere
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


@pytest.mark.slow
def test_fit_trains_a_plain_module_and_evaluate_agrees(real_data_dir):
    result = mnistlab.fit(
        TwoLayer(), epochs=1, lr=3e-3, data_dir=real_data_dir, progress=False, threads=1
    )
    assert result.test_acc > 0.9 and result.val_acc > 0.9
    assert result.history[0]["val_loss"] > 0 and len(result.steps) == 55  # 550 steps, every 10th
    report = mnistlab.evaluate(result.model, data_dir=real_data_dir)
    assert report.accuracy == result.test_acc and report.n == 10000


def test_fit_rejects_a_misspelt_option_by_name():
    with pytest.raises(MnistlabError, match="'label_smothing'; did you mean 'label_smoothing'"):
        mnistlab.fit("lenet5", epochs=1, label_smothing=0.1)
    with pytest.raises(MnistlabError, match="recipe 'fast' trains tinynet"):
        mnistlab.fit("lenet5", recipe="fast")
    with pytest.raises(MnistlabError, match="register"):
        mnistlab.fit(TwoLayer(), out="somewhere")


class TutorialLeNet5(nn.Module):
    """The tutorial's class, attribute for attribute."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, stride=1, padding=2)
        self.act1 = nn.Tanh()
        self.pool1 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, stride=1, padding=0)
        self.act2 = nn.Tanh()
        self.pool2 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(16, 120, kernel_size=5, stride=1, padding=0)
        self.act3 = nn.Tanh()
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear(1 * 1 * 120, 84)
        self.act4 = nn.Tanh()
        self.fc2 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.act3(self.conv3(x))
        return self.fc2(self.act4(self.fc1(self.flat(x))))


def test_a_tutorial_state_dict_loads_and_computes_the_same():
    torch.manual_seed(0)
    theirs = TutorialLeNet5().eval()
    ours, normalization = mnistlab.from_tutorial_state_dict(theirs.state_dict())
    assert normalization == "tutorial" and type(ours).__name__ == "LeNet5"
    x = torch.rand(8, 1, 28, 28)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    mlp = {"layer1.weight": torch.zeros(784, 784), "layer1.bias": torch.zeros(784),
           "layer2.weight": torch.zeros(10, 784), "layer2.bias": torch.zeros(10)}  # fmt: skip
    assert mnistlab.from_tutorial_state_dict(mlp)[1] == "unit"
    with pytest.raises(MnistlabError, match="not a tutorial state_dict"):
        mnistlab.from_tutorial_state_dict({"net.0.weight": torch.zeros(1)})
    assert set(TUTORIAL_KEYS) == {"mlp", "cnn", "lenet5"}


@pytest.mark.slow
def test_print_config_round_trips_into_the_same_run(tmp_path, real_data_dir):
    from mnistlab.cli import main

    printed = tmp_path / "cfg.json"
    flags = ["--model", "mlp", "--epochs", "1", "--lr", "0.02", "--seed", "3"]
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["train", *flags, "--print-config"]) == 0
    printed.write_text(buffer.getvalue())
    common = ["--threads", "1", "--quiet", "--device", "cpu", "--data-dir", str(real_data_dir)]
    assert main(["train", "--config", str(printed), "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["train", *flags, "--out", str(tmp_path / "b"), *common]) == 0
    a, b = (json.loads((tmp_path / d / "model.json").read_text()) for d in "ab")
    assert a["train"] == b["train"] == json.loads(printed.read_text())
    assert a["test_acc"] == b["test_acc"]
    # a run's own model.json works as a config too
    assert main(["train", "--config", str(tmp_path / "a" / "model.json"), "--print-config"]) == 0


@pytest.mark.slow
def test_csv_and_tensorboard_loggers_write_the_run(tmp_path, real_data_dir):
    from mnistlab.cli import main

    out = tmp_path / "run"
    args = ["train", "--model", "mlp", "--epochs", "2", "--logger", "csv", "--logger",
            "tensorboard", "--threads", "1", "--quiet", "--data-dir", str(real_data_dir),
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    with (out / "epochs.csv").open() as handle:
        epochs = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in epochs] == [1, 2] and float(epochs[1]["val_acc"]) > 0.85
    with (out / "steps.csv").open() as handle:
        steps = list(csv.DictReader(handle))
    assert len(steps) == 2 * 55 and int(steps[-1]["step"]) == 541 + 550
    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [int(r["step"]) for r in steps]
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 1000
