"""Pixel normalisations, applied on the device to uint8 batches as one multiply-add."""

from __future__ import annotations

import torch

from mnistlab.errors import MnistlabError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

# name -> (scale, shift): x = pixel * scale + shift, pixel in 0..255.
NORMALIZATIONS: dict[str, tuple[float, float]] = {
    # zero mean, unit variance over the MNIST training set
    "mnist": (1.0 / (255.0 * MNIST_STD), -MNIST_MEAN / MNIST_STD),
    # the tutorial's ToTensor() + Normalize((0,), (128,)): pixel / 255 / 128, all below 0.008
    "tutorial": (1.0 / (255.0 * 128.0), 0.0),
    # plain 0..1, as the tutorial's MLP section does
    "unit": (1.0 / 255.0, 0.0),
}


def check_normalization(name: str) -> str:
    if name not in NORMALIZATIONS:
        known = ", ".join(NORMALIZATIONS)
        raise MnistlabError(f"unknown normalization {name!r}; choose one of: {known}")
    return name


def normalize(pixels: torch.Tensor, name: str = "mnist") -> torch.Tensor:
    """uint8 (or 0..255 float) pixels -> float32 model input."""
    scale, shift = NORMALIZATIONS[check_normalization(name)]
    # copy=True: a float32 input must not be normalised in place under the caller
    return pixels.to(torch.float32, copy=True).mul_(scale).add_(shift)
