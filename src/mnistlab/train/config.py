"""The training configuration, and how it is assembled from defaults, recipes and flags."""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistlab.data.augment import AugmentConfig
from mnistlab.errors import MnistlabError
from mnistlab.models import get_entry, list_models
from mnistlab.models.registry import make_config, resolve_variant

OPTIMIZERS = ("sgd", "adam", "adamw", "adadelta")
GRAPH_OPTIMIZERS = ("sgd", "adam", "adamw")  # those with fused kernels
SCHEDULES = ("constant", "onecycle", "cosine", "step")


@dataclass(frozen=True)
class OutlierConfig:
    """The fixed set of training outliers (mnistlab.synth.outliers), made from the train split."""

    count: int = 24_000
    seed: int = 0
    batch_size: int = 64  # outliers per step, beside the config's batch of digits
    # "field": field_from_ink on the outliers only (the first attempt, which taught the
    # shortcut "preprocessed = no digit"); "photo": outliers and photo_digits drawn on paper
    # and run through the whole preprocess, by the same function (mnistlab.synth.outliers)
    path: str = "field"
    # training digits made into photos by that same path before training (train split only),
    # which replace photo_share of each batch of digits, labels kept; 0: none
    photo_digits: int = 0
    photo_share: float = 0.25
    # BatchNorm normalises the outliers and the digits of a step with the digits' statistics
    # alone, and only the digits update the running ones, as at inference; else the statistics
    # of the whole batch. Experimental: with sota-cpu's recipe it did not learn (training loss
    # stuck near 2.3, validation 9-11% after 2 epochs; docs/calibration.md). Outliers in a pass
    # of their own with BatchNorm on the running statistics was tried first and dropped:
    # "normalised by running statistics" became the cue, and at inference everything is
    # (training loss fell as usual, validation accuracy fell to 11% by epoch 4).
    digit_batchnorm: bool = False
    # the EMA's BatchNorm statistics, recomputed at the end, from raw and photographed digits
    # in photo_share (as the batches the model trained on), not from raw digits alone
    refresh_with_photos: bool = False
    kinds: tuple[str, ...] | None = None  # of mnistlab.synth.outliers.OUTLIER_KINDS; None: all

    def __post_init__(self) -> None:
        from mnistlab.synth.outliers import OUTLIER_KINDS, PATHS

        if self.count < 1 or self.batch_size < 1 or self.batch_size > self.count:
            raise MnistlabError(
                f"outliers: need count >= batch_size >= 1, got {self.count} and {self.batch_size}"
            )
        if self.path not in PATHS:
            raise MnistlabError(f"outliers: unknown path {self.path!r}; choose one of {PATHS}")
        if self.photo_digits < 0 or not 0 < self.photo_share < 1:
            raise MnistlabError(
                "outliers: need photo_digits >= 0 and 0 < photo_share < 1, got "
                f"{self.photo_digits} and {self.photo_share}"
            )
        if self.photo_digits and self.path != "photo":
            # photographed digits beside "field" outliers would bring back a path as a cue
            raise MnistlabError('outliers: photo_digits needs path "photo", the digits\' path')
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(self.kinds))  # JSON gives a list back
            unknown = [k for k in self.kinds if k not in OUTLIER_KINDS]
            if unknown or not self.kinds:
                raise MnistlabError(
                    f"outliers: unknown kinds {unknown}; choose from {', '.join(OUTLIER_KINDS)}"
                )


@dataclass
class TrainConfig:
    model: str = "lenet5"
    model_config: dict[str, Any] = field(default_factory=dict)
    dataset: str = "mnist"
    epochs: int = 10
    # each epoch trains on this share of the training images (a fresh random subset each
    # epoch): a budget of examples rather than whole epochs (benchmarks/fast_next.py tried
    # it for the fast recipe; no recipe uses it yet)
    epoch_share: float = 1.0
    batch_size: int = 100
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup: float = 0.0  # fraction of all steps spent warming up (onecycle, cosine)
    step_gamma: float = 0.7  # per-epoch decay for schedule "step"
    label_smoothing: float = 0.0
    normalization: str = "mnist"
    augment: dict[str, Any] | None = None  # see mnistlab.data.augment
    ema_decay: float | None = None  # evaluate an exponential moving average of the weights
    seed: int = 0
    full_train: bool = False  # train on all 60,000 (no validation split)
    channels_last: bool = True
    compile: bool = False
    cuda_graph: bool = False  # record the whole step once and replay it (train/graph.py)
    amp: bool = True  # bf16 autocast on CUDA; on the CPU only with cpu_bf16
    # bf16 autocast on CPUs with native bf16 (AVX512-BF16/AMX): a sota-cpu step 1.45x faster
    # on such a CPU (docs/speed-log.md); the fast and sota-cpu recipes turn it on there
    cpu_bf16: bool = False
    # outlier exposure (Hendrycks et al. 2019): this weight times the cross-entropy from the
    # uniform distribution on a batch of non-digits joins the loss; 0 leaves it out
    outlier_exposure: float = 0.0
    outliers: dict[str, Any] | None = None  # how they are made: see OutlierConfig
    recipe: str | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise MnistlabError(
                f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}"
            )
        if self.schedule not in SCHEDULES:
            raise MnistlabError(
                f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}"
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise MnistlabError("epochs and batch size must be at least 1")
        if not 0 < self.epoch_share <= 1:
            raise MnistlabError(f"epoch_share must be in (0, 1], got {self.epoch_share}")
        if not self.lr > 0:
            raise MnistlabError(f"learning rate must be positive, got {self.lr}")
        if self.weight_decay < 0 or self.momentum < 0:
            raise MnistlabError("weight decay and momentum cannot be negative")
        if not 0 <= self.label_smoothing < 1:
            raise MnistlabError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise MnistlabError(f"EMA decay must be in (0, 1), got {self.ema_decay}")
        if self.cuda_graph and self.optimizer not in GRAPH_OPTIMIZERS:
            raise MnistlabError(
                f"--cuda-graph works with the optimizers {', '.join(GRAPH_OPTIMIZERS)}, "
                f"not {self.optimizer!r}"
            )
        if self.cuda_graph and self.compile:
            raise MnistlabError("choose one of --cuda-graph and --compile")
        self.betas = tuple(self.betas)  # JSON gives a list back
        # the nested parts are checked now, by their own typed configs, so a misspelt key
        # fails before any work instead of when (or never) it is used
        if self.model in list_models():  # fit() may train a plain nn.Module by another name
            make_config(self.model, **(self.model_config or {}))
        if self.augment:
            check_fields(AugmentConfig, self.augment, "augment")
        if not (0 <= self.outlier_exposure < float("inf")):  # also rejects NaN
            raise MnistlabError(
                f"outlier exposure must be a finite weight >= 0, got {self.outlier_exposure}"
            )
        if self.outlier_exposure and self.cuda_graph:
            raise MnistlabError("outlier exposure does not run under --cuda-graph")
        if self.outliers is not None:
            check_fields(OutlierConfig, self.outliers, "outliers")
            options = OutlierConfig(**self.outliers)
            if options.photo_digits and int(options.photo_share * self.batch_size) < 1:
                raise MnistlabError(
                    f"outliers: photo_share {options.photo_share} of a batch of "
                    f"{self.batch_size} is no digit at all"
                )

    @property
    def outlier_config(self) -> OutlierConfig:
        return OutlierConfig(**(self.outliers or {}))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A config from its dict form; an unknown key is an error that names it."""
        check_fields(cls, data, "training config")
        return cls(**data)


def check_fields(config_cls: type, data: dict[str, Any], what: str) -> None:
    """Raise MnistlabError naming any key of `data` that `config_cls` has no field for."""
    if not isinstance(data, dict):
        raise MnistlabError(f"{what}: expected a mapping of options, got {type(data).__name__}")
    known = [f.name for f in dataclasses.fields(config_cls)]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
            raise MnistlabError(f"{what}: unknown option {key!r}{hint}")


def build_config(model: str, recipe: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """Defaults <- the model's own (tutorial) recipe <- a named recipe <- explicit flags."""
    values: dict[str, Any] = {"model": model}
    values.update(get_entry(model).recipe)
    values.update(recipe or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    # a named variant (e.g. "tinynet-fast") is recorded as its family and full options
    values["model"], values["model_config"] = resolve_variant(
        values["model"], values.get("model_config")
    )
    return TrainConfig.from_dict(values)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Training settings from a JSON or TOML file: what `train --print-config` prints, or a run's
    model.json (its "train" section). Keys are checked when the config is built."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MnistlabError(f"--config {path}: cannot read ({exc.strerror})") from None
    try:
        if path.suffix == ".toml":
            import tomllib  # Python 3.11+

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ModuleNotFoundError:
        raise MnistlabError(f"--config {path}: TOML needs Python 3.11 or newer; use JSON") from None
    except ValueError as exc:
        raise MnistlabError(
            f"--config {path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'} ({exc})"
        ) from None
    if isinstance(data, dict) and str(data.get("format", "")).startswith("mnistlab-model/"):
        data = data.get("train")
    if not isinstance(data, dict):
        raise MnistlabError(f"--config {path}: expected a table of training settings")
    return data
