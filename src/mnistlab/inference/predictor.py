"""Predictor: a trained model plus its normalisation, answering for preprocessed digits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistlab.data.normalize import check_normalization, normalize
from mnistlab.inference.images import DEFAULT_MAX_PIXELS, ImageSource
from mnistlab.inference.preprocess import Preprocessed, preprocess
from mnistlab.runs.meta import RunMeta

DEFAULT_TOP_K = 3


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one 28x28 digit."""

    digit: int  # the most probable class index (for MNIST, the digit itself)
    label: str  # its name in the dataset's class list ("7", or "Sneaker" for Fashion-MNIST)
    confidence: float  # its probability
    probabilities: list[float]  # all classes, summing to 1
    top_k: list[tuple[int, float]]  # (class, probability), most probable first
    pixels: np.ndarray = field(repr=False)  # (28, 28) uint8: what the model saw

    def to_dict(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
            "top_k": [{"digit": d, "probability": p} for d, p in self.top_k],
        }


class Predictor:
    """Wraps a model and its model.json; thread-safe for concurrent predictions."""

    def __init__(self, model: nn.Module, meta: RunMeta | dict[str, Any] | None = None):
        """`meta`: the model's RunMeta, or for a bare model a dict with at least its
        "normalization" (default "mnist") and optionally "dataset"."""
        self.model = model.eval()
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
        self.classes = _classes(meta.dataset)

    @classmethod
    def from_path(cls, model: str | Path | None = None, notify=None) -> Predictor:
        """Load a model folder (single or ensemble) or a shipped pretrained name (None: the
        default pretrained model); raises CheckpointError for a bad one."""
        from mnistlab.runs import load_model

        loaded, meta = load_model(model, notify)
        return cls(loaded, meta)

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
        probs = self.probabilities(batch)
        k = max(1, min(top_k, probs.shape[1]))
        out = []
        for row, digit_pixels in zip(probs, batch, strict=True):
            order = np.argsort(-row, kind="stable")[:k]
            best = int(order[0])
            out.append(
                Prediction(
                    digit=best,
                    label=self.label(best),
                    confidence=float(row[best]),
                    probabilities=[float(p) for p in row],
                    top_k=[(int(c), float(row[c])) for c in order],
                    pixels=digit_pixels,
                )
            )
        return out

    @torch.inference_mode()
    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28) uint8 -> (N, classes) float64 probabilities."""
        x = normalize(torch.from_numpy(batch).unsqueeze(1), self.normalization)  # (N, 1, 28, 28)
        out = self.model(x).float()
        # Softmax of whatever the module returns: logits from a single model, averaged
        # log-probabilities from an ensemble (softmax of log p is p itself).
        return torch.softmax(out, dim=1).double().numpy()

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
        )
        record = self.meta.to_dict()
        info = {k: record[k] for k in keys if k in record}
        info["classes"] = list(self.classes)
        info["parameters"] = sum(p.numel() for p in self.model.parameters())
        return info

    def label(self, index: int) -> str:
        """The class name for a class index ("7"; "Sneaker" for Fashion-MNIST)."""
        return self.classes[index] if index < len(self.classes) else str(index)


def _classes(dataset: str) -> tuple[str, ...]:
    from mnistlab.data.datasets import DATASETS

    spec = DATASETS.get(dataset)
    return tuple(spec.classes) if spec else tuple(str(d) for d in range(10))
