"""Predictor: a trained model plus its normalisation, answering for preprocessed digits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistlab.calibration.core import features_and_logits, nearest_similarity
from mnistlab.calibration.detector import check_detector, detector_scores, shipped_detector
from mnistlab.calibration.rule import not_sure
from mnistlab.calibration.types import Calibration
from mnistlab.data.normalize import check_normalization, normalize
from mnistlab.inference.answers import (  # noqa: F401 (Prediction's names, where they were)
    Explanation,
    Prediction,
    PredictionDict,
    TopK,
)
from mnistlab.inference.explain import DEFAULT_NEIGHBOURS, DEFAULT_SALIENCY
from mnistlab.inference.images import DEFAULT_MAX_PIXELS, ImageSource
from mnistlab.inference.preprocess import Preprocessed, preprocess
from mnistlab.runs.meta import RunMeta

DEFAULT_TOP_K = 3

# (N, 28, 28) uint8 -> ((N, classes) logits, (N,) similarity to the feature bank or None)
Forward = Callable[[np.ndarray], "tuple[torch.Tensor, torch.Tensor | None]"]


class Predictor:
    """Wraps a model and its model.json; thread-safe for concurrent predictions."""

    def __init__(
        self,
        model: nn.Module,
        meta: RunMeta | dict[str, Any] | None = None,
        forward: Forward | None = None,
        detector: Callable[[np.ndarray], torch.Tensor] | None = None,
        reject: bool = True,
    ):
        """`meta`: the model's RunMeta, or for a bare model a dict with at least its
        "normalization" (default "mnist") and optionally "dataset". `forward`: what computes
        (logits, similarity) for a uint8 batch in predict_pixels, e.g. an
        inference.onnx_runtime.OnnxForward; default PyTorch. `detector`: what computes the
        digit detector's scores for a uint8 batch when the calibration has a detector rule,
        e.g. inference.onnx_runtime.fast_detector(); default PyTorch. `reject`: answer "not
        sure" (digit None, with the reason) where the calibration's rules say so; False
        answers every digit with its best guess (see with_rejection)."""
        self.model = model.eval()
        self.reject = reject
        self.forward = forward
        if not isinstance(meta, RunMeta):
            meta = bare_model_meta(model, meta)  # the one edge where a dict is accepted
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
        predictor = Predictor(self.model, self.meta, forward, self.detector, self.reject)
        return predictor.with_fast_detector()

    def with_fast_detector(self) -> Predictor:
        """The same predictor with the digit detector run by onnxruntime where it is installed
        (4x faster per digit; serve uses it), else unchanged."""
        from mnistlab.inference.onnx_runtime import fast_detector

        rule = self.meta.calibration.detector if self.meta.calibration else None
        if rule is None or self.detector is not None:
            return self
        return Predictor(self.model, self.meta, self.forward, fast_detector(), self.reject)

    def with_rejection(self, reject: bool) -> Predictor:
        """The same predictor answering "not sure" (reject=True, the default) or always its
        best guess (reject=False: `mnistlab predict --no-reject`, for a reader who wants the
        model's guess whatever it is)."""
        return Predictor(self.model, self.meta, self.forward, self.detector, reject)

    def answered(self, prediction: Prediction) -> Prediction:
        """`prediction` with its best guess as the answer, had it been "not sure"."""
        if prediction.digit is not None:
            return prediction
        guess = prediction.guess
        return dataclasses.replace(prediction, digit=guess, label=self.label(guess), reason=None)

    @property
    def name(self) -> str:
        return self.meta.model

    def predict_pixels(
        self,
        pixels: np.ndarray | Sequence[np.ndarray],
        top_k: int = DEFAULT_TOP_K,
        reject: bool | None = None,
    ) -> list[Prediction]:
        """Predict for uint8 digits in MNIST's form, (N, 28, 28) or a list of (28, 28).
        `reject`: as in with_rejection; None: this predictor's setting."""
        batch = as_pixel_batch(pixels)
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
        verdict = not_sure(calibration, logits, batch, similarity=similarity, detected=detected)
        reasons = verdict.reasons()
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
        if not (self.reject if reject is None else reject):
            out = [self.answered(p) for p in out]
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
        self,
        source: ImageSource,
        top_k: int = DEFAULT_TOP_K,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        reject: bool | None = None,
    ) -> Prediction:
        """Preprocess one real image and predict; raises ImageError or NoDigitError."""
        digit: Preprocessed = preprocess(source, max_pixels=max_pixels)
        return self.predict_pixels(digit.pixels[None], top_k=top_k, reject=reject)[0]

    def predict(
        self,
        x: Any,
        top_k: int = DEFAULT_TOP_K,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        reject: bool | None = None,
    ) -> Prediction | list[Prediction]:
        """One Prediction for one image, a list for several.

        One image: a file path (str or Path), bytes, a binary file object, a PIL image, or a
        2-D array. A 28x28 uint8 array is a digit in MNIST's form (white ink on black, centred)
        and goes to the model as it is, as with predict_pixels. Any other 2-D array (integer or
        float) is read as grayscale levels 0..255, 0 black, rounded to whole levels, and
        preprocessed as predict_image preprocesses an 8-bit grayscale picture: the ink's
        polarity is found from the border (dark ink on light paper is inverted to MNIST's white
        on black), then cropped, boxed to 20 px and centred by mass.

        Several: a list or tuple of images, or an (N, 28, 28) uint8 array (or tensor) of digits
        already in MNIST's form, which skips preprocessing.

        `reject=False` answers the best guess where the model would say "not sure".

        Raises ImageError for input that is not an image (its message says what is accepted),
        ImageTooLargeError past `max_pixels`, NoDigitError for a blank image.

        >>> mnistlab.load().predict("seven.png").digit
        7
        >>> [p.digit for p in mnistlab.load().predict(images[:3])]  # load_mnist("test")
        [7, 2, 1]
        """
        from mnistlab.inference.inputs import as_digits, is_many

        predictions = self.predict_pixels(as_digits(x, max_pixels), top_k=top_k, reject=reject)
        return predictions if is_many(x) else predictions[0]

    def explain_pixels(
        self,
        pixels: np.ndarray | Sequence[np.ndarray],
        neighbours: int = DEFAULT_NEIGHBOURS,
        method: str = DEFAULT_SALIENCY,
        predictions: Sequence[Prediction] | None = None,
        reject: bool | None = None,
    ) -> list[Explanation]:
        """Explain uint8 digits in MNIST's form, (N, 28, 28) or a list of (28, 28): each one's
        prediction, its `neighbours` nearest training digits in the model's feature bank and
        a saliency map by `method` ("integrated_gradients", "occlusion"). `predictions`:
        these digits' predictions when already made (serve's); ValueError for a bad count,
        method or shape."""
        from mnistlab.inference.explain import check_request, explain_batch

        check_request(neighbours, method)
        if predictions is None:
            predictions = self.predict_pixels(as_pixel_batch(pixels), reject=reject)
        return explain_batch(self.model, self.meta, predictions, self.classes, neighbours, method)

    def explain(
        self,
        x: Any,
        neighbours: int = DEFAULT_NEIGHBOURS,
        method: str = DEFAULT_SALIENCY,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        reject: bool | None = None,
    ) -> Explanation | list[Explanation]:
        """predict(x), with why: one Explanation for one image, a list for several (x as in
        predict). Each holds the prediction, the `neighbours` nearest training digits (images,
        labels, similarity; none for a model without a shipped feature bank, see its `note`)
        and a (28, 28) saliency map over the input for the answer (or the best guess when not
        sure). Raises what predict raises, and ValueError for a bad count or method.

        >>> e = mnistlab.load("lenet5").explain(images[0])  # load_mnist("test")
        >>> e.prediction.digit, [n.digit for n in e.neighbours]
        (7, [7, 7, 7, 7, 7])
        """
        from mnistlab.inference.explain import check_request
        from mnistlab.inference.inputs import as_digits, is_many

        check_request(neighbours, method)  # before the work of reading images
        digits = as_digits(x, max_pixels)
        explained = self.explain_pixels(digits, neighbours, method, reject=reject)
        return explained if is_many(x) else explained[0]

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


def as_pixel_batch(pixels: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """(N, 28, 28) contiguous uint8 from an array or a list of (28, 28); ValueError otherwise."""
    batch = np.ascontiguousarray(
        np.stack(list(pixels)) if not isinstance(pixels, np.ndarray) else pixels, dtype=np.uint8
    )
    if batch.ndim == 2:
        batch = batch[None]
    if batch.ndim != 3 or batch.shape[1:] != (28, 28):
        raise ValueError(f"expected (N, 28, 28) pixels, got {batch.shape}")
    # a read-only array (a memory-mapped dataset, a frozen test fixture) is copied: torch wraps
    # it only with a UserWarning about undefined behaviour
    return batch if batch.flags.writeable else batch.copy()


def bare_model_meta(model: nn.Module, given: dict[str, Any] | None) -> RunMeta:
    """The RunMeta of a bare nn.Module (no model folder) from a dict with its "normalization"
    (default "mnist") and optionally "dataset", "model", "config", "kind", "test_acc"."""
    given = dict(given or {})
    return RunMeta(
        model=str(given.pop("model", type(model).__name__)),
        config=given.pop("config", {}),
        normalization=check_normalization(str(given.pop("normalization", "mnist"))),
        **{k: v for k, v in given.items() if k in ("dataset", "kind", "test_acc")},
    )


@torch.inference_mode()
def logits_and_similarity(
    model: nn.Module, x: torch.Tensor, calibration: Calibration | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits, similarity) for normalised inputs x: similarity is None unless `calibration`
    has a feature rule and the model carries its bank (runs.features), so a folder without
    one answers by the logits rule, with one forward pass either way."""
    from mnistlab.runs.features import bank_of

    bank = bank_of(model)
    if calibration is None or calibration.features is None or bank is None:
        return model(x).float(), None
    features, logits = features_and_logits(model, x)
    return logits, nearest_similarity(features, bank)


def _classes(dataset: str) -> tuple[str, ...]:
    from mnistlab.data.datasets import DATASETS

    spec = DATASETS.get(dataset)
    return tuple(spec.classes) if spec else tuple(str(d) for d in range(10))
