"""The training loop: data on the device, one optimizer step per batch, metrics per epoch.

The loop is quiet; progress reaches the caller through a `Callbacks` object.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.data.loader import DeviceLoader
from mnistlab.data.splits import Split
from mnistlab.errors import CheckpointError, MnistlabError
from mnistlab.evaluate import EVAL_BATCH, correct_and_loss
from mnistlab.models import create_model
from mnistlab.system import cpu_has_native_bf16
from mnistlab.train.config import TrainConfig
from mnistlab.train.distributed import SINGLE, DistContext, sum_over_ranks
from mnistlab.train.ema import BN_REFRESH_IMAGES, WeightEMA, refresh_batchnorm
from mnistlab.train.graph import GraphedSteps
from mnistlab.train.optim import build_optimizer, build_scheduler
from mnistlab.train.outliers import Exposure, OutlierBatches, make_outliers, make_photo_digits

LOG_EVERY = 10  # steps between the rows of a run's steps.jsonl
# objective(forward, x, y, label_smoothing) -> the batch's loss: what a step minimises when
# not cross-entropy (train_epochs' `objective`)
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]


class Callbacks:
    """Hooks the loop calls; override what you need."""

    def on_step(self, epoch: int, step: int, steps: int, loss: torch.Tensor | None = None) -> None:
        """After each step; `loss` is the step's loss on the device (reading it waits for the
        device, so read it rarely: a progress bar's refresh, not every step)."""

    def on_epoch_end(self, metrics: dict[str, Any], state: TrainState) -> None: ...


class CallbackList(Callbacks):
    """Several callbacks called in order: `fit(callbacks=[a, b])` needs no chaining."""

    def __init__(self, callbacks: Callbacks | Sequence[Callbacks] | None):
        if callbacks is None:
            callbacks = []
        elif not isinstance(callbacks, Sequence):
            callbacks = [callbacks]
        self.callbacks = list(callbacks)

    def on_step(self, epoch: int, step: int, steps: int, loss: torch.Tensor | None = None) -> None:
        for callback in self.callbacks:
            callback.on_step(epoch, step, steps, loss)

    def on_epoch_end(self, metrics: dict[str, Any], state: TrainState) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(metrics, state)


@dataclass
class TrainState:
    """Everything that changes while training, and all that a resume needs."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    ema: WeightEMA | None = None
    epoch: int = 0  # epochs completed
    train_seconds: float = 0.0
    metrics: list[dict[str, Any]] = field(default_factory=list)  # one row per epoch
    steps: list[dict[str, Any]] = field(default_factory=list)  # a row every LOG_EVERY steps

    @property
    def eval_model(self) -> nn.Module:
        """The weights to evaluate and save: the EMA when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def resume_dict(self) -> dict[str, Any]:
        state = {
            "epoch": self.epoch,
            "train_seconds": self.train_seconds,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "metrics": self.metrics,
            "steps": self.steps,
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        if self.ema is not None:
            state["ema"] = {
                k: v.detach().cpu() if isinstance(v, torch.Tensor) else v
                for k, v in self.ema.state_dict().items()
            }
        return state

    def load_resume_dict(self, state: dict[str, Any], epochs: int | None = None) -> None:
        """Restore from resume.pt; a damaged but loadable one is a CheckpointError."""
        try:
            self._load_resume_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise CheckpointError(
                f"resume.pt: damaged resume state ({type(exc).__name__}: {first}); start a new run"
            ) from None
        if not 0 <= self.epoch <= (epochs if epochs is not None else self.epoch):
            raise CheckpointError(
                f"resume.pt: {self.epoch} epochs completed does not fit a run of {epochs}; "
                "the file is damaged; start a new run"
            )

    def _load_resume_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.epoch = int(state["epoch"])
        self.train_seconds = float(state["train_seconds"])
        self.metrics = list(state["metrics"])
        self.steps = list(state.get("steps", []))  # absent in folders from before steps.jsonl


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def build_state(
    cfg: TrainConfig,
    device: torch.device,
    steps_per_epoch: int,
    model: nn.Module | None = None,
    make_ema: Callable[[nn.Module, float], WeightEMA] = WeightEMA,
) -> TrainState:
    """Fresh training state; `model` (any nn.Module) replaces the registered cfg.model, and
    `make_ema(model, decay)` builds the weight average when the config keeps one."""
    torch.manual_seed(cfg.seed)
    if model is None:
        model = create_model(cfg.model, **cfg.model_config)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg, model.parameters(), device)
    scheduler = build_scheduler(cfg, optimizer, steps_per_epoch)
    ema = None
    if cfg.ema_decay:
        ema = make_ema(model, cfg.ema_decay)
    return TrainState(model, optimizer, scheduler, ema)


def check_device_options(cfg: TrainConfig, device: torch.device, ctx: DistContext) -> None:
    """Fail before any work when the config asks for what this device cannot do."""
    if cfg.cpu_bf16 and device.type == "cpu" and not cpu_has_native_bf16():
        raise MnistlabError(
            "--cpu-bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), where it would be "
            "slower than fp32; leave out --cpu-bf16"
        )
    if cfg.cuda_graph and (device.type != "cuda" or ctx.active):
        where = f"{device.type}{' under torchrun' if ctx.active else ''}"
        raise MnistlabError(
            f"--cuda-graph needs a single CUDA device, and this run is on {where}; "
            "leave out --cuda-graph"
        )


def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.cpu_bf16 and device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if cfg.amp and device.type == "cuda":
        # No cast cache: a CUDA graph must not keep casts made outside it, and each weight is
        # cast once per step anyway.
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def train_step(
    cfg: TrainConfig,
    device: torch.device,
    state: TrainState,
    forward: nn.Module,
    loader: DeviceLoader,
    index: torch.Tensor,
    average: Callable[[nn.Module], None] | None,
    outliers: Exposure | None = None,
    objective: BatchLoss | None = None,
) -> torch.Tensor:
    """One optimizer step on the batch at `index`; `average` updates the EMA; `outliers` adds
    a batch of non-digits and the outlier-exposure term (and photographed digits, when it
    has them); `objective` replaces cross-entropy. Returns the loss as a device tensor
    (reading it would stall the device once per step)."""
    x, y = loader.batch(index)
    with _autocast(cfg, device):
        if objective is not None:
            loss = objective(forward, x, y, cfg.label_smoothing)
        elif outliers is None:
            loss = F.cross_entropy(forward(x), y, label_smoothing=cfg.label_smoothing)
        else:
            loss = outliers.loss(forward, x, y, cfg.label_smoothing, cfg.outlier_exposure)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    if average is not None:
        average(state.model)
    return loss.detach()


def build_train_loader(
    cfg: TrainConfig, split: Split, device: torch.device, rank: int = 0, world_size: int = 1
) -> DeviceLoader:
    """The shuffled, augmented batches of a training run, on the device."""
    return DeviceLoader(
        split,
        cfg.batch_size,
        device=device,
        shuffle=True,
        seed=cfg.seed,
        normalization=cfg.normalization,
        channels_last=cfg.channels_last,
        rank=rank,
        world_size=world_size,
        transform=_augmenter(cfg, device),
        epoch_share=cfg.epoch_share,
    )


def step_runner(
    cfg: TrainConfig,
    device: torch.device,
    state: TrainState,
    forward: nn.Module,
    loader: DeviceLoader,
    outliers: Exposure | None = None,
    objective: BatchLoss | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """What the loop calls with each batch's index: an eager step, or GraphedSteps."""
    step = partial(train_step, cfg, device, state, forward, loader, objective=objective)
    if cfg.cuda_graph:  # the config keeps outlier exposure out of this
        return GraphedSteps(step, state.optimizer, state.ema, loader.batch_size, device)
    average = state.ema.update_parameters if state.ema is not None else None
    return lambda index: step(index, average, outliers)


def build_outlier_batches(
    cfg: TrainConfig, splits: dict[str, Split], device: torch.device, outliers: torch.Tensor | None
) -> Exposure | None:
    """The outlier batches (and photographed digits) of a run with outlier exposure; None
    without it."""
    if not cfg.outlier_exposure:
        return None
    if outliers is None:
        outliers = make_outliers(cfg, splits["train"])
    options = cfg.outlier_config
    batches = partial(
        OutlierBatches,
        device=device,
        normalization=cfg.normalization,
        channels_last=cfg.channels_last,
        transform=_augmenter(cfg, device),
    )
    photo_split = make_photo_digits(cfg, splits["train"])
    photos = None
    if photo_split is not None:
        # orders of their own, not the digits' nor each other's
        photos = batches(
            photo_split, int(options.photo_share * cfg.batch_size), seed=cfg.seed + 104_729
        )
    return Exposure(
        batches(outliers, options.batch_size, seed=cfg.seed + 7919),
        photos,
        options.digit_batchnorm,
        options.refresh_with_photos,
    )


def train_epochs(
    cfg: TrainConfig,
    splits: dict[str, Split],
    device: torch.device,
    callbacks: Callbacks | Sequence[Callbacks] | None = None,
    resume: dict[str, Any] | None = None,
    ctx: DistContext = SINGLE,
    model: nn.Module | None = None,
    make_ema: Callable[[nn.Module, float], WeightEMA] = WeightEMA,
    outliers: torch.Tensor | None = None,
    objective: BatchLoss | None = None,
) -> TrainState:
    """Train `cfg.epochs` epochs (from a resume state if given) and return the final state.

    `model` trains a given nn.Module instead of building cfg.model from the registry;
    `make_ema` replaces the weight average (a benchmark compares another one); `outliers`
    ((N, 28, 28) uint8) replaces the outlier set that `cfg.outlier_exposure` > 0 makes from
    the train split (mnistlab.synth.outliers); `objective` replaces the cross-entropy of each
    batch (a personal fine-tune distils its replayed digits: mnistlab.train.personal).
    Under torchrun (`ctx.active`) every rank takes its shard of each global batch, gradients
    are averaged by DistributedDataParallel, and validation counts are summed over the ranks.
    """
    callbacks = CallbackList(callbacks)
    check_device_options(cfg, device, ctx)
    if objective is not None and (cfg.outlier_exposure or cfg.cuda_graph):
        raise MnistlabError(
            "an objective of its own cannot be combined with outlier exposure or CUDA graphs"
        )
    rank, world_size = ctx.rank, ctx.world_size
    train_loader = build_train_loader(cfg, splits["train"], device, rank, world_size)
    val_loader = DeviceLoader(
        splits["val"],
        EVAL_BATCH,
        device=device,
        normalization=cfg.normalization,
        channels_last=cfg.channels_last,
        rank=rank,
        world_size=world_size,
    )
    state = build_state(cfg, device, len(train_loader), model, make_ema)
    if resume is not None:
        state.load_resume_dict(resume, cfg.epochs)
    forward = state.model
    if ctx.active:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        forward = DistributedDataParallel(state.model, device_ids=ids, process_group=ctx.group)
    if cfg.compile:
        forward = torch.compile(forward)
    outlier_batches = build_outlier_batches(cfg, splits, device, outliers)
    run_step = step_runner(cfg, device, state, forward, train_loader, outlier_batches, objective)

    for epoch in range(state.epoch, cfg.epochs):
        train_loader.set_epoch(epoch)
        if outlier_batches is not None:
            outlier_batches.set_epoch(epoch)
        synchronize(device)
        start = time.perf_counter()
        state.model.train()
        loss_sum = torch.zeros((), device=device)
        steps = len(train_loader)
        logged: list[tuple[int, torch.Tensor, float]] = []  # read once, at the epoch's end
        for step, index in enumerate(train_loader.batch_indices()):
            loss = run_step(index)
            loss_sum += loss
            if step % LOG_EVERY == 0:
                logged.append((step, loss, state.optimizer.param_groups[0]["lr"]))
            state.scheduler.step()
            callbacks.on_step(epoch, step, steps, loss)
        if state.ema is not None and epoch == cfg.epochs - 1:
            refresh_batchnorm(state.ema, bn_loader(outlier_batches, train_loader))
        val_acc = val_loss = None
        if len(splits["val"]):
            sums = sum_over_ranks(ctx, correct_and_loss(state.eval_model, val_loader))
            correct, total, loss_total = sums.tolist()
            val_acc, val_loss = correct / total, loss_total / total
        train_loss = float(sum_over_ranks(ctx, loss_sum)) / (steps * world_size)
        state.steps += step_rows(epoch, steps, logged)
        synchronize(device)
        seconds = time.perf_counter() - start
        state.epoch = epoch + 1
        state.train_seconds += seconds
        metrics = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_acc": val_acc,
            "val_loss": val_loss,
            "seconds": seconds,
            "lr": state.optimizer.param_groups[0]["lr"],
        }
        if device.type == "cpu":  # the governor may change it (mnistlab.threads)
            metrics["threads"] = torch.get_num_threads()
        state.metrics.append(metrics)
        callbacks.on_epoch_end(metrics, state)
    return state


def bn_loader(exposure: Exposure | None, train_loader: DeviceLoader) -> DeviceLoader:
    """The images the EMA's BatchNorm statistics are recomputed on (see Exposure)."""
    if exposure is None:
        return train_loader
    return exposure.refresh_loader(train_loader, BN_REFRESH_IMAGES)


def step_rows(epoch: int, steps: int, logged: list) -> list[dict[str, Any]]:
    """steps.jsonl rows: global step (1-based), loss and learning rate of every LOG_EVERY-th
    step, with one device read for the whole epoch."""
    if not logged:
        return []
    losses = torch.stack([loss.float() for _, loss, _ in logged]).tolist()
    return [
        {"epoch": epoch + 1, "step": epoch * steps + step + 1, "loss": value, "lr": lr}
        for (step, _, lr), value in zip(logged, losses, strict=True)
    ]


def _augmenter(cfg: TrainConfig, device: torch.device):
    if not cfg.augment:
        return None
    from mnistlab.data.augment import build_augment

    return build_augment(cfg.augment, device)
