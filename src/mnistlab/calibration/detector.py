"""The digit detector: a small network that says whether a preprocessed 28x28 image is a digit
at all, whatever the classifier makes of it.

A classifier's own evidence (its logits, its features) cannot refuse what it has never been
shown not to be a digit: a star or a tangle of strokes lands among the digits it resembles
most. The detector is trained for that question alone, on training digits (as MNIST has them,
drawn as photos and in the robustness suite's conditions, all through the real preprocessing)
against non-digits made from training digits, drawn symbols and letters written as strokes
(`mnistlab.synth.outliers`, `.symbols`, `.letters`); never on font glyphs, faces or textures,
which stay outside checks. It is separate from every classifier, so it cannot lower one's
accuracy (outlier exposure inside the classifier did: docs/calibration.md), and one detector
serves every MNIST model: each model's calibration fits its own threshold on the detector's
score (`calibration.detector` in model.json).

It reads shapes, not textures: its first, fixed layer (`Silhouette`) blurs the ink and stretches
it to a solid silhouette, so pixel blocks of a low-resolution source, dither and halftone dots,
JPEG ringing and a pen's grain reach the learnt layers as the same shape drawn smoothly. The
first detector read the raw pixels and refused a third of legible low-resolution scans for their
texture (issue 22); whether a mark is a digit is a question of its shape. A second fixed layer,
`StrokeNorm` (strokes thinned or thickened to MNIST's width, `DigitDetector(stroke_norm=True)`,
`scripts/train_detector.py --stroke-norm`), was tried for fat strokes of blurry sources and not
adopted: the shipped detector does without it (docs/calibration.md).

No BatchNorm: a normalisation that pooled digits and non-digits in training would normalise
every input by that mixture at inference (the trap the second outlier-exposure attempt fell
into). The weights ship as safetensors, their SHA-256 pinned here; they are made by
`python scripts/train_detector.py`, deterministically from the train split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnistlab.calibration.types import DetectorRule
from mnistlab.errors import CheckpointError
from mnistlab.models.shipped import WEIGHTS, load_helper, shipped_helper

FILE = WEIGHTS / "detector" / "detector.safetensors"
WHAT = "digit detector"  # its name in errors
WIDTH = 32  # channels of the first layers; 16 refused fewer tuning non-digits (calibration.md)
# of FILE, as scripts/train_detector.py printed it
SHA256 = "5a66b8b86c5f21369061fab2130346e55cec706127c9e12bf5d5cfb5065d6e11"


SIGMA = 0.8  # the silhouette's blur, in pixels of the 28x28 field: wider than a dither's or a
# halftone's period there, narrower than the gap between two strokes of a digit
LOW, HIGH = 0.3, 0.6  # blurred ink below LOW of the image's brightest is background, above
# HIGH solid: a 1-pixel stroke blurred peaks near 0.4 and must survive


class Silhouette(nn.Module):
    """(N, 1, 28, 28) ink in 0..1 -> the same shapes as solid, smooth silhouettes in 0..1: a
    Gaussian blur, then a ramp from LOW to HIGH of each image's brightest blurred ink. Fixed,
    not learnt (no weights in the file); plain convolutions and arithmetic, so it exports to
    ONNX with the rest."""

    def __init__(self, sigma: float = SIGMA):
        super().__init__()
        radius = max(1, round(3 * sigma))
        t = torch.arange(-radius, radius + 1, dtype=torch.float32)
        g = torch.exp(-(t**2) / (2 * sigma**2))
        g = g / g.sum()
        self.radius = radius
        self.register_buffer("across", g.view(1, 1, 1, -1), persistent=False)
        self.register_buffer("down", g.view(1, 1, -1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.radius
        blurred = nn.functional.conv2d(x, self.across.to(x.dtype), padding=(0, r))
        blurred = nn.functional.conv2d(blurred, self.down.to(x.dtype), padding=(r, 0))
        brightest = blurred.amax(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        return ((blurred / brightest - LOW) / (HIGH - LOW)).clamp(0.0, 1.0)


STROKE = 2.9  # MNIST's typical stroke width in a silhouette, px (the median of stroke_width:
# 2.87 over 3,000 training digits; tests/calibration/test_detector.py measures it again)
REACH = 3  # at most this many pixels thinned or thickened on each side of a stroke


def stroke_width(silhouettes: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) silhouettes in 0..1 -> (N, 1, 1, 1) mean stroke width in pixels: twice the
    area over the edge length (a stroke w wide and L long has area wL and edges 2L long; the
    edge length is the total variation, which a soft edge adds up to 1 across, however wide)."""
    padded = nn.functional.pad(silhouettes, (1, 1, 1, 1))
    across = (padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]) / 2  # central differences
    down = (padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]) / 2
    edge = (across * across + down * down + 1e-12).sqrt().sum(dim=(2, 3), keepdim=True)
    area = silhouettes.sum(dim=(2, 3), keepdim=True)
    return 2 * area / edge.clamp_min(1.0)


def _grow(x: torch.Tensor, step: int) -> torch.Tensor:
    """One step of grey dilation, alternating a plus and a square, so that steps add up to an
    octagonal distance, closer to the Euclidean one than either alone on a slanted stroke."""
    if step % 2:
        return nn.functional.max_pool2d(x, 3, 1, 1)
    rows = nn.functional.max_pool2d(x, (1, 3), 1, (0, 1))
    return torch.maximum(rows, nn.functional.max_pool2d(x, (3, 1), 1, (1, 0)))


class StrokeNorm(nn.Module):
    """(N, 1, 28, 28) silhouettes -> the same shapes with strokes about STROKE px wide: a fat
    stroke of a blurry low-resolution source and a thin sharp one give the same shape. Each
    image's width (stroke_width) sets how far its edges move (move_edges), at most REACH px
    each way; the depth map it cuts climbs by about 1 per pixel across an edge (0 at REACH px
    outside, 2 REACH + 1 at REACH px inside), so a fractional move gives a soft edge. Fixed: a
    few max-pools and arithmetic, no weights, exported to ONNX with the rest."""

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        grow = ((STROKE - stroke_width(s)) / 2).clamp(-REACH, REACH)  # (N, 1, 1, 1) px per side
        return move_edges(s, grow)


def move_edges(s: torch.Tensor, grow: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) silhouettes with their edges moved out by `grow` px ((N, 1, 1, 1), in
    -REACH..REACH; negative: in): a depth map (the image, its REACH dilations and its REACH
    erosions, summed) cut REACH - grow deep."""
    depth, grown, shrunk = s, s, s
    for step in range(REACH):
        grown = _grow(grown, step)
        shrunk = -_grow(-shrunk, step)
        depth = depth + grown + shrunk
    return (depth - REACH + grow).clamp(0.0, 1.0)


class DigitDetector(nn.Module):
    """(N, 1, 28, 28) ink in 0..1 -> (N,) logit of "this is a digit", judged on the ink's
    silhouette (Silhouette); with `stroke_norm`, with its strokes at MNIST's width first
    (StrokeNorm; tried, not shipped). Neither layer has weights: the same file loads either."""

    def __init__(self, width: int = WIDTH, stroke_norm: bool = False):
        super().__init__()
        w = width
        self.silhouette = nn.Sequential(Silhouette(), StrokeNorm()) if stroke_norm else Silhouette()
        self.body = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.ReLU(),
            # the strongest evidence anywhere: a star's points or a tangle's crossings can be
            # in any corner of the field
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.silhouette(x))).squeeze(1)


def as_input(pixels: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) uint8 -> the detector's (N, 1, 28, 28) float input: ink in 0..1, no
    dataset normalisation, so the detector does not depend on a classifier's."""
    return torch.from_numpy(np.array(pixels, np.float32, copy=True)).div_(255.0).unsqueeze(1)


def load_detector(path: Path = FILE, sha256: str | None = None) -> DigitDetector:
    """The detector at `path`, checked against `sha256` (default: the pinned one; "" skips
    the check); CheckpointError otherwise (models.shipped.load_helper)."""
    return load_helper(path, SHA256 if sha256 is None else sha256, DigitDetector, WHAT)


def check_detector(rule: DetectorRule) -> None:
    """CheckpointError unless `rule` (a model's calibration.detector) was fitted for the
    detector this mnistlab ships: another detector's scores need another threshold."""
    if rule.sha256 != SHA256:
        raise CheckpointError(
            "the model's calibration was fitted for another digit detector than the one this "
            "mnistlab ships; calibrate it again (mnistlab calibrate FOLDER)"
        )


def detector_available() -> bool:
    """Whether this mnistlab ships a detector (its file and pinned checksum)."""
    return bool(SHA256) and FILE.is_file()


def shipped_detector() -> DigitDetector:
    """Loaded once per process, on first use (predictions of models without a detector rule
    never load it)."""
    return shipped_helper(FILE, SHA256, DigitDetector, WHAT)


@torch.inference_mode()
def detector_scores(pixels: np.ndarray, detector: DigitDetector | None = None) -> torch.Tensor:
    """(N,) float32 CPU logits of "a digit" for (N, 28, 28) uint8 preprocessed images."""
    if not len(pixels):
        return torch.empty(0)
    net = detector if detector is not None else shipped_detector()
    chunks = [
        net(as_input(pixels[start : start + 2048])).float() for start in range(0, len(pixels), 2048)
    ]
    return torch.cat(chunks)
