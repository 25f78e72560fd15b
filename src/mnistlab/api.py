"""The public Python API: what `from mnistlab import ...` gives a notebook user.

import mnistlab
model = mnistlab.create_model("lenet5", pretrained=True)    # an nn.Module, eval mode
predictor = mnistlab.load("sota-cpu")                       # or a run folder
predictor.predict_image("digit.png").digit
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from mnistlab.data.torch_dataset import MNIST, load_mnist
from mnistlab.evaluate import EvalReport
from mnistlab.inference.predictor import Predictor
from mnistlab.models import create_model as _create_family
from mnistlab.models.tutorial import from_tutorial_state_dict
from mnistlab.runs import load_model
from mnistlab.runs.pretrained import list_pretrained, pretrained_for_family


def create_model(name: str, pretrained: bool = False, **options) -> nn.Module:
    """A model by family name (`list_models()`), or with `pretrained=True` a shipped model by its
    name (`list_pretrained()`) or family, with its weights, in eval mode.

    >>> create_model("lenet5")                    # untrained LeNet5
    >>> create_model("sota-cpu", pretrained=True) # the shipped sota-cpu convnet, trained
    """
    if not pretrained:
        return _create_family(name, **options)
    if options:
        raise TypeError(
            f"pretrained models come with their own options; remove {', '.join(options)}"
        )
    model, _ = load_model(pretrained_for_family(name))
    return model


def load(model: str | Path | None = None) -> Predictor:
    """A Predictor for a run or ensemble folder or a shipped name (None: the best shipped).

    >>> load("lenet5").predict_image("seven.png").digit
    7
    """
    return Predictor.from_path(model)


def read(image, model: str | Path | Predictor | None = None, reject: bool = True):
    """The number written on one line of `image` (a path, bytes, a binary file, a PIL image, a
    2-D array of grayscale levels, 0..255, floats 0..1 or 16-bit, or an (H, W, 3) colour one),
    as `mnistlab read` reads it: a Reading with .number (the best reading, signs included),
    .sure, .marked (each doubtful digit as "?"), .reason, .digits and .to_dict() (the JSON of
    `mnistlab read --json`). `model`: a shipped name, a run folder or a Predictor (load() once
    to read many images); `reject=False` gives every digit its best guess (--no-reject).
    Raises ImageError for what is not an image and NoDigitError where there is no ink.

    >>> reading = mnistlab.read("meter.jpg")
    >>> reading.number, reading.sure, reading.marked
    ('4801', True, '4801')
    """
    from mnistlab.inference.inputs import as_picture
    from mnistlab.inference.reading import read_number

    predictor = model if isinstance(model, Predictor) else Predictor.from_path(model)
    return read_number(predictor.with_rejection(reject), as_picture(image))


def fit(model, **kwargs):
    """Train a registered model by name, or any nn.Module; see mnistlab.train.fit.fit.

    >>> result = mnistlab.fit("lenet5", epochs=3, lr=2e-3)
    >>> result.test_acc, result.history[-1]["val_acc"]
    """
    from mnistlab.train.fit import fit as train_fit

    return train_fit(model, **kwargs)


def finetune(model: str | Path, images: str | Path, out: str | Path, **options):
    """A personal model: `model` adapted to the labelled digits in `images`
    (DIR/<label>/<name>.png), written to `out`; see mnistlab.train.personal.finetune. `options`
    are FinetuneConfig's (steps, lr, held_out, seed, calibration, ...), data_dir, and
    progress (default True: the steps as a bar in a terminal or notebook) and callbacks.

    >>> result = mnistlab.finetune("sota-cpu", "my-digits", "runs/me")
    >>> result.adapted.held_out_after, result.meta.test_acc
    >>> result.adapted.style.describe()  # the person's lean and proportions, as measured
    """
    from mnistlab.train.personal_run import finetune as personal

    data_dir = options.pop("data_dir", None)
    progress = options.pop("progress", True)
    callbacks = options.pop("callbacks", None)
    return personal(
        model, images, out, options, data_dir=data_dir, callbacks=callbacks, progress=progress
    )


def configure_for_training(device: str = "cpu") -> None:
    """Process-wide settings the CLI uses for speed (glibc keeps freed memory on the CPU; cuDNN
    autotuning and TF32 on CUDA). `fit` never changes them itself; call this once first for
    the CLI's speed (a LeNet5 step on 2 CPU cores: ~25% faster)."""
    from mnistlab.system import configure_for_training as configure

    configure(device)


def list_recipes() -> dict[str, str]:
    """Named training recipes and what each is for (`fit(..., recipe=NAME)`)."""
    from mnistlab.train.recipes import list_recipes as recipes

    return recipes()


def evaluate(
    model: str | Path | nn.Module,
    split: str = "test",
    *,
    normalization: str | None = None,
    device: str = "auto",
    data_dir: str | Path | None = None,
    tta: bool = False,
) -> EvalReport:
    """The report `mnistlab eval` prints (accuracy, per-class precision/recall/F1, confusion
    matrix) for a run folder, a pretrained name or a plain nn.Module.

    >>> mnistlab.evaluate("lenet5").accuracy
    0.9882
    """
    from mnistlab.data.datasets import get_dataset
    from mnistlab.data.torch_dataset import load_split
    from mnistlab.evaluate import predictions, report
    from mnistlab.system import resolve_device

    dataset = "mnist"
    if isinstance(model, nn.Module):
        norm = normalization or "mnist"
    else:
        model, meta = load_model(model)
        norm = normalization or meta.normalization
        dataset = meta.dataset
    dev = resolve_device(device)
    data = load_split(split, dataset=dataset, root=data_dir)
    predicted, _ = predictions(model.to(dev).eval(), data, norm, dev, tta=tta)
    return report(predicted, data.labels, list(get_dataset(dataset).classes))


__all__ = [
    "MNIST",
    "configure_for_training",
    "create_model",
    "evaluate",
    "finetune",
    "fit",
    "from_tutorial_state_dict",
    "list_pretrained",
    "list_recipes",
    "load",
    "load_mnist",
]
