"""Predictor: a trained model plus its normalisation, answering for preprocessed digits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from typing_extensions import NotRequired, TypedDict  # pydantic needs these on Python < 3.12

from mnistlab.calibration.core import logits_and_similarity, not_sure_reasons
from mnistlab.calibration.detector import check_detector, detector_scores, shipped_detector
from mnistlab.data.normalize import check_normalization, normalize
from mnistlab.inference.images import DEFAULT_MAX_PIXELS, ImageSource
from mnistlab.inference.preprocess import Preprocessed, preprocess
from mnistlab.runs.meta import RunMeta

DEFAULT_TOP_K = 3

# (N, 28, 28) uint8 -> ((N, classes) logits, (N,) similarity to the feature bank or None)
Forward = Callable[[np.ndarray], "tuple[torch.Tensor, torch.Tensor | None]"]


class TopK(TypedDict):
    digit: int
    """the class (the digit itself for MNIST)"""
    probability: float
    """its calibrated probability"""


class PredictionDict(TypedDict):
    """One digit's answer as JSON: the one definition of its fields. Prediction.to_dict makes
    it (without the two server fields); the server's answers are it, and its OpenAPI schema is
    generated from it (serve/schemas.py)."""

    digit: int | None
    """the most probable digit; null: no digit found, or not sure it is one (see `reason`)"""
    label: str | None
    """the class name (the digit for MNIST); null with `digit`"""
    confidence: float | None
    """calibrated probability of the best guess (of `digit` when there is one); null: no digit"""
    probabilities: list[float] | None
    """all calibrated probabilities, one per class; null when no digit is found"""
    top_k: list[TopK]
    """most probable first; empty when no digit is found"""
    guess: int | None
    """the most probable class, also when not sure; null when no digit is found"""
    reason: str | None
    """why there is no `digit`, if there is none"""
    preview_png_base64: NotRequired[str | None]
    """(server) the 28x28 image the model saw, PNG; null when no digit is found"""
    message: NotRequired[str | None]
    """(server) why no digit was found, if so"""


# pydantic (the server's schema) reads each field's description from the string under it
PredictionDict.__pydantic_config__ = TopK.__pydantic_config__ = {  # type: ignore[attr-defined]
    "use_attribute_docstrings": True
}


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one 28x28 digit: a digit, or None with the reason it is not sure.

    Probabilities are calibrated (temperature-scaled) when the model's folder is."""

    digit: int | None  # the most probable class (the digit itself); None: not sure
    label: str | None  # its name in the class list ("7", "Sneaker"); None when not sure
    confidence: float  # the probability of `guess`
    probabilities: list[float]  # all classes, summing to 1
    top_k: list[tuple[int, float]]  # (class, probability), most probable first
    pixels: np.ndarray = field(repr=False)  # (28, 28) uint8: what the model saw
    guess: int = -1  # the most probable class, also when not sure
    reason: str | None = None  # why `digit` is None

    def to_dict(self) -> PredictionDict:
        """The answer as JSON-ready values (PredictionDict, less the server's two fields)."""
        return {
            "digit": self.digit,
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
            "top_k": [{"digit": d, "probability": p} for d, p in self.top_k],
            "guess": self.guess,
            "reason": self.reason,
        }


class Predictor:
    """Wraps a model and its model.json; thread-safe for concurrent predictions."""

    def __init__(
        self,
        model: nn.Module,
        meta: RunMeta | dict[str, Any] | None = None,
        forward: Forward | None = None,
        detector: Callable[[np.ndarray], torch.Tensor] | None = None,
    ):
        """`meta`: the model's RunMeta, or for a bare model a dict with at least its
        "normalization" (default "mnist") and optionally "dataset". `forward`: what computes
        (logits, similarity) for a uint8 batch in predict_pixels, e.g. an
        inference.onnx_runtime.OnnxForward; default PyTorch. `detector`: what computes the
        digit detector's scores for a uint8 batch when the calibration has a detector rule,
        e.g. inference.onnx_runtime.fast_detector(); default PyTorch."""
        self.model = model.eval()
        self.forward = forward
        if not isinstance(meta, RunMeta):
            given = dict(meta or {})
            meta = RunMeta(
                model=str(given.pop("model", type(model).__name__)),
                config=given.pop("config", {}),
                normalization=check_normalization(str(given.pop("normalization", "mnist"))),
                **{k: v for k, v in given.items() if k in ("dataset", "kind", "test_acc")},
            )
        self.meta = meta
        self.normalization = meta.normalization
        rule = meta.calibration.detector if meta.calibration is not None else None
        self.detector = detector
        if rule is not None:
            check_detector(rule)
            shipped_detector()  # loaded now: a damaged file fails at start, not on a request
        self.classes = _classes(meta.dataset)

    @classmethod
    def from_path(cls, model: str | Path | None = None, notify=None) -> Predictor:
        """Load a model folder (single or ensemble) or a shipped pretrained name (None: the
        default pretrained model); raises CheckpointError for a bad one."""
        from mnistlab.runs import load_model

        loaded, meta = load_model(model, notify)
        return cls(loaded, meta)

    def on_onnx_runtime(self) -> Predictor:
        """The same predictor with predict_pixels' forward pass run by onnxruntime (checked
        against PyTorch first; MnistlabError if it differs or onnxruntime is missing)."""
        from mnistlab.inference.onnx_runtime import OnnxForward

        forward = OnnxForward(self.model, self.meta)
        return Predictor(self.model, self.meta, forward, self.detector).with_fast_detector()

    def with_fast_detector(self) -> Predictor:
        """The same predictor with the digit detector run by onnxruntime where it is installed
        (4x faster per digit; serve uses it), else unchanged."""
        from mnistlab.inference.onnx_runtime import fast_detector

        rule = self.meta.calibration.detector if self.meta.calibration else None
        if rule is None or self.detector is not None:
            return self
        return Predictor(self.model, self.meta, self.forward, fast_detector())

    @property
    def name(self) -> str:
        return self.meta.model

    def predict_pixels(
        self, pixels: np.ndarray | Sequence[np.ndarray], top_k: int = DEFAULT_TOP_K
    ) -> list[Prediction]:
        """Predict for uint8 digits in MNIST's form, (N, 28, 28) or a list of (28, 28)."""
        batch = np.ascontiguousarray(
            np.stack(list(pixels)) if not isinstance(pixels, np.ndarray) else pixels, dtype=np.uint8
        )
        if batch.ndim == 2:
            batch = batch[None]
        if batch.ndim != 3 or batch.shape[1:] != (28, 28):
            raise ValueError(f"expected (N, 28, 28) pixels, got {batch.shape}")
        if len(batch) == 0:
            return []
        if self.forward is not None:
            logits, similarity = self.forward(batch)
        else:
            x = normalize(torch.from_numpy(batch).unsqueeze(1), self.normalization)
            # the same forward pass also gives the features the calibration's feature rule needs
            logits, similarity = logits_and_similarity(self.model, x, self.meta.calibration)
        probs = self._softmax(logits)
        calibration = self.meta.calibration
        # the detector reads the digits themselves, whichever backend computed the logits
        detected = None
        if calibration is not None and calibration.detector is not None:
            detected = (self.detector or detector_scores)(batch)
        reasons = not_sure_reasons(logits, batch, calibration, similarity, detected)
        k = max(1, min(top_k, probs.shape[1]))
        out = []
        for row, digit_pixels, reason in zip(probs, batch, reasons, strict=True):
            order = np.argsort(-row, kind="stable")[:k]
            best = int(order[0])
            out.append(
                Prediction(
                    digit=best if reason is None else None,
                    label=self.label(best) if reason is None else None,
                    confidence=float(row[best]),
                    probabilities=[float(p) for p in row],
                    top_k=[(int(c), float(row[c])) for c in order],
                    pixels=digit_pixels,
                    guess=best,
                    reason=reason,
                )
            )
        return out

    @property
    def temperature(self) -> float:
        """The fitted temperature (1.0 for an uncalibrated model)."""
        calibration = self.meta.calibration
        return calibration.temperature if calibration is not None else 1.0

    @torch.inference_mode()
    def logits(self, batch: np.ndarray) -> torch.Tensor:
        """(N, 28, 28) uint8 -> (N, classes) float32: whatever the module returns, logits from
        a single model, averaged log-probabilities from an ensemble."""
        x = normalize(torch.from_numpy(batch).unsqueeze(1), self.normalization)  # (N, 1, 28, 28)
        return self.model(x).float()

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28) uint8 -> (N, classes) float64 calibrated probabilities."""
        return self._softmax(self.logits(batch))

    def _softmax(self, logits: torch.Tensor) -> np.ndarray:
        # an ensemble's log-probabilities: softmax(log p / T) is p sharpened or softened, as T says
        return torch.softmax(logits.double() / self.temperature, dim=1).numpy()

    def predict_image(
        self, source: ImageSource, top_k: int = DEFAULT_TOP_K, max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> Prediction:
        """Preprocess one real image and predict; raises ImageError or NoDigitError."""
        digit: Preprocessed = preprocess(source, max_pixels=max_pixels)
        return self.predict_pixels(digit.pixels[None], top_k=top_k)[0]

    def describe(self) -> dict[str, Any]:
        """What GET /api/model shows: the model.json facts a user cares about."""
        keys = (
            "model",
            "kind",
            "config",
            "normalization",
            "dataset",
            "test_acc",
            "val_acc",
            "epochs",
            "seed",
            "members",
            "date",
            "calibration",
        )
        record = self.meta.to_dict()
        info = {k: record[k] for k in keys if k in record}
        info["classes"] = list(self.classes)
        info["parameters"] = sum(p.numel() for p in self.model.parameters())
        info["backend"] = "torch" if self.forward is None else type(self.forward).__name__
        return info

    def label(self, index: int) -> str:
        """The class name for a class index ("7"; "Sneaker" for Fashion-MNIST)."""
        return self.classes[index] if index < len(self.classes) else str(index)


def _classes(dataset: str) -> tuple[str, ...]:
    from mnistlab.data.datasets import DATASETS

    spec = DATASETS.get(dataset)
    return tuple(spec.classes) if spec else tuple(str(d) for d in range(10))
