"""Real images in, digits out: MNIST-style preprocessing, the Predictor, and ONNX export."""

from mnistlab.inference.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    ImageTooLargeError,
    open_image,
    to_gray,
)
from mnistlab.inference.predictor import Prediction, Predictor
from mnistlab.inference.preprocess import (
    NoDigitError,
    Preprocessed,
    pixels_from_values,
    preprocess,
    preprocess_array,
)

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
