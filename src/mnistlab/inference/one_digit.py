"""Is a part cut out of a written number exactly one digit, or a fragment or two digits?

The digit classifier alone cannot tell: two touching digits ("31") or a digit cut in half are
often read as one digit with confidence, so the reader's choice between one part and two would
turn on tiny differences of confidence. A small network answers this question instead, from
the 28x28 field the classifier sees and the part's size relative to the number's digits. It is
trained by scripts/train_one_digit.py on parts cut by the reader from numbers drawn with
TRAINING digits; its weights ship in mnistlab/weights/reading/ and are checked by SHA-256.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnistlab.models.shipped import WEIGHTS as SHIPPED
from mnistlab.models.shipped import load_helper, shipped_helper

WEIGHTS = SHIPPED / "reading" / "one_digit.safetensors"
WHAT = "one-digit network"  # its name in errors
SHA256 = "9e279e9c1bedb6151ec6046f2987b5cf6ac8591e8c1fdfc34da9850b9940192b"
SHAPES = 2  # part width and height, each in the number's digit heights


class OneDigitNet(nn.Module):
    """(N, 1, 28, 28) fields in 0..1 and (N, SHAPES) sizes -> (N,) logits of "one digit"."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 8, 14, 14)
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 16, 7, 7)
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),  # (N, 16, 4, 4)
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(16 * 4 * 4 + SHAPES, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, fields: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.features(fields), shapes], dim=1)).squeeze(1)


def part_shape(mask: np.ndarray, digit_height: float) -> tuple[float, float]:
    """(width, height) of a part's ink, in the number's digit heights."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0.0, 0.0
    unit = max(digit_height, 1.0)
    return (cols[-1] - cols[0] + 1) / unit, (rows[-1] - rows[0] + 1) / unit


def inputs(fields: np.ndarray, shapes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 28, 28) uint8 fields and (N, SHAPES) sizes -> the network's float inputs."""
    x = torch.from_numpy(np.ascontiguousarray(fields, dtype=np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(np.asarray(shapes, dtype=np.float32).reshape(-1, SHAPES))


def load_one_digit(path: Path = WEIGHTS, sha256: str = SHA256) -> OneDigitNet:
    """The trained network; CheckpointError when the file is missing, altered or unreadable
    (models.shipped.load_helper)."""
    return load_helper(path, sha256, OneDigitNet, WHAT)


def shipped_one_digit() -> OneDigitNet:
    """The shipped network, loaded once per process (on first use, not at import)."""
    return shipped_helper(WEIGHTS, SHA256, OneDigitNet, WHAT)


@torch.inference_mode()
def one_digit_log_odds(net: OneDigitNet, fields: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """(N,) log-odds that each part is exactly one digit."""
    if len(fields) == 0:
        return np.zeros(0)
    return net(*inputs(fields, shapes)).double().numpy()
