"""Drawing helpers shared by the generators: ink masks, paper, pens, and camera effects."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from mnistlab.inference.field import disc

BOX = 20  # an MNIST digit's longer side inside its 28x28 field


def ink_alpha(digit: np.ndarray, height: float) -> np.ndarray:
    """An MNIST digit (28x28 uint8, white on black) as ink coverage 0..1, scaled so that its
    20-px box becomes `height` px. Area averaging below MNIST's size, bicubic above."""
    size = max(1, round(28 * height / BOX))
    method = Image.BOX if size < 28 else Image.BICUBIC
    image = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize((size, size), method)
    return np.clip(np.asarray(image, dtype=np.float32) / 255.0, 0.0, 1.0)


def ink_bbox(alpha: np.ndarray, level: float = 0.1) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the coverage above `level`."""
    rows, cols = np.nonzero(alpha > level)
    if rows.size == 0:
        return 0, alpha.shape[0], 0, alpha.shape[1]
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def crop_to_ink(alpha: np.ndarray, level: float = 0.1) -> np.ndarray:
    top, bottom, left, right = ink_bbox(alpha, level)
    return alpha[top:bottom, left:right]


def pad(alpha: np.ndarray, margin: int) -> np.ndarray:
    return np.pad(alpha, margin)


def thicken(alpha: np.ndarray, radius: int) -> np.ndarray:
    """A broader pen: grey dilation with a disc."""
    return ndimage.grey_dilation(alpha, footprint=disc(radius))


def thin(alpha: np.ndarray, radius: int) -> np.ndarray:
    """A finer pen: grey erosion with a disc."""
    return ndimage.grey_erosion(alpha, footprint=disc(radius))


def rotate(alpha: np.ndarray, degrees: float) -> np.ndarray:
    return np.clip(ndimage.rotate(alpha, degrees, reshape=True, order=1), 0.0, 1.0)


def paper(height: int, width: int, rng: np.random.Generator, tone=None) -> np.ndarray:
    """Off-white paper (H, W, 3) in 0..255, slightly tinted and uneven."""
    base = np.array(tone if tone is not None else rng.uniform(225, 250, size=3), np.float32)
    grain = rng.normal(0.0, 2.0, size=(height, width, 1)).astype(np.float32)
    return np.clip(base[None, None, :] + grain, 0, 255)


def dark_ink(rng: np.random.Generator) -> np.ndarray:
    return np.full(3, rng.uniform(10, 70), np.float32)


def compose(alpha: np.ndarray, background: np.ndarray, ink) -> np.ndarray:
    """Ink of colour `ink` laid over `background` with coverage `alpha` (float, 0..255)."""
    a = alpha[..., None].astype(np.float32)
    return background * (1.0 - a) + np.asarray(ink, np.float32)[None, None, :] * a


def ruled_lines(canvas: np.ndarray, spacing: float, rng, vertical: bool = False) -> np.ndarray:
    """Light blue printed lines, 1-2 px, every `spacing` px (as on lined or squared paper)."""
    colour = np.array([rng.uniform(120, 170), rng.uniform(160, 200), 235], np.float32)
    out = canvas.copy()
    size = out.shape[1] if vertical else out.shape[0]
    width = int(rng.integers(1, 3))
    start = rng.uniform(0, spacing)
    for pos in np.arange(start, size, spacing):
        lo = int(pos)
        if vertical:
            out[:, lo : lo + width] = 0.35 * out[:, lo : lo + width] + 0.65 * colour
        else:
            out[lo : lo + width] = 0.35 * out[lo : lo + width] + 0.65 * colour
    return out


def shadow(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft shadow across the sheet: brightness falling to 30-55% along a random direction."""
    height, width = canvas.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (x / max(width - 1, 1) - 0.5) * np.cos(angle) + (y / max(height - 1, 1) - 0.5) * np.sin(
        angle
    )
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    floor = rng.uniform(0.3, 0.55)
    return canvas * (floor + (1.0 - floor) * t)[..., None]


def on_paper(alpha: np.ndarray, rng, margin: float = 0.4, ink=None) -> np.ndarray:
    """The ink on fresh paper with `margin` (a fraction of the ink's height) on every side."""
    margin_px = int(round(margin * alpha.shape[0]))
    alpha = pad(alpha, margin_px) if margin_px else alpha
    sheet = paper(*alpha.shape, rng)
    return compose(alpha, sheet, dark_ink(rng) if ink is None else ink)


def to_image(canvas: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8), "RGB")


def add_noise(image: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    values = np.asarray(image, dtype=np.float32)
    return to_image(values + rng.normal(0.0, sigma, size=values.shape))


def blur(image: Image.Image, radius: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def upscale(image: Image.Image, factor: float) -> Image.Image:
    width, height = image.size
    return image.resize((round(width * factor), round(height * factor)), Image.BILINEAR)


# How viewers, browsers and editors enlarge a small image (PIL's names for them)
RESAMPLERS = {
    "nearest": Image.NEAREST,
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "lanczos": Image.LANCZOS,
}


def resize(image: Image.Image, factor: float, resampler: str) -> Image.Image:
    """`image` scaled by `factor` with one of RESAMPLERS (at least 1 px on each side)."""
    width, height = image.size
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return image.resize(size, RESAMPLERS[resampler])
