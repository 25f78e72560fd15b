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
    from mnistlab.inference.field import NoDigitError
    from mnistlab.inference.images import ImageError, ImageTooLargeError

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


@dataclass(frozen=True)
class Body:
    """What one endpoint reads: its request's one definition. read_items follows it, and the
    OpenAPI document is generated from it (serve/schemas.py), so the two cannot drift apart."""

    multipart: str  # the multipart field that holds the file (or, in a batch, the files)
    fields: tuple[str, ...]  # JSON: a body holds exactly one of these
    raw: bool  # whether a bare image body (Content-Type image/*) is read
    batch: bool  # the JSON fields hold lists, and the answer has one entry per image

    @property
    def media_types(self) -> str:
        return "multipart/form-data or application/json" + (" or image/*" if self.raw else "")


ONE = Body(multipart="file", fields=("image", "pixels"), raw=True, batch=False)
MANY = Body(multipart="files", fields=("images", "pixels"), raw=False, batch=True)
IMAGE = Body(multipart="file", fields=("image",), raw=True, batch=False)
PIXELS = 28 * 28


async def read_items(request: Request, body: Body, max_batch: int) -> list[Item]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        items = await _multipart_items(request, body, max_batch)
    elif media == "application/json" or media.endswith("+json"):
        items = _json_items(await request.body(), body)
    elif media.startswith("image/") and body.raw:
        items = [Item(image=await request.body())]
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {media or '(none)'} is not accepted; send {body.media_types}",
        )
    if not items:
        raise ApiError(400, "missing_field", "no images in the request")
    if len(items) > max_batch:
        raise ApiError(
            400, "too_many_images", f"{len(items)} images in one request; the limit is {max_batch}"
        )
    return items


async def _multipart_items(request: Request, body: Body, max_batch: int) -> list[Item]:
    try:
        form = await request.form(max_files=max_batch + 1, max_fields=max_batch + 10)
    except Exception as exc:  # Starlette raises HTTPException or MultiPartException here
        detail = getattr(exc, "detail", None) or str(exc) or "malformed body"
        raise ApiError(400, "bad_multipart", f"cannot parse the multipart body: {detail}") from None
    # a batch also takes `file`, as clients that send one image to either endpoint do
    names = (body.multipart, "file") if body.batch else (body.multipart,)
    uploads = [v for name in names for v in form.getlist(name)]
    if not uploads:
        wanted = f"`{body.multipart}`" + (" (or `file`)" if body.batch else "")
        raise ApiError(400, "missing_field", f"no file in the multipart field {wanted}")
    items = []
    for upload in uploads:
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "missing_field", "the image must be sent as a file upload")
        items.append(Item(image=await upload.read()))
    return items


def _json_items(raw: bytes, body: Body) -> list[Item]:
    data = _json_object(raw)
    present = [name for name in body.fields if name in data]
    if len(present) != 1:
        raise _field_error(data, body, present)
    name = present[0]
    value = data[name]
    if not body.batch:
        return [Item(image=_b64(value))] if name == "image" else [Item(pixels=value)]
    if not isinstance(value, list):
        raise ApiError(400, "missing_field", f'"{name}" must be a list, one entry per image')
    if name == "images":
        return [Item(image=_b64(v, i)) for i, v in enumerate(value)]
    return [Item(pixels=v) for v in value]


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ApiError(400, "invalid_json", "the JSON is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON ({exc})") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
        raise ApiError(400, "invalid_json", f"the JSON holds an unreadable value ({exc})") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "expected a JSON object")
    return data


def _field_error(data: dict[str, Any], body: Body, present: list[str]) -> ApiError:
    if present:
        both = " and ".join(f'"{name}"' for name in present)
        return ApiError(400, "conflicting_fields", f"send one of {both}, not both")
    if "pixels" in data and "pixels" not in body.fields:
        return ApiError(400, "image_required", "reading a number needs an image, not 784 pixels")
    shapes = {
        "image": '{"image": base64}',
        "images": '{"images": [base64...]}',
        "pixels": f'{{"pixels": [{PIXELS} numbers]}}' if not body.batch else
        f'{{"pixels": [[{PIXELS} numbers]...]}}',
    }  # fmt: skip
    return ApiError(400, "missing_field", "expected " + " or ".join(shapes[f] for f in body.fields))


def _b64(value: Any, index: int | None = None) -> bytes:
    """The bytes of a base64 string (or data: URL) as the schema describes it: not empty, whole
    4-character groups, at most two '=' at the end."""
    where = "" if index is None else f" (image {index})"
    if not isinstance(value, str):
        raise ApiError(400, "invalid_base64", f"the image must be a base64 string{where}")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]  # a data: URL, as canvas.toDataURL() makes
    # b64decode alone also takes "abcd=" and "abcd===="
    if not value or len(value) % 4 or value.endswith("==="):
        raise ApiError(400, "invalid_base64", f"the image is not valid base64{where}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_base64", f"the image is not valid base64{where}") from None
