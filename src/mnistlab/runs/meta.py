"""model.json as a typed record: one builder for single models and ensembles, one reader.

Keys a record does not know are kept (`extra`) and written back, so a folder made by a newer
version loses nothing when an older one rewrites it; a known key of the wrong type is a
CheckpointError naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistlab.calibration.types import Calibration, DetectorRule, FeatureRule  # noqa: F401
from mnistlab.errors import CheckpointError
from mnistlab.system import now_iso, versions

FORMAT = "mnistlab-model/1"


@dataclass(frozen=True)
class Adaptation:
    """model.json's `adapted`: a personal model's card (mnistlab.train.personal): the model it
    was adapted from and on how many of the person's digits, and how it did on the ones held
    out before training."""

    base: str  # the folder or shipped name it started from
    base_test_acc: float | None
    fit_digits: int
    held_out_digits: int
    held_out_acc_before: float | None
    held_out_acc_after: float | None
    source: str = ""  # the folder of the person's digits
    steps: int = 0
    replayed_mnist_digits: int = 0
    style: str = ""  # the person's hand as measured (train.style), where the fine-tune did

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "model.json") -> Adaptation:
        if not isinstance(data, dict):
            raise CheckpointError(f"{where}: adapted is not an object; the file is damaged")
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise CheckpointError(f"{where}: adapted: {exc}; the file is damaged") from None


@dataclass
class RunMeta(Mapping):
    """The record; attributes for code, and read-only mapping access (meta["test_acc"]) for
    code and tests written against the plain JSON."""

    model: str  # the family name ("lenet5"), or "ensemble"
    config: dict[str, Any]  # the model's full options (an ensemble: {"members": n})
    normalization: str
    kind: str = "single"  # or "ensemble"
    dataset: str = "mnist"
    seed: int | list | None = None  # an ensemble: its members' seeds
    epochs: int | None = None
    epochs_completed: int = 0
    complete: bool = False
    val_acc: float | None = None
    test_acc: float | None = None
    train_seconds: float = 0.0
    train: dict[str, Any] | None = None  # the TrainConfig, to resume or repeat the run
    members: list[dict[str, Any]] = field(default_factory=list)  # an ensemble's
    device: str = "cpu"
    hardware: str = ""
    versions: dict[str, str] = field(default_factory=versions)
    date: str = field(default_factory=now_iso)
    format: str = FORMAT
    calibration: Calibration | None = None  # None: uncalibrated (T = 1, no rejection)
    adapted: Adaptation | None = None  # a personal model's card; None: trained from scratch
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know
    # where the record lives (set by run_training); not a key of model.json
    folder: Path | None = field(default=None, compare=False, repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    @property
    def is_ensemble(self) -> bool:
        return self.kind == "ensemble"

    @property
    def full_train(self) -> bool:
        """Trained on all 60,000 training images (so the validation split was seen); for an
        ensemble, any of its members."""
        # ensembles saved before members recorded it: a member without a validation accuracy
        members = self.members or []
        return bool((self.train or {}).get("full_train")) or any(
            bool(m.get("full_train")) or ("val_acc" in m and m["val_acc"] is None) for m in members
        )

    @property
    def recipe(self) -> str | None:
        """The named recipe the model was trained with (None: options given one by one)."""
        return (self.train or {}).get("recipe") or None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        extra = data.pop("extra")
        data.pop("folder")
        fmt = data.pop("format")
        if not self.is_ensemble:
            data.pop("members")
        calibration = data.pop("calibration")
        if calibration is not None:  # absent, not null: older readers see the file they know
            data["calibration"] = calibration.to_dict()
        adapted = data.pop("adapted")
        if adapted is not None:
            data["adapted"] = adapted.to_dict()
        return {"format": fmt, **data, **extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model.json") -> RunMeta:
        known = {f.name for f in dataclasses.fields(cls) if f.name not in ("extra", "folder")}
        values = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        for key, expected in CHECKS.items():
            if key in values and values[key] is not None and not isinstance(values[key], expected):
                raise CheckpointError(
                    f"{where}: {key} is {type(values[key]).__name__}, expected "
                    f"{getattr(expected, '__name__', 'a number')}; the file is damaged"
                )
        if values.get("calibration") is not None:
            values["calibration"] = Calibration.from_dict(values["calibration"], where)
        if values.get("adapted") is not None:
            values["adapted"] = Adaptation.from_dict(values["adapted"], where)
        try:
            return cls(**values, extra=extra)
        except TypeError as exc:  # a required key missing
            raise CheckpointError(f"{where}: {exc}; the file is damaged") from None


CHECKS: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "config": dict,
    "normalization": str,
    "kind": str,
    "dataset": str,
    "epochs_completed": int,
    "complete": bool,
    "val_acc": (int, float),
    "test_acc": (int, float),
    "train_seconds": (int, float),
    "train": dict,
    "members": list,
}
