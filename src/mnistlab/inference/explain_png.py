"""Pictures for explanations: the saliency heat-map and PNG encoding (Pillow only, no
matplotlib). A leaf: inference.explain uses it, so it knows nothing of explanations."""

from __future__ import annotations

import base64
import io

import numpy as np

SCALE = 4  # each 28x28 image at 112 px
CELL = 28 * SCALE
GAP = 8
CAPTION = 30  # two lines of text under each image
BASE = 0.4  # how bright the input shows under the heat-map
SHORT = {"integrated_gradients": "IG", "occlusion": "occlusion"}  # fits under 112 px


def heatmap(pixels: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """(28, 28, 3) uint8: the input dimmed to grey, red where it speaks for the class and
    blue against it, scaled by the largest magnitude."""
    base = BASE * pixels.astype(np.float32) / 255  # (28, 28)
    peak = float(np.abs(saliency).max())
    s = saliency / peak if peak > 0 else np.zeros_like(saliency)
    pos, neg = np.clip(s, 0, 1), np.clip(-s, 0, 1)
    rgb = np.stack(
        [base + (1 - base) * pos, base * (1 - pos) * (1 - neg), base + (1 - base) * neg], axis=-1
    )
    return (255 * rgb).round().astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 array, (H, W) grey or (H, W, 3) colour, as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def png_base64(image: np.ndarray) -> str:
    """png_bytes in base64 (a few hundred bytes for 28x28)."""
    return base64.b64encode(png_bytes(image)).decode("ascii")
