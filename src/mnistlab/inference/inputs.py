"""What `Predictor.predict` accepts, brought to digits in MNIST's form: (N, 28, 28) uint8.

One image is a path, bytes, a binary file object, a PIL image, a 2-D array or an (H, W, 3) or
(H, W, 4) colour array (as numpy.asarray gives a photo); several are a list or tuple of those,
or an (N, 28, 28) uint8 array already in MNIST's form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnistlab.errors import MnistlabError
from mnistlab.inference.field import SIZE
from mnistlab.inference.images import ImageError, ImageTooLargeError
from mnistlab.inference.preprocess import preprocess

ACCEPTED = (
    "predict takes an image (a file path, bytes, a binary file, a PIL image, a 2-D grayscale "
    "or (H, W, 3) colour array of levels 0..255, floats 0..1 or 16-bit), a list of images, or "
    "(N, 28, 28) or (N, 1, 28, 28) digits in MNIST's form (uint8, or floats 0..1)"
)


def is_many(x: Any) -> bool:
    """Whether `x` holds several images (a list or tuple, or a 3-D array, or a DataLoader's
    (N, 1, 28, 28) batch) rather than one."""
    array = _array(x)
    if array is None:
        return isinstance(x, (list, tuple))
    return _unbatched(array).ndim == 3 and not _is_colour(array)


def _is_colour(array: np.ndarray) -> bool:
    """An (H, W, 3) RGB or (H, W, 4) RGBA picture: digits in MNIST's form are (N, 28, 28)."""
    return array.ndim == 3 and array.shape[-1] in (3, 4)


def as_digits(x: Any, max_pixels: int) -> np.ndarray:
    """(N, 28, 28) uint8 digits for one image (N = 1) or several; raises ImageError (with what
    is accepted) for input that is not an image, NoDigitError for a blank one."""
    array = _array(x)
    array = None if array is None else _unbatched(array)
    if array is not None and array.ndim == 3 and not _is_colour(array):
        if array.shape[1:] != (SIZE, SIZE):
            raise ImageError(
                f"a 3-D array must be (N, {SIZE}, {SIZE}) digits or an (H, W, 3) colour "
                f"picture, got {array.dtype} {tuple(array.shape)}; {ACCEPTED}"
            )
        return _levels(array)
    if not isinstance(x, (list, tuple)):
        return _digit(x, max_pixels)[None]
    digits = np.empty((len(x), SIZE, SIZE), dtype=np.uint8)
    for i, item in enumerate(x):
        if is_many(item):
            raise ImageError(f"item {i}: a list holds single images, not {_kind(item)}; {ACCEPTED}")
        try:
            digits[i] = _digit(item, max_pixels)
        except MnistlabError as exc:  # say which item, keeping the kind of error
            raise type(exc)(f"item {i}: {exc}") from None
    return digits


def _unbatched(array: np.ndarray) -> np.ndarray:
    """A DataLoader's (N, 1, 28, 28) batch as (N, 28, 28); any other array as it is."""
    return array[:, 0] if array.ndim == 4 and array.shape[1] == 1 else array


def as_picture(x: Any) -> Any:
    """`x` as an image the reader opens: a 2-D array or tensor of grayscale levels (0..255,
    floats 0..1 or 16-bit), or an (H, W, 3) or (H, W, 4) colour one, as the 8-bit PIL image it
    describes; anything else as it is."""
    if isinstance(x, (list, tuple)):
        raise ImageError(
            f"got {_kind(x)}; a number is read from one image (call read for each of several)"
        )
    array = _array(x)
    if array is None:
        return x
    if array.ndim != 2 and not _is_colour(array):
        raise ImageError(
            f"got a {array.ndim}-D array {tuple(array.shape)}; a number is read from one "
            "2-D grayscale or (H, W, 3) colour image"
        )
    return _picture(array)


def _array(x: Any) -> np.ndarray | None:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return x if isinstance(x, np.ndarray) else None


def _digit(x: Any, max_pixels: int) -> np.ndarray:
    """One image -> (28, 28) uint8."""
    array = _array(x)
    if array is not None:
        if array.ndim != 2 and not _is_colour(array):
            raise ImageError(f"got a {array.ndim}-D array; {ACCEPTED}")
        if array.dtype == np.uint8 and array.shape == (SIZE, SIZE):
            return array  # MNIST's form: white ink on black, centred; used as it is
        x = _picture(array)
    elif isinstance(x, (str, Path)) and not Path(x).is_file():
        what = "is a folder, not an image" if Path(x).is_dir() else "no such file"
        raise ImageError(f"{x}: {what}; {ACCEPTED}")
    elif not isinstance(x, (bytes, bytearray, memoryview, str, Path)) and not _is_image_like(x):
        raise ImageError(f"got {_kind(x)}; {ACCEPTED}")
    try:
        return preprocess(x, max_pixels=max_pixels).pixels
    except ImageTooLargeError:
        raise
    except ImageError as exc:
        raise ImageError(f"{exc}; {ACCEPTED}") from None


def _levels(array: np.ndarray) -> np.ndarray:
    """Levels as uint8 0..255: integers as they are, floats that all lie in 0..1 scaled by 255
    (a tensor from torchvision's ToTensor, or `images / 255`, as the web API's pixels are
    taken), other floats rounded to whole levels, and uint16 levels beyond 255 as the 16 bits
    they are (a 16-bit scan; /257). ImageError for other dtypes, non-finite values or values
    outside 0..255."""
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.uint16 and array.size and int(array.max()) > 255:
        return np.rint(array / 257.0).astype(np.uint8)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ImageError(f"got a {array.dtype} array; {ACCEPTED}")
    if not np.isfinite(array).all():
        raise ImageError(f"got a {array.dtype} array with non-finite values; {ACCEPTED}")
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if low < 0 or high > 255:
        raise ImageError(f"array values run from {low:g} to {high:g}, outside 0..255; {ACCEPTED}")
    if np.issubdtype(array.dtype, np.floating) and high <= 1.0:
        array = array * 255.0
    return np.rint(array).astype(np.uint8)


def _picture(array: np.ndarray):
    """A 2-D array of grayscale levels (0 black), or an (H, W, 3) or (H, W, 4) colour one, as
    the 8-bit PIL image it describes ("L", "RGB" or "RGBA": Pillow's mode for the shape), so
    that it is preprocessed exactly as the same picture read from a file would be."""
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(_levels(array)))


def _is_image_like(x: Any) -> bool:
    """A binary file object or a PIL image (by its module: Pillow is imported only to read)."""
    return hasattr(x, "read") or type(x).__module__.startswith("PIL.")


def _kind(x: Any) -> str:
    array = _array(x)
    if array is not None:
        return f"a {array.ndim}-D array"
    return "a list" if isinstance(x, (list, tuple)) else f"type {type(x).__name__}"
