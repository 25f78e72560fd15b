"""Real images in, digits out: MNIST-style preprocessing, the Predictor, and ONNX export.

The names below are imported on first use (mnistlab.lazy): the command line reads the image
size limit for its options without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnistlab.lazy import make_lazy

_PUBLIC = {
    "DEFAULT_MAX_PIXELS": "mnistlab.inference.images",
    "ImageError": "mnistlab.inference.images",
    "ImageTooLargeError": "mnistlab.inference.images",
    "open_image": "mnistlab.inference.images",
    "to_gray": "mnistlab.inference.images",
    "Prediction": "mnistlab.inference.predictor",
    "Predictor": "mnistlab.inference.predictor",
    "NoDigitError": "mnistlab.inference.field",
    "Preprocessed": "mnistlab.inference.preprocess",
    "pixels_from_values": "mnistlab.inference.field",
    "preprocess": "mnistlab.inference.preprocess",
    "preprocess_array": "mnistlab.inference.preprocess",
}
__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageError",
    "ImageTooLargeError",
    "NoDigitError",
    "Prediction",
    "Predictor",
    "Preprocessed",
    "open_image",
    "pixels_from_values",
    "preprocess",
    "preprocess_array",
    "to_gray",
]

if TYPE_CHECKING:
    from mnistlab.inference.field import NoDigitError, pixels_from_values
    from mnistlab.inference.images import (
        DEFAULT_MAX_PIXELS,
        ImageError,
        ImageTooLargeError,
        open_image,
        to_gray,
    )
    from mnistlab.inference.predictor import Prediction, Predictor
    from mnistlab.inference.preprocess import Preprocessed, preprocess, preprocess_array

make_lazy(__name__, _PUBLIC)
