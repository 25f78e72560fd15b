"""model.json as a typed record: one builder for single models and ensembles, one reader.

Keys a record does not know are kept (`extra`) and written back, so a folder made by a newer
version loses nothing when an older one rewrites it; a known key of the wrong type is a
CheckpointError naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mnistlab.errors import CheckpointError
from mnistlab.system import now_iso, versions

FORMAT = "mnistlab-model/1"


@dataclass(frozen=True)
class FeatureRule:
    """calibration.features: "not sure" from the model's own features, not only its logits.

    The input of the model's last linear layer is compared with a bank of training digits'
    (`file` in the model folder, safetensors, L2-normalised rows); an input whose cosine
    similarity to its nearest bank row is below `threshold` is refused (k-NN distance, Sun et al.
    2022). Unknown keys are rejected, not kept: a rule half understood would refuse the wrong
    inputs. A folder whose bank file is missing falls back to the logits rule."""

    threshold: float
    file: str = "features.safetensors"
    sha256: str = ""  # of `file`: a bank that does not match is a damaged folder
    rows: int = 0
    dim: int = 0
    fitted_on: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "model.json") -> FeatureRule:
        _check_rule(data, "features", FEATURE_CHECKS, ("threshold",), where)
        name = data.get("file", "features.safetensors")
        if name in ("", ".", "..") or any(c in name for c in "/\\"):  # stays in its folder
            raise CheckpointError(f"{where}: calibration.features.file must be a plain file name")
        return cls(**data)


FEATURE_CHECKS: dict[str, type | tuple[type, ...]] = {
    "threshold": (int, float),
    "file": str,
    "sha256": str,
    "rows": int,
    "dim": int,
    "fitted_on": str,
}


@dataclass(frozen=True)
class DetectorRule:
    """calibration.detector: "not sure" when the digit detector (mnistlab.calibration.detector,
    one network shipped with mnistlab, separate from every classifier) scores an input below
    `threshold`. `sha256` names the detector weights the threshold was fitted for: other
    weights would need another threshold, so a mismatch is an error, not a silent change."""

    threshold: float
    sha256: str
    fitted_on: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "model.json") -> DetectorRule:
        _check_rule(data, "detector", DETECTOR_CHECKS, ("threshold", "sha256"), where)
        return cls(**data)


DETECTOR_CHECKS: dict[str, type | tuple[type, ...]] = {
    "threshold": (int, float),
    "sha256": str,
    "fitted_on": str,
}


def _check_rule(
    data: Any, name: str, checks: dict[str, Any], required: tuple[str, ...], where: str
) -> None:
    """calibration.<name> must be an object of known keys (`checks`: key -> type), the
    `required` ones present: unknown keys are refused, not kept, since a rule half understood
    would refuse the wrong inputs."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: calibration.{name} is not an object")
    unknown = sorted(set(data) - set(checks))
    if unknown:
        raise CheckpointError(
            f"{where}: calibration.{name} has unknown keys {', '.join(unknown)} "
            "(made by a newer mnistlab?)"
        )
    for key in required:
        if data.get(key) is None:
            raise CheckpointError(f"{where}: calibration.{name} has no {key}")
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, checks[key]):
            raise CheckpointError(f"{where}: calibration.{name}.{key} is damaged ({value!r})")


@dataclass(frozen=True)
class Calibration:
    """model.json's `calibration`: the temperature fitted on the validation split, and when an
    input counts as "not sure" (a digit score below `threshold`, or a shape no digit has).
    A folder without it is uncalibrated: T = 1 and nothing rejected."""

    temperature: float = 1.0
    score: str = "max_prob"  # "max_prob" or "energy" (mnistlab.calibration.core.digit_score)
    threshold: float | None = None  # None: no rejection
    false_reject: float = 0.01  # the share of validation digits the rules were set to reject
    cues: bool = False  # also reject too many separate marks or closed loops
    max_marks: int = 2
    max_loops: int = 2
    fitted_on: str = ""
    val_false_reject: float | None = None  # measured, all rules together
    val_ece: list[float] | None = None  # [before, after] scaling
    test_ece: list[float] | None = None  # [before, after] scaling
    tuning: dict[str, Any] = field(default_factory=dict)  # how the score was picked
    # None: the logits rule above decides; else it is only the fallback for a missing bank
    features: FeatureRule | None = None
    # None: no detector; else it refuses too, beside whichever rule above decides
    detector: DetectorRule | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        extra = data.pop("extra")
        for name in ("features", "detector"):
            rule = data.pop(name)
            if rule is not None:  # absent, not null: older readers see the keys they know
                data[name] = rule.to_dict()
        return {**data, **extra}

    @classmethod
    def from_dict(cls, data: Any, where: str = "model.json") -> Calibration:
        if not isinstance(data, dict):
            raise CheckpointError(f"{where}: calibration is not an object; the file is damaged")
        known = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        values = {k: v for k, v in data.items() if k in known}
        for key, expected in CALIBRATION_CHECKS.items():
            value = values.get(key)
            bad = isinstance(value, bool) and expected is not bool
            if value is not None and (bad or not isinstance(value, expected)):
                raise CheckpointError(f"{where}: calibration.{key} is damaged ({value!r})")
        if not values.get("temperature", 1.0) > 0:
            raise CheckpointError(f"{where}: calibration.temperature must be positive")
        if values.get("score", "max_prob") not in ("max_prob", "energy"):
            raise CheckpointError(f"{where}: calibration.score {values['score']!r} is unknown")
        if values.get("features") is not None:
            values["features"] = FeatureRule.from_dict(values["features"], where)
        if values.get("detector") is not None:
            values["detector"] = DetectorRule.from_dict(values["detector"], where)
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra)


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
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

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
        """Trained on all 60,000 training images (so the validation split was seen)."""
        return bool((self.train or {}).get("full_train"))

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        extra = data.pop("extra")
        fmt = data.pop("format")
        if not self.is_ensemble:
            data.pop("members")
        calibration = data.pop("calibration")
        if calibration is not None:  # absent, not null: older readers see the file they know
            data["calibration"] = calibration.to_dict()
        return {"format": fmt, **data, **extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model.json") -> RunMeta:
        known = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
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

CALIBRATION_CHECKS: dict[str, type | tuple[type, ...]] = {
    "temperature": (int, float),
    "score": str,
    "threshold": (int, float),
    "false_reject": (int, float),
    "cues": bool,
    "max_marks": int,
    "max_loops": int,
    "fitted_on": str,
    "val_false_reject": (int, float),
    "val_ece": list,
    "test_ece": list,
    "tuning": dict,
    "features": dict,
    "detector": dict,
}
