"""The public Python API, used as a notebook user would."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn
from torch.utils.data import DataLoader

import mnistlab
from mnistlab.errors import MnistlabError
from mnistlab.inference import ImageError, NoDigitError, Prediction
from mnistlab.inference.inputs import is_many
from mnistlab.models.tutorial import TUTORIAL_KEYS


def test_public_names():
    for name in (
        "MNIST",
        "create_model",
        "evaluate",
        "fit",
        "load",
        "load_mnist",
        "list_models",
        "read",
    ):
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


def test_the_package_face_is_lazy_and_complete():
    # `import mnistlab` imports no torch (tests/test_startup.py); every public name still comes
    code = (
        "import mnistlab, mnistlab.evaluate; names = {}; exec('from mnistlab import *', names); "
        "assert callable(mnistlab.evaluate) and callable(names['evaluate']); "
        "public = set(mnistlab.__all__); "
        "assert public <= set(names) and public <= set(dir(mnistlab)); "
        "assert mnistlab.runs.read_card('lenet5')['test_acc'] > 0.98; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
    with pytest.raises(AttributeError, match="no attribute 'predictor_of'"):
        mnistlab.predictor_of  # noqa: B018


# -- Predictor.predict: every form gives what the specific form gives on the same image ----------


@pytest.fixture(scope="module")
def predictor():
    return mnistlab.load("lenet5")


@pytest.fixture(scope="module")
def drawn_seven(tmp_path_factory):
    """A 7 in black ink on white paper (as the notebook draws it), and its PNG file."""
    image = Image.new("L", (200, 260), 255)
    ImageDraw.Draw(image).line([(60, 40), (150, 40), (90, 220)], fill=0, width=18)
    path = tmp_path_factory.mktemp("drawn") / "seven.png"
    image.save(path)
    return image, path


@pytest.fixture(scope="module")
def test_digits(real_data_dir):
    images, labels = mnistlab.load_mnist("test", root=real_data_dir)
    return images[:6], labels[:6]


def _same(a, b):
    assert a.digit == b.digit and a.guess == b.guess
    assert np.array_equal(a.pixels, b.pixels)
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5, atol=1e-7)


def test_predict_takes_one_image_in_every_form(predictor, drawn_seven):
    image, path = drawn_seven
    reference = predictor.predict_image(str(path))
    assert reference.digit == 7
    gray = np.asarray(image)
    with path.open("rb") as handle:
        from_file = predictor.predict(handle)
    for answer in (
        predictor.predict(str(path)),
        predictor.predict(path),
        predictor.predict(path.read_bytes()),
        from_file,
        predictor.predict(image),
        predictor.predict(gray),  # uint8, not 28x28: an image to preprocess
        predictor.predict(gray.astype(np.float64)),  # levels 0..255 as floats
        predictor.predict(torch.from_numpy(gray.astype(np.int64))),
    ):
        assert isinstance(answer, Prediction)
        _same(answer, reference)


def test_predict_takes_mnist_digits_as_they_are(predictor, test_digits):
    images, labels = test_digits
    batch = images.numpy()
    reference = predictor.predict_pixels(batch)
    assert [p.digit for p in reference] == labels.tolist()
    one = predictor.predict(batch[0])  # 28x28 uint8: MNIST's form, not preprocessed again
    _same(one, reference[0])
    assert np.array_equal(one.pixels, batch[0])
    for many in (
        predictor.predict(batch),
        predictor.predict(images),
        predictor.predict(list(batch)),
    ):
        assert isinstance(many, list) and len(many) == len(batch)
        for answer, expected in zip(many, reference, strict=True):
            _same(answer, expected)
    assert predictor.predict([]) == []


def test_a_28x28_array_that_is_not_uint8_is_an_image_to_preprocess(predictor, test_digits):
    digit = test_digits[0][0].numpy()
    answer = predictor.predict(digit.astype(np.int64))
    _same(answer, predictor.predict_image(Image.fromarray(digit)))
    assert not np.array_equal(answer.pixels, digit)  # re-centred and re-boxed by preprocessing


def test_predict_takes_a_colour_array_as_the_photo_it_is(predictor, drawn_seven):
    image, path = drawn_seven
    colour = np.asarray(Image.open(path).convert("RGB"))  # (H, W, 3): one picture, not 3 digits
    assert not is_many(colour)
    _same(predictor.predict(colour), predictor.predict_image(path))
    with_alpha = np.asarray(Image.open(path).convert("RGBA"))
    _same(predictor.predict(with_alpha), predictor.predict_image(path))


def test_predict_takes_a_mixed_list(predictor, drawn_seven, test_digits):
    image, path = drawn_seven
    digit = test_digits[0][0].numpy()
    answers = predictor.predict((path, digit, image))
    assert [a.digit for a in answers] == [7, int(test_digits[1][0]), 7]
    _same(answers[0], predictor.predict_image(path))
    _same(answers[1], predictor.predict_pixels(digit[None])[0])


def test_predict_takes_floats_in_0_1_as_torchvision_gives_them(predictor, test_digits):
    """`images / 255` or a ToTensor batch: the same answers as the uint8 digits (the web API
    takes pixels 0..1 alike); a single 2-D array of floats 0..1 is no blank image."""
    digits = test_digits[0][:4].numpy()
    as_uint8 = predictor.predict(digits)
    as_floats = predictor.predict(torch.from_numpy(digits).float() / 255.0)
    assert [a.probabilities for a in as_floats] == [a.probabilities for a in as_uint8]
    one = np.pad(digits[0], 6).astype(np.float64) / 255.0  # a picture, not MNIST's form
    assert predictor.predict(one).digit == predictor.predict(np.pad(digits[0], 6)).digit
    batch = torch.from_numpy(digits)[:, None].float() / 255.0  # a DataLoader's (N, 1, 28, 28)
    assert [a.probabilities for a in predictor.predict(batch)] == [
        a.probabilities for a in as_uint8
    ]


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (np.zeros((2, 3, 28, 28), np.uint8), "got a 4-D array"),
        (np.zeros(784, np.uint8), "got a 1-D array"),
        (np.full((40, 40), 300.0), "outside 0..255"),
        (np.full((40, 40), -1.0), "outside 0..255"),
        (np.full((40, 40), np.nan), "non-finite"),
        (np.zeros((40, 40), bool), "got a bool array"),
        (np.full((3, 28, 28), 256.0, np.float32), "outside 0..255"),
        (np.zeros((3, 28, 27), np.uint8), "must be (N, 28, 28) digits"),
        (np.zeros((40, 40, 5), np.uint8), "must be (N, 28, 28) digits or an (H, W, 3) colour"),
        ("no/such/digit.png", "no/such/digit.png: no such file"),
        (".", ".: is a folder"),
        (b"this is not an image", "not a readable image"),
        (io.BytesIO(b"GIF89a broken"), "not a readable image"),
        (7, "got type int"),
        ([np.zeros((2, 28, 28), np.uint8)], "item 0: a list holds single images"),
    ],
)
def test_predict_rejects_what_is_not_an_image_in_one_line(predictor, bad, says):
    with pytest.raises(ImageError) as info:
        predictor.predict(bad)
    message = str(info.value)
    assert says in message and "predict takes an image" in message and "\n" not in message


def test_predict_says_which_item_of_a_list_is_bad(predictor, drawn_seven):
    with pytest.raises(ImageError, match=r"^item 1: image: not a readable image"):
        predictor.predict([drawn_seven[1], b"junk"])
    with pytest.raises(NoDigitError, match="^item 0: no digit found"):
        predictor.predict([np.full((40, 40), 255, np.uint8)])


def test_read_a_number_in_python_as_the_cli_does(predictor, test_digits, tmp_path):
    """mnistlab.read: the whole-number reader, in Python (a Predictor passed in is used)."""
    images, labels = test_digits
    strip = np.concatenate([np.pad(images[i].numpy(), 6) for i in range(4)], axis=1)
    path = tmp_path / "number.png"
    Image.fromarray(255 - strip).resize((strip.shape[1] * 4, strip.shape[0] * 4)).save(path)
    reading = mnistlab.read(path, model=predictor)
    assert reading.number == "".join(str(int(label)) for label in labels[:4])
    from mnistlab.inference.reading import read_number

    assert reading.to_dict() == read_number(predictor, path).to_dict()
    guessed = mnistlab.read(path, model=predictor, reject=False)
    assert guessed.number == reading.number and guessed.sure
    as_array = mnistlab.read(np.asarray(Image.open(path)) / 255.0, model=predictor)
    assert as_array.to_dict() == reading.to_dict()  # a 2-D array as predict takes it
    # numpy.asarray of a photo is (H, W, 3); of a 16-bit scan, uint16
    colour = np.asarray(Image.open(path).convert("RGB"))
    assert mnistlab.read(colour, model=predictor).to_dict() == reading.to_dict()
    deep = np.asarray(Image.open(path)).astype(np.uint16) * 257
    assert mnistlab.read(deep, model=predictor).to_dict() == reading.to_dict()
    with pytest.raises(ImageError, match=r"^got a list; a number is read from one image"):
        mnistlab.read([path, path], model=predictor)
    with pytest.raises(ImageError, match="no such file"):
        mnistlab.read(tmp_path / "missing.png", model=predictor)
