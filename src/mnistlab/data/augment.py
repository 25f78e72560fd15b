"""On-device augmentation: one random affine transform (and optional elastic warp) per image.

Built from `affine_grid` + `grid_sample`, so the same code runs batched on the CPU and the GPU.
Inputs and outputs are float pixels in 0..1, shape (B, 1, H, W); outside the image is 0, the
true MNIST background.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from mnistlab.errors import MnistlabError


@dataclass(frozen=True)
class AugmentConfig:
    rotate: float = 0.0  # degrees, uniform in [-rotate, rotate]
    scale: float = 0.0  # uniform in [1 - scale, 1 + scale]
    shear: float = 0.0  # degrees
    translate: float = 0.0  # pixels, each axis
    elastic: float = 0.0  # displacement amplitude in pixels (0: off)
    elastic_grid: int = 4  # coarse noise grid; smaller is smoother


def affine_matrices(
    n: int, cfg: AugmentConfig, size: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Random (n, 2, 3) matrices, one transform per image (see `matrices_from_params`)."""

    def uniform(limit: float) -> torch.Tensor:
        u = torch.rand(n, generator=generator, device=generator.device if generator else device)
        return ((u * 2 - 1) * limit).to(device)

    angle = uniform(math.radians(cfg.rotate))
    shear = uniform(math.radians(cfg.shear))
    scale = 1 + uniform(cfg.scale)
    shift = torch.stack([uniform(cfg.translate), uniform(cfg.translate)], 1)
    return matrices_from_params(angle, shear, scale, shift, size)


def matrices_from_params(
    angle: torch.Tensor, shear: torch.Tensor, scale: torch.Tensor, shift_px: torch.Tensor, size: int
) -> torch.Tensor:
    """(n, 2, 3) matrices for `affine_grid` (output -> input, normalised [-1, 1] frame) of the
    forward map rotate(angle) @ shear @ scale, then a move by shift_px = (dx, dy) pixels
    (dx > 0: right, dy > 0: down)."""
    n = len(angle)
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    one, zero = torch.ones_like(tan), torch.zeros_like(tan)
    rotate = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    shear_m = torch.stack([torch.stack([one, tan], 1), torch.stack([zero, one], 1)], 1)
    forward = rotate @ shear_m * scale.view(n, 1, 1)  # (n, 2, 2)
    inverse = _inverse_2x2(forward)
    offset = -(inverse @ (shift_px * (2 / size)).unsqueeze(2))  # (n, 2, 1)
    return torch.cat([inverse, offset], 2)


def _inverse_2x2(m: torch.Tensor) -> torch.Tensor:
    """Inverses of (n, 2, 2) matrices in closed form. torch.linalg.inv would also do, but on a
    GPU it checks for singular inputs with a device-to-host copy, stalling every training step."""
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    det = (a * d - b * c).view(-1, 1, 1)
    return torch.stack([torch.stack([d, -b], 1), torch.stack([-c, a], 1)], 1) / det


def warp(x: torch.Tensor, theta: torch.Tensor, field: torch.Tensor | None = None) -> torch.Tensor:
    """Resample (n, 1, h, w) images through affine matrices, plus an optional displacement
    field (n, h, w, 2) in the grid's normalised units; outside the image is 0."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)  # (n, h, w, 2)
    if field is not None:
        grid = grid + field
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp_(0, 1)


def random_affine(
    x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    n, _, h, _ = x.shape
    theta = affine_matrices(n, cfg, h, generator, x.device)
    field = None
    if cfg.elastic > 0:
        g = cfg.elastic_grid
        noise = torch.rand(
            n, 2, g, g, generator=generator, device=generator.device if generator else x.device
        ).to(x)
        smooth = F.interpolate(
            noise * 2 - 1, size=x.shape[-2:], mode="bicubic", align_corners=False
        )  # (n, 2, h, w)
        field = smooth.permute(0, 2, 3, 1) * (2 * cfg.elastic / h)
    return warp(x, theta, field)


def build_augment(
    options: dict[str, Any], device: torch.device | str = "cpu", seed: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A batch transform from a recipe's `augment` dict (keys of AugmentConfig)."""
    try:
        cfg = AugmentConfig(**options)
    except TypeError as exc:
        raise MnistlabError(f"bad augment options {options}: {exc}") from None
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    return lambda x: random_affine(x, cfg, generator)
