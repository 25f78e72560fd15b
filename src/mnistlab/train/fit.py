"""`fit`: train a registered model by name, or any plain nn.Module, from Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistlab.data.splits import load_splits
from mnistlab.errors import MnistlabError
from mnistlab.evaluate import accuracy
from mnistlab.system import resolve_device
from mnistlab.threads import parse_threads, thread_setting
from mnistlab.train.config import TrainConfig, build_config
from mnistlab.train.engine import CallbackList, Callbacks, train_epochs
from mnistlab.train.progress import ProgressBar
from mnistlab.train.recipes import get_recipe


@dataclass
class FitResult:
    """What `fit` returns: the trained model and how it got there."""

    model: nn.Module  # the weights to use (the EMA's when the recipe keeps one), eval mode
    config: TrainConfig
    history: list[dict[str, Any]]  # one row per epoch: losses, val_acc, seconds, lr
    steps: list[dict[str, Any]] = field(repr=False)  # loss and lr every few steps
    val_acc: float | None
    test_acc: float  # the test set, read once, at the end
    run_dir: Path | None  # the run folder, when `out` was given

    @property
    def train_seconds(self) -> float:
        return sum(row["seconds"] for row in self.history)


def fit(
    model: str | nn.Module,
    *,
    recipe: str | None = None,
    epochs: int | None = None,
    device: str | torch.device = "auto",
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    callbacks: Callbacks | Sequence[Callbacks] | None = None,
    progress: bool = True,
    threads: int | str | None = None,
    **options: Any,
) -> FitResult:
    """Train `model` on MNIST with the fast device-resident loader and return a FitResult.

    `model` is a registered name ("lenet5", `list_models()`) or any nn.Module taking
    (B, 1, 28, 28) and returning (B, 10) logits (no registration needed). `recipe` names a
    recipe ("fast", "sota-cpu"); `options` are training settings by their config names (lr,
    batch_size, label_smoothing, optimizer, seed, ...; an unknown one is an error that names
    it). `out` writes a run folder (registered models only). `threads`: None leaves torch's
    setting alone, an int fixes it, "auto" adapts it to a shared machine (mnistlab.threads).

    >>> result = fit("lenet5", epochs=1)
    >>> result.test_acc
    0.9748
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    module = model if isinstance(model, nn.Module) else None
    cfg = fit_config(model, recipe, dev.type, epochs=epochs, **options)
    if out is not None and module is not None:
        raise MnistlabError(
            "out= writes a run folder, which records a registered model by name; register "
            "the class (mnistlab.models.register_model) or train it without out="
        )
    every = CallbackList(callbacks).callbacks
    if progress:
        every.append(ProgressBar(cfg.epochs))
    with thread_setting(parse_threads(threads), dev.type) as governor:
        every = [*governor, *every]
        if out is not None:
            return _fit_into_folder(cfg, Path(out), data_dir, dev, every)
        splits = load_splits(cfg.dataset, data_dir, full_train=cfg.full_train)
        state = train_epochs(cfg, splits, dev, every, model=module)
        trained = state.eval_model.eval()
        test_acc = accuracy(trained, splits["test"], cfg.normalization, dev)
        return FitResult(
            trained, cfg, state.metrics, state.steps, state.metrics[-1]["val_acc"], test_acc, None
        )


def fit_config(
    model: str | nn.Module, recipe: str | None, device_type: str, **options: Any
) -> TrainConfig:
    """The TrainConfig `fit` trains with: the model's recipe <- `recipe` <- `options`."""
    values = get_recipe(recipe, device_type) if recipe else {}
    if isinstance(model, nn.Module):
        # the recipe's training settings apply; its network does not
        values.pop("model", None)
        values.pop("model_config", None)
        given = {k: v for k, v in options.items() if v is not None}
        return TrainConfig.from_dict(
            {**values, **({"recipe": recipe} if recipe else {}), **given}
            | {"model": type(model).__name__}
        )
    if values.get("model") and values["model"] != model:
        raise MnistlabError(f"recipe {recipe!r} trains {values['model']}, not {model!r}")
    return build_config(model, {**values, "recipe": recipe} if recipe else None, **options)


def _fit_into_folder(cfg, out: Path, data_dir, dev, callbacks) -> FitResult:
    from mnistlab.runs import load_folder, read_metrics
    from mnistlab.train.run import run_training

    meta = run_training(cfg, out, data_dir=data_dir, device=dev, callbacks=callbacks)
    model, _ = load_folder(out)
    history = read_metrics(out)
    return FitResult(model, cfg, history, [], meta.val_acc, meta.test_acc, out)
