"""Pictures of an explanation: the saliency heat-map and the one-PNG summary `mnistlab predict
--explain` writes (input, saliency, nearest training digits). Pillow only, no matplotlib."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mnistlab.inference.explain import Explanation

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


def explanation_png(explanation: Explanation) -> bytes:
    """One PNG: the input, its saliency and the nearest training digits side by side, each
    with a caption (the answer; the method; each neighbour's label and similarity)."""
    from PIL import Image, ImageDraw

    prediction = explanation.prediction
    answer = prediction.label if prediction.digit is not None else "not sure"
    cells = [
        (prediction.pixels, "input", f"answer: {answer}"),
        (
            heatmap(prediction.pixels, explanation.saliency),
            f"saliency, {SHORT[explanation.method]}",
            "red for, blue against",
        ),
    ]
    cells += [
        (n.image, f"neighbour {n.label}", f"sim {n.similarity:.3f}") for n in explanation.neighbours
    ]
    sheet = Image.new("RGB", (len(cells) * (CELL + GAP) + GAP, CELL + CAPTION + 2 * GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (image, first, second) in enumerate(cells):
        left = GAP + i * (CELL + GAP)
        tile = Image.fromarray(image).resize((CELL, CELL), Image.Resampling.NEAREST)
        sheet.paste(tile.convert("RGB"), (left, GAP))
        draw.text((left, GAP + CELL + 2), first, fill="black")
        draw.text((left, GAP + CELL + 15), second, fill="black")
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
