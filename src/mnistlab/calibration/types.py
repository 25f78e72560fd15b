"""model.json's `calibration` as typed records: the temperature, the "not sure" rules
(`Calibration`), the feature rule (`FeatureRule`), the digit detector's rule (`DetectorRule`)
and the rule for whole numbers read from an image (`ReadingRule`). Their one home: runs.meta
(model.json) and inference read them from here, and fitting (mnistlab.train.calibrate,
.calibrate_reading) makes them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mnistlab.errors import CheckpointError


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
    weights would need another threshold, so a mismatch is an error, not a silent change.

    `confidence_weight` w weighs the model's own confidence in: the score compared is the
    detector's plus w times the log-odds of the model's calibrated top probability
    (rule.detector_evidence), so a digit the detector finds odd but the model reads with
    certainty is kept, while a shape both find doubtful is refused. 0 (every rule fitted before
    it existed): the detector alone."""

    threshold: float
    sha256: str
    fitted_on: str = ""
    confidence_weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "model.json") -> DetectorRule:
        _check_rule(data, "detector", DETECTOR_CHECKS, ("threshold", "sha256"), where)
        if not data.get("confidence_weight", 0.0) >= 0:
            raise CheckpointError(f"{where}: calibration.detector.confidence_weight must be >= 0")
        return cls(**data)


DETECTOR_CHECKS: dict[str, type | tuple[type, ...]] = {
    "threshold": (int, float),
    "sha256": str,
    "fitted_on": str,
    "confidence_weight": (int, float),
}


@dataclass(frozen=True)
class ReadingRule:
    """calibration.reading: when a whole number read from an image (inference.reading) is
    "sure". Each digit brings evidence: the log of its calibrated probability, of the one-digit
    network's probability that its part is exactly one digit, of the digit detector's
    probability that it is a digit at all, and of the probability of the cuts and joins that
    made it, among the reader's other choices; and -1 for a part cut out of touching ink
    (inference.whole). The string's confidence is
    sigmoid(bias + sum over digits of weights . evidence) (a logistic fit of "the whole string
    is right" on validation numbers of the `fit_kinds`), and the string is "sure" when it is at
    least `threshold`. `held_out`: number kinds the fit never saw, where the rule was judged.
    Unknown keys are refused, as in the other rules."""

    weights: list[float]  # per evidence: [digit, one digit, detector, segmentation, cut out]
    bias: float
    threshold: float  # calibrated probability that the string is right
    fit_kinds: list[str] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)
    fitted_on: str = ""
    # of the digit detector whose scores were weighed: another detector needs another fit
    detector_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "model.json") -> ReadingRule:
        _check_rule(data, "reading", READING_CHECKS, ("weights", "bias", "threshold"), where)
        weights = data["weights"]
        # a rule of another length (fitted by an older mnistlab, which weighed fewer kinds of
        # evidence) still loads, so that the model still predicts digits and can be calibrated
        # again; reading a number with it is refused (inference.reading.reading_rule)
        if not weights or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights
        ):
            raise CheckpointError(f"{where}: calibration.reading.weights must be numbers")
        if not 0.0 < data["threshold"] < 1.0:
            raise CheckpointError(f"{where}: calibration.reading.threshold must be in (0, 1)")
        return cls(**data)


EVIDENCE = 6  # digit, one digit, detector, segmentation (log-probabilities), cut out and
# unlike its neighbours (-1 or 0 each): the per-digit evidence a ReadingRule weighs
READING_CHECKS: dict[str, type | tuple[type, ...]] = {
    "weights": list,
    "bias": (int, float),
    "threshold": (int, float),
    "fit_kinds": list,
    "held_out": list,
    "fitted_on": str,
    "detector_sha256": str,
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
    # None: a read number is sure when each of its digits is; else the string must be too
    reading: ReadingRule | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        extra = data.pop("extra")
        for name in ("features", "detector", "reading"):
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
        if values.get("reading") is not None:
            values["reading"] = ReadingRule.from_dict(values["reading"], where)
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra)


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
    "reading": dict,
}
