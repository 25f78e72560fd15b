"""A training run on disk: load the data, train, checkpoint every epoch, test once at the end."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mnistlab.calibration.types import Calibration
from mnistlab.data.datasets import get_dataset
from mnistlab.data.download import ensure_files
from mnistlab.data.splits import Split, load_splits
from mnistlab.errors import MnistlabError, TrainingInterrupted
from mnistlab.evaluate import accuracy
from mnistlab.runs import folder as checkpoint
from mnistlab.runs.meta import RunMeta
from mnistlab.system import hardware, resolve_device
from mnistlab.train.config import TrainConfig
from mnistlab.train.distributed import (
    SINGLE,
    DistContext,
    broadcast,
    first_per_node,
    gather,
    main_first,
    weights_digest,
)
from mnistlab.train.engine import (
    CallbackList,
    Callbacks,
    TrainState,
    check_device_options,
    train_epochs,
)


def new_run_dir(base: str | Path = "runs", name: str = "run") -> Path:
    """A fresh folder runs/<name>-<date>-<n> that does not exist yet."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(base)
    for n in range(1000):
        candidate = base / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
        if not candidate.exists():
            return candidate
    raise MnistlabError(f"{base}: cannot find a free run folder name")


def check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MnistlabError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise MnistlabError(
            f"--out {out}: folder is not empty; choose a new folder, or "
            f"continue that run with --resume {out}"
        )


def build_meta(
    cfg: TrainConfig,
    state: TrainState | None,
    device: torch.device,
    extra: dict[str, Any] | None = None,
) -> RunMeta:
    """model.json's record; `state` None: a new run, before its first epoch."""
    epoch = state.epoch if state is not None else 0
    return RunMeta(
        kind="single",
        model=cfg.model,
        config=checkpoint_config(cfg),
        normalization=cfg.normalization,
        dataset=cfg.dataset,
        seed=cfg.seed,
        epochs=cfg.epochs,
        epochs_completed=epoch,
        complete=epoch >= cfg.epochs,
        val_acc=state.metrics[-1]["val_acc"] if state is not None and state.metrics else None,
        train_seconds=state.train_seconds if state is not None else 0.0,
        train=cfg.to_dict(),
        device=str(device),
        hardware=hardware(device),
        extra=dict(extra or {}),
    )


def checkpoint_config(cfg: TrainConfig) -> dict[str, Any]:
    from mnistlab.models import model_config_dict

    return model_config_dict(cfg.model, **cfg.model_config)


class RunWriter(Callbacks):
    """Writes the run folder after every epoch, so a killed run can resume."""

    def __init__(
        self,
        out: Path,
        cfg: TrainConfig,
        device: torch.device,
        inner: Callbacks | Sequence[Callbacks] | None = None,
        extra_meta: dict[str, Any] | None = None,
    ):
        self.out, self.cfg, self.device = out, cfg, device
        self.inner = CallbackList(inner)
        self.extra_meta = extra_meta or {}

        self.epochs_saved = 0

    def on_step(self, epoch: int, step: int, steps: int, loss=None) -> None:
        self.inner.on_step(epoch, step, steps, loss)

    def on_epoch_end(self, metrics: dict[str, Any], state: TrainState) -> None:
        # Weights first, then the resume state, then model.json: model.json's
        # epochs_completed never runs ahead of the files it describes.
        saves = (
            lambda: checkpoint.save_weights(self.out, state.eval_model),
            lambda: checkpoint.save_resume_state(self.out, state.resume_dict()),
            lambda: checkpoint.save_metrics(self.out, state.metrics),
            lambda: checkpoint.save_steps(self.out, state.steps),
            lambda: checkpoint.save_meta(
                self.out, build_meta(self.cfg, state, self.device, self.extra_meta)
            ),
        )
        # Ctrl-C during these few milliseconds waits for them: each file is written atomically,
        # so one cut short is simply written again, and the epoch is kept whole. (Otherwise an
        # interrupt between the files left half an epoch and the message "nothing was kept".)
        pending = None
        for save in saves:
            while True:
                try:
                    save()
                    break
                except KeyboardInterrupt as exc:
                    pending = exc
        self.epochs_saved = state.epoch
        if pending is not None:
            raise pending
        self.inner.on_epoch_end(metrics, state)


def remove_unstarted(folder: Path) -> None:
    """Remove a new run's folder that holds nothing but the model.json written at its start."""
    if folder.is_dir() and {p.name for p in folder.iterdir()} <= {checkpoint.META}:
        (folder / checkpoint.META).unlink(missing_ok=True)
        folder.rmdir()


def interrupted(folder: Path, done: int, epochs: int) -> TrainingInterrupted:
    if done == 0:
        return TrainingInterrupted("interrupted before the first epoch finished; nothing was kept")
    return TrainingInterrupted(
        f"interrupted after epoch {done}/{epochs}; continue with: mnistlab train --resume {folder}"
    )


def test_accuracy(folder: Path, split: Split, device: torch.device) -> float:
    """Test accuracy of the saved weights, computed exactly as `mnistlab eval` does."""
    model, meta = checkpoint.load_model(folder)
    return accuracy(model.to(device), split, meta.normalization, device)


def calibration_for(
    folder: Path, splits: dict[str, Split], device: torch.device
) -> Calibration | None:
    """The saved model's calibration, fitted on the validation split; None after --full-train,
    which leaves no unseen validation split (such a model stays uncalibrated: T = 1, no
    "not sure")."""
    from mnistlab.train.calibrate import calibrate_model

    if not len(splits.get("val", ())):
        return None
    model, meta = checkpoint.load_model(folder)
    return calibrate_model(model.to(device), meta, splits, device, bank_to=folder)


def run_training(
    cfg: TrainConfig,
    out: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    mirrors: list[str] | None = None,
    device: str | torch.device = "auto",
    callbacks: Callbacks | Sequence[Callbacks] | None = None,
    resume: bool = False,
    ctx: DistContext = SINGLE,
) -> RunMeta:
    """Train into a run folder (new, or `resume`d) and return its final model.json (`folder`:
    where it is).

    Under torchrun only rank 0 downloads, writes files and computes the test accuracy; the
    other ranks wait for it where it matters.
    """
    get_dataset(cfg.dataset)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    check_device_options(cfg, dev, ctx)

    def prepare_folder():  # rank 0 only
        folder = Path(out) if out is not None else new_run_dir(name=cfg.recipe or cfg.model)
        if resume:
            return str(folder), checkpoint.load_resume_state(folder)
        check_out_dir(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # the config is on disk before the first epoch ends, so a run killed at any point
        # after its first checkpoint can be resumed
        checkpoint.save_meta(folder, build_meta(cfg, None, dev))
        return str(folder), None

    # rank 0 reads the resume state and sends it: other machines need no copy of the folder
    folder_name, resume_state = main_first(ctx, prepare_folder)
    folder = Path(folder_name)
    writer = None
    try:
        first_per_node(
            ctx, lambda: ensure_files(get_dataset(cfg.dataset), data_dir, mirrors=mirrors)
        )
        load_start = time.perf_counter()
        splits = load_splits(cfg.dataset, data_dir, full_train=cfg.full_train, download=False)
        data_seconds = time.perf_counter() - load_start
        writer = RunWriter(folder, cfg, dev, callbacks, {"data_seconds": data_seconds})
        state = train_epochs(
            cfg, splits, dev, writer if ctx.is_main else None, resume=resume_state, ctx=ctx
        )
    except BaseException as exc:
        done = writer.epochs_saved if writer is not None else 0
        if resume_state is not None:
            done = max(done, int(resume_state["epoch"]))
        if ctx.is_main and not resume and done == 0:
            remove_unstarted(folder)  # nothing to resume: leave no dead-end folder behind
        if isinstance(exc, KeyboardInterrupt):
            raise interrupted(folder, done, cfg.epochs) from None
        raise
    extra: dict[str, Any] = {"data_seconds": data_seconds, "world_size": ctx.world_size}
    if ctx.active:  # DDP keeps replicas in step; record the proof
        extra["rank_weight_digests"] = gather(ctx, weights_digest(state.eval_model))
    meta = build_meta(cfg, state, dev, extra)
    if ctx.is_main:
        meta = dataclasses.replace(
            meta,
            test_acc=test_accuracy(folder, splits["test"], dev),
            calibration=calibration_for(folder, splits, dev),
        )
        checkpoint.save_meta(folder, meta)
    return dataclasses.replace(meta, test_acc=broadcast(ctx, meta.test_acc), folder=folder)


def resume_config(out: str | Path, epochs: int | None = None) -> tuple[TrainConfig, bool]:
    """(the training config recorded in a run folder, to continue it to `epochs` in all;
    whether there is nothing to do: the run is complete and no new `epochs` was given).

    Extending a run keeps the steps already taken and gives the rest of the schedule its new
    length: constant and per-epoch step schedules then match a fresh run of `epochs` exactly;
    onecycle and cosine continue from the current step on the longer curve (the learning rate
    jumps up to it), as their curves depend on the total length.
    """
    meta = checkpoint.read_meta(out)
    if meta.train is None:
        raise MnistlabError(f"{out}: model.json has no training config; cannot resume")
    try:
        cfg = TrainConfig.from_dict(meta.train)
    except (TypeError, ValueError) as exc:
        raise MnistlabError(f"{out}/model.json: damaged training config ({exc})") from None
    if epochs is None:
        return cfg, meta.complete
    done = meta.epochs_completed
    if epochs <= done:
        raise MnistlabError(
            f"--epochs {epochs}: {out} has already completed {done} epochs; give more"
        )
    return dataclasses.replace(cfg, epochs=epochs), False
