"""What a prediction answers, as values and as JSON: `Prediction` and its `PredictionDict`, and
`Explanation` (why: the nearest training digits and a saliency map) with its `ExplanationDict`.
Types only, below both inference.predictor and inference.explain, so that neither imports the
other's module for the other's types."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from typing_extensions import NotRequired, TypedDict  # pydantic needs these on Python < 3.12


class NeighbourDict(TypedDict):
    digit: int
    """the training digit's class"""
    label: str
    """its class name (the digit for MNIST)"""
    similarity: float
    """cosine similarity of its features to the input's, -1..1 (1: the same to the model)"""
    bank_row: int
    """its row in the model's feature bank"""
    image_png_base64: str
    """the training digit, 28x28 PNG (16 grey levels)"""


class ExplanationDict(TypedDict):
    method: str
    """how the saliency was computed: integrated_gradients or occlusion"""
    explained: int
    """the class explained: the answer, or the best guess when not sure"""
    saliency: list[float]
    """784 values, 28x28 row-major: > 0 where a pixel speaks for the class, < 0 against it
    (the change of its probability the pixel accounts for)"""
    saliency_png_base64: str
    """the saliency over the input as a 28x28 PNG heat-map: red for, blue against"""
    neighbours: list[NeighbourDict]
    """the nearest training digits, most similar first; empty when the model has no bank"""
    note: str | None
    """why there are no neighbours, when there are none"""


ExplanationDict.__pydantic_config__ = NeighbourDict.__pydantic_config__ = {  # type: ignore[attr-defined]
    "use_attribute_docstrings": True
}


@dataclass(frozen=True)
class Neighbour:
    """One training digit near the input, as the model sees it."""

    image: np.ndarray = field(repr=False)  # (28, 28) uint8
    digit: int  # its class
    label: str  # its class name
    similarity: float  # cosine similarity of the features, -1..1
    bank_row: int  # its row in the feature bank


@dataclass(frozen=True)
class Explanation:
    """A prediction with why: its nearest training digits and a saliency map over the input."""

    prediction: Prediction
    neighbours: list[Neighbour]  # most similar first; empty without a bank (see `note`)
    saliency: np.ndarray = field(repr=False)  # (28, 28) float32, > 0 speaks for `explained`
    method: str  # the saliency method
    explained: int  # the class explained: the answer, or the best guess when not sure
    note: str | None = None  # why `neighbours` is empty, if it is

    def to_dict(self) -> ExplanationDict:
        """The explanation as JSON-ready values (the prediction is separate: Prediction.to_dict)."""
        from mnistlab.inference.explain_png import heatmap, png_base64

        return {
            "method": self.method,
            "explained": self.explained,
            "saliency": [round(float(v), 5) for v in self.saliency.ravel()],
            "saliency_png_base64": png_base64(heatmap(self.prediction.pixels, self.saliency)),
            "neighbours": [
                {
                    "digit": n.digit,
                    "label": n.label,
                    "similarity": round(n.similarity, 4),
                    "bank_row": n.bank_row,
                    "image_png_base64": png_base64(n.image),
                }
                for n in self.neighbours
            ],
            "note": self.note,
        }


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
    explanation: NotRequired[ExplanationDict | None]
    """(server, ?explain=true only) why: the nearest training digits and a saliency map; null
    when no digit is found"""


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
