"""Reading user images safely: size check before decoding, first frame, EXIF, alpha, grayscale.

Pillow is imported lazily so that `import mnistlab` works without the `[image]` extra.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from mnistlab.errors import MnistlabError

# A 24-megapixel phone photo fits; a decompression bomb (a tiny file that decodes to gigabytes)
# does not. Pillow's own guard only starts at 89M pixels and only warns below 179M.
DEFAULT_MAX_PIXELS = 30_000_000
# Images are reduced to this longer side before any analysis: a digit needs far fewer pixels,
# and the work per image stays bounded however large the upload is.
WORK_SIZE = 384
# open_image() notes in image.info[SOURCE_SCALE] how many of the file's pixels one decoded pixel
# spans (above 1 when a large image was decoded reduced), so boxes can be given in the file's.
SOURCE_SCALE = "mnistlab.source_scale"

ImageSource = str | Path | bytes | IO[bytes] | Any  # Any: a PIL.Image.Image


class ImageError(MnistlabError):
    """The input is not a readable image (unknown format, truncated, corrupt)."""


class ImageTooLargeError(ImageError):
    """The image's header announces more pixels than the limit allows."""


def _pil():
    try:
        from PIL import Image, ImageOps
    except ModuleNotFoundError:
        raise MnistlabError("reading images needs Pillow: pip install 'mnistlab[image]'") from None
    return Image, ImageOps


def _describe(source: ImageSource) -> str:
    return str(source) if isinstance(source, (str, Path)) else "image"


def _empty(source: Any) -> bool:
    """Whether the file or buffer Pillow could not identify holds no bytes at all."""
    if isinstance(source, (str, Path)):
        return Path(source).is_file() and Path(source).stat().st_size == 0
    if isinstance(source, io.BytesIO):
        return source.getbuffer().nbytes == 0
    return False


def _too_large(source: ImageSource, exc: Exception) -> ImageTooLargeError:
    """Pillow's own limit (its decompression-bomb check, which it applies before ours and which
    --max-pixels cannot lift), said with the sizes Pillow gives."""
    # Pillow: "Image size (3600000000 pixels) exceeds limit of 178956970 pixels, ..."
    sizes = [
        int(size or limit)
        for size, limit in re.findall(r"\((\d+) pixels\)|limit of (\d+)", str(exc))
    ]
    if len(sizes) == 2:
        return ImageTooLargeError(
            f"{_describe(source)}: image is {sizes[0]:,} pixels, over the limit of {sizes[1]:,} "
            "that Pillow decodes; make it smaller"
        )
    return ImageTooLargeError(f"{_describe(source)}: image is too large to decode")


# Pillow's names for a JPEG file (a phone's photo with a depth map or a preview is "MPO")
JPEG_FORMATS = ("JPEG", "MPO")
# Modes Pillow's reduce() handles; others (palette, 1-bit, 16-bit) are small or rare enough.
REDUCIBLE = ("L", "LA", "RGB", "RGBA", "RGBa", "La", "I", "F", "CMYK", "YCbCr")


def reduce_early(image, factor: int | None = None):
    """Box-average a large decoded image by an integer factor to at most 2 x WORK_SIZE on its
    longer side, before any per-pixel work in NumPy: the float copies that follow would cost
    ~30 bytes per source pixel (a 30-megapixel PNG: ~1 GB), the reduced image a few MB. The
    analysis reduces to WORK_SIZE by area averaging anyway; a digit or a number that is small in
    the photo is looked at again in a crop of the file itself where open_with_detail opened it
    (FullDetail), else in a crop of this image. `factor`: reduce by this much instead."""
    if factor is None:
        factor = max(image.size) // (2 * WORK_SIZE)
    if factor < 2:
        return image
    if image.mode in ("P", "PA"):  # a palette cannot be averaged; its colours can
        image = image.convert("RGBA")
    elif image.mode == "1":
        image = image.convert("L")
    if image.mode not in REDUCIBLE:
        return image  # 16-bit integer modes: to_gray scales them by their own range
    return image.reduce(factor)


def open_image(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Decode the first frame of any Pillow-readable image, upright (EXIF orientation applied).

    The pixel count is checked from the header, before any pixel data is decoded.
    """
    Image, ImageOps = _pil()
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = io.BytesIO(bytes(source))
        try:
            image = Image.open(source)  # lazy: reads the header only
        except FileNotFoundError:
            raise ImageError(f"{_describe(source)}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"{_describe(source)}: is a folder, not an image") from None
        except Image.DecompressionBombError as exc:
            raise _too_large(source, exc) from None
        except Exception as exc:  # UnidentifiedImageError and the decoders' assorted errors
            if _empty(source):
                raise ImageError(f"{_describe(source)}: the file is empty (0 bytes)") from None
            message = f"{_describe(source)}: not a readable image ({_reason(exc)})"
            raise ImageError(message) from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{_describe(source)}: image is {width}x{height} = "
            f"{width * height:,} pixels, over the limit of {max_pixels:,}"
        )
    if width == 0 or height == 0:
        raise ImageError(f"{_describe(source)}: image has no pixels")
    if image.format in JPEG_FORMATS and image is not source:  # a caller's image stays as it is
        # Decode at 1/2, 1/4 or 1/8 scale when that still leaves WORK_SIZE pixels: much faster.
        image.draft(image.mode, (WORK_SIZE, WORK_SIZE))
    try:
        image.load()  # the first frame of an animated GIF or WebP
        decoded = ImageOps.exif_transpose(reduce_early(image))
        # draft() and reduce_early() shrink both sides by the same factor
        decoded.info[SOURCE_SCALE] = max(width, height) / max(decoded.size)
        return decoded
    except Image.DecompressionBombError as exc:
        raise _too_large(source, exc) from None
    except Exception as exc:  # truncated data, bad EXIF, broken palettes: all "unreadable"
        raise ImageError(f"{_describe(source)}: cannot decode the image ({_reason(exc)})") from None


# EXIF orientation tag: 1 means the pixels are stored upright
ORIENTATION = 0x0112


class FullDetail:
    """The file behind an image that open_image decoded reduced, decoded again where a closer
    look needs the file's own pixels. A digit 20-30 px tall in a 4000x3000 JPEG (decoded at
    1/4) is 5-7 px tall in the decoded image, too few to read; the region of the file around it
    has all of them. Each call decodes the whole file again (grey, and at a JPEG's reduced scale
    where that still gives the pixels asked for) and keeps only the region."""

    def __init__(
        self,
        reopen: Callable[[], Any],
        decoded_size: tuple[int, int],
        scale: float,
        owned: bool,
        closes: bool,
    ) -> None:
        self._reopen = reopen  # the file as a PIL image
        self._owned = owned  # reopen() opened it anew (else it is the caller's: not changed)
        self._closes = closes  # ...from a file of its own, closed after (a caller's stream is
        # not: Pillow's close() closes the stream it read)
        self.scale = scale  # file pixels per decoded pixel
        self._size = tuple(v * scale for v in decoded_size)  # the file's upright size, roughly

    def gray_region(
        self, box: tuple[float, float, float, float], longest: int | None = None
    ) -> np.ndarray | None:
        """The region `box` (left, top, right, bottom, in the decoded image's pixels) of the
        file at the file's resolution, or, with `longest`, box-averaged by a whole factor to
        between `longest` and twice that on its longer side where the file has more, as
        to_gray gives it; None when the file cannot be decoded again (the caller keeps its
        reduced view)."""
        _, ImageOps = _pil()
        left, top, right, bottom = (v * self.scale for v in box)
        reduce = 1  # file pixels per pixel wanted, whole
        if longest is not None:
            reduce = max(1, int(max(right - left, bottom - top) // longest))
        try:
            image = self._reopen()
        except Exception:  # noqa: BLE001 - it opened once; if it no longer does (a file
            # replaced, a stream changed), the reduced view stands
            return None
        try:
            try:
                if self._owned and image.format in JPEG_FORMATS:
                    # grey, at the smallest of 1, 1/2, 1/4, 1/8 scale that keeps `reduce`
                    image.draft("L", (image.width // reduce, image.height // reduce))
                image.load()
                upright = image
                if image.getexif().get(ORIENTATION, 1) != 1:
                    upright = ImageOps.exif_transpose(image)
            except Exception:  # noqa: BLE001 - as above: it decoded once, and may not again
                return None
            return self._crop(upright, (left, top, right, bottom), reduce)
        finally:
            if self._closes:
                image.close()

    def _crop(
        self, image, box: tuple[float, float, float, float], reduce: int
    ) -> np.ndarray | None:
        decoded = image.width / self._size[0]  # 1, or a JPEG's draft scale
        if abs(image.height - self._size[1] * decoded) > self.scale:
            return None  # not the image decoded (a caller's image changed since)
        still = int(reduce * decoded)  # this image's pixels per pixel wanted
        if still >= 2:  # before the crop: no full-size copy
            image = reduce_early(image, still)
            decoded = image.width / self._size[0]
        left, top, right, bottom = box
        crop = (
            max(0, int(np.floor(left * decoded))),
            max(0, int(np.floor(top * decoded))),
            min(image.width, int(np.ceil(right * decoded))),
            min(image.height, int(np.ceil(bottom * decoded))),
        )
        if crop[2] <= crop[0] or crop[3] <= crop[1]:
            return None
        whole = crop == (0, 0, image.width, image.height)
        return to_gray(image if whole else image.crop(crop))


@dataclass(frozen=True)
class Opened:
    """An image as open_image decodes it, and the file behind it where it was decoded
    reduced (None otherwise, or for a stream that cannot be read again)."""

    image: Any  # PIL.Image.Image
    detail: FullDetail | None


def open_with_detail(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS) -> Opened:
    """open_image, and a FullDetail of the file where it was decoded reduced."""
    Image, _ = _pil()
    image = open_image(source, max_pixels)
    scale = float(image.info.get(SOURCE_SCALE, 1.0))
    if scale <= 1.0:
        return Opened(image, None)
    if isinstance(source, Image.Image):
        original = source
        detail = FullDetail(lambda: original, image.size, scale, owned=False, closes=False)
        return Opened(image, detail)
    if isinstance(source, (str, Path)):
        path = source

        def reopen():
            return Image.open(path)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)

        def reopen():
            return Image.open(io.BytesIO(data))
    elif hasattr(source, "seekable") and source.seekable():
        stream = source

        def reopen_stream():
            stream.seek(0)  # where Pillow reads an image from
            return Image.open(stream)

        detail = FullDetail(reopen_stream, image.size, scale, owned=True, closes=False)
        return Opened(image, detail)
    else:
        return Opened(image, None)  # a pipe: read once only
    return Opened(image, FullDetail(reopen, image.size, scale, owned=True, closes=True))


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n")[0]
    # Pillow names the in-memory buffer in its message; the user only needs the gist.
    if "cannot identify image file" in text:
        return "unknown format"
    return text[:120] or type(exc).__name__


def to_gray(image) -> np.ndarray:
    """A float32 (H, W) array in 0..1, 0 = black. Transparency is composited on white, or on
    black when the visible content is itself white (white ink on a transparent canvas)."""
    Image, _ = _pil()
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float32)
        if not np.isfinite(values).all():  # float TIFFs can hold NaN and infinity
            raise ImageError("image: holds NaN or infinite pixel values; send finite values")
        top = 65535.0 if mode.startswith("I;16") else max(float(values.max()), 1.0)
        return np.clip(values / top, 0.0, 1.0)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if not has_alpha:
        if mode not in ("L", "RGB"):
            image = image.convert("RGB")  # CMYK, YCbCr, P, 1, HSV, LAB...
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    alpha = rgba[..., 3]
    luma = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as "L"
    on_white = luma * alpha + (1.0 - alpha)
    if np.ptp(on_white) < 0.1 and np.ptp(alpha) >= 0.1:
        return luma * alpha  # the content vanished on white: it is light, so show it on black
    return on_white
