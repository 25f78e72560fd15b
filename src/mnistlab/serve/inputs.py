"""Reading a request into images: multipart uploads, JSON with base64 or pixels, raw image bodies.

Anything malformed raises ApiError, which the app answers as a 4xx JSON error.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile


class ApiError(Exception):
    """A request the client must fix: answered as {"error": code, "message": message}."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@contextlib.contextmanager
def image_errors(bad_code: str = "not_an_image") -> Iterator[None]:
    """Turn what reading a client's image can raise into 4xx ApiErrors: too many pixels 413,
    unreadable 400 `bad_code`, and anything unforeseen (a bug) logged and answered 400, never a
    500. NoDigitError passes through: a blank image is an answer, not an error."""
    from mnistlab.inference.images import ImageError, ImageTooLargeError
    from mnistlab.inference.preprocess import NoDigitError

    try:
        yield
    except ImageTooLargeError as exc:
        raise ApiError(413, "image_too_large", str(exc).removeprefix("image: ")) from None
    except ImageError as exc:
        raise ApiError(400, bad_code, str(exc).removeprefix("image: ")) from None
    except (NoDigitError, ApiError):
        raise
    except Exception:  # a bug or an input nobody foresaw: log it, but answer the client
        logging.getLogger(__name__).exception("unexpected error while reading an image")
        raise ApiError(400, "unprocessable_image", "this image could not be processed") from None


@dataclass
class Item:
    """One image as received: encoded image bytes, or 784 pixel values."""

    image: bytes | None = None
    pixels: Any = None


async def read_items(request: Request, batch: bool, max_batch: int) -> list[Item]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        items = await _multipart_items(request, batch, max_batch)
    elif media == "application/json" or media.endswith("+json"):
        items = _json_items(await request.body(), batch)
    elif media.startswith("image/") and not batch:
        items = [Item(image=await request.body())]
    else:
        accepted = "multipart/form-data or application/json" + ("" if batch else " or image/*")
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {media or '(none)'} is not accepted; send {accepted}",
        )
    if not items:
        raise ApiError(400, "missing_field", "no images in the request")
    if len(items) > max_batch:
        raise ApiError(
            400, "too_many_images", f"{len(items)} images in one request; the limit is {max_batch}"
        )
    return items


async def _multipart_items(request: Request, batch: bool, max_batch: int) -> list[Item]:
    try:
        form = await request.form(max_files=max_batch + 1, max_fields=max_batch + 10)
    except Exception as exc:  # Starlette raises HTTPException or MultiPartException here
        detail = getattr(exc, "detail", None) or str(exc) or "malformed body"
        raise ApiError(400, "bad_multipart", f"cannot parse the multipart body: {detail}") from None
    names = ("files", "file") if batch else ("file",)
    uploads = [v for name in names for v in form.getlist(name)]
    if not uploads:
        wanted = "`files` (or `file`)" if batch else "`file`"
        raise ApiError(400, "missing_field", f"no file in the multipart field {wanted}")
    items = []
    for upload in uploads:
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "missing_field", "the image must be sent as a file upload")
        items.append(Item(image=await upload.read()))
    return items


def _json_items(body: bytes, batch: bool) -> list[Item]:
    try:
        data = json.loads(body)
    except RecursionError:
        raise ApiError(400, "invalid_json", "the JSON is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON ({exc})") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
        raise ApiError(400, "invalid_json", f"the JSON holds an unreadable value ({exc})") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "expected a JSON object")
    if batch:
        if isinstance(data.get("images"), list):
            return [Item(image=_b64(value, i)) for i, value in enumerate(data["images"])]
        if isinstance(data.get("pixels"), list):
            return [Item(pixels=values) for values in data["pixels"]]
        raise ApiError(
            400,
            "missing_field",
            'expected {"images": [base64...]} or {"pixels": [[784 numbers]...]}',
        )
    if "image" in data:
        return [Item(image=_b64(data["image"]))]
    if "pixels" in data:
        return [Item(pixels=data["pixels"])]
    raise ApiError(400, "missing_field", 'expected {"image": base64} or {"pixels": [784 numbers]}')


def _b64(value: Any, index: int | None = None) -> bytes:
    where = "" if index is None else f" (image {index})"
    if not isinstance(value, str):
        raise ApiError(400, "invalid_base64", f"the image must be a base64 string{where}")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]  # a data: URL, as canvas.toDataURL() makes
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_base64", f"the image is not valid base64{where}") from None
