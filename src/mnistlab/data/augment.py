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
    """Random (n, 2, 3) matrices mapping output to input coordinates, in affine_grid's
    normalised [-1, 1] frame."""

    def uniform(limit: float) -> torch.Tensor:
        u = torch.rand(n, generator=generator, device=generator.device if generator else device)
        return ((u * 2 - 1) * limit).to(device)

    angle = uniform(math.radians(cfg.rotate))
    shear = uniform(math.radians(cfg.shear))
    scale = 1 + uniform(cfg.scale)
    shift = torch.stack([uniform(cfg.translate), uniform(cfg.translate)], 1) * (2 / size)
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    # forward map: rotate @ shear @ scale; the grid needs its inverse (output -> input)
    a = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (n, 2, 2)
    a = a @ torch.stack(
        [
            torch.stack([torch.ones_like(tan), tan], 1),
            torch.stack([torch.zeros_like(tan), torch.ones_like(tan)], 1),
        ],
        1,
    )
    a = a * scale.view(n, 1, 1)
    inverse = torch.linalg.inv(a)
    offset = -(inverse @ shift.unsqueeze(2))  # (n, 2, 1)
    return torch.cat([inverse, offset], 2)


def random_affine(
    x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    n, _, h, w = x.shape
    theta = affine_matrices(n, cfg, h, generator, x.device).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (n, h, w, 2)
    if cfg.elastic > 0:
        g = cfg.elastic_grid
        noise = torch.rand(
            n, 2, g, g, generator=generator, device=generator.device if generator else x.device
        ).to(x)
        field = F.interpolate(noise * 2 - 1, size=(h, w), mode="bicubic", align_corners=False)
        grid = grid + field.permute(0, 2, 3, 1) * (2 * cfg.elastic / h)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp_(0, 1)


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
