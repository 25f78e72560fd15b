"""`serve --collect DIR`: the page's "wrong? it is _" and "save as _" store a drawn digit with
its label as DIR/<label>/<name>.png (ImageFolder's layout, what `finetune` reads), the drawing
itself as DIR/.canvas/<label>/<name>.png. Opt-in: without --collect the route does not exist.

The request is JSON {"label": 0-9, "image": the canvas as base64 PNG, "pixels": optional 784
values, the 28x28 digit the page was shown}; without pixels the server computes them from the
drawing with the same preprocessing as a prediction. Nothing but re-encoded pixels is stored.

The folder holds at most `max_digits` digits (`serve --collect-max`, each with its drawing):
past it a save is refused (409 collect_full) and nothing is written. The digits are counted on
disk at each save (10 folders listed, well under a millisecond for thousands), so digits moved
away make room again and several server processes share one count; within a process saves
are counted and written one at a time, so it is never passed (across processes by at most one
save each).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from mnistlab.inference.folders import DIGITS, save_labelled
from mnistlab.serve.inputs import PIXELS, ApiError, _b64, _json_object, image_errors
from mnistlab.serve.schemas import ERROR_RESPONSES, ErrorOut

MAX_CANVAS_PIXELS = 1024 * 1024  # the page's canvas is 280x280; a drawing needs no more
# a class of 30 giving 100 digits each is 3,000; a canvas PNG is a few KB, the digit 0.3 KB
DEFAULT_MAX_DIGITS = 5000


@with_config(ConfigDict(use_attribute_docstrings=True))
class CollectOut(TypedDict):
    label: int
    """the label stored"""
    saved: str
    """where the digit was stored, relative to the collect folder (label/name.png)"""
    count: int
    """digits stored under this label so far"""


REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["label", "image"],
                    "properties": {
                        "label": {"type": "integer", "minimum": 0, "maximum": 9},
                        "image": {
                            "type": "string",
                            "format": "image-base64",
                            "minLength": 4,
                            "description": "the drawing (canvas) as a base64 PNG or data: URL",
                        },
                        "pixels": {
                            "type": "array",
                            "items": {"type": "number", "minimum": 0, "maximum": 255},
                            "minItems": PIXELS,
                            "maxItems": PIXELS,
                            "description": "the 28x28 digit the page showed; default: "
                            "computed from the drawing",
                        },
                    },
                }
            }
        },
    }
}


COLLECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    409: {"model": ErrorOut, "description": "the collect folder holds its most digits"},
}


def add_collect_route(
    app: FastAPI, folder: str | Path, route_class: type, max_digits: int = DEFAULT_MAX_DIGITS
) -> None:
    """POST /api/collect, storing into `folder` (created now, so a bad path fails at start) at
    most `max_digits` digits."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    store = Store(root, max_digits)

    async def collect(request: Request) -> Response:
        """Store a labelled drawing for a personal model (`mnistlab finetune`)."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise ApiError(415, "unsupported_media_type", "send application/json")
        data = _json_object(await request.body())
        label = data.get("label")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
            raise ApiError(400, "bad_label", "label must be an integer from 0 to 9")
        image = _b64(data.get("image"))
        saved = await run_in_threadpool(store, DIGITS[label], image, data.get("pixels"))
        count = sum(1 for _ in saved.parent.glob("*.png"))
        answer = {"label": label, "saved": f"{saved.parent.name}/{saved.name}", "count": count}
        return Response(json.dumps(answer).encode(), media_type="application/json")

    app.router.add_api_route(
        "/api/collect", collect, methods=["POST"], response_model=CollectOut,
        responses=COLLECT_RESPONSES, openapi_extra=REQUEST_BODY, route_class_override=route_class,
    )  # fmt: skip


class Store:
    """Decodes, checks and writes one digit at a time into `root`, up to `max_digits` (called
    in the thread pool: it decodes and writes files)."""

    def __init__(self, root: Path, max_digits: int):
        self.root, self.max_digits = root, max_digits
        self.lock = threading.Lock()

    def __call__(self, label: str, image: bytes, pixels: Any) -> Path:
        from mnistlab.inference.field import NoDigitError, pixels_from_values
        from mnistlab.inference.images import open_image
        from mnistlab.inference.preprocess import preprocess

        with image_errors("not_an_image" if pixels is None else "invalid_pixels"):
            canvas = open_image(image, MAX_CANVAS_PIXELS)
            try:
                digit = preprocess(canvas).pixels if pixels is None else pixels_from_values(pixels)
            except NoDigitError:
                raise ApiError(400, "no_digit", "the drawing is blank: nothing to store") from None
        with self.lock:
            if stored_digits(self.root) >= self.max_digits:
                raise ApiError(
                    409,
                    "collect_full",
                    f"the collect folder holds {self.max_digits:,} digits, its most (serve "
                    "--collect-max); move some away to store more",
                )
            return save_labelled(self.root, label, digit, canvas.convert("RGBA"))


def stored_digits(root: Path) -> int:
    """The digits stored under root/<label>/ (not their drawings, under root/.canvas)."""
    count = 0
    for label in DIGITS:
        try:
            with os.scandir(root / label) as entries:
                count += sum(1 for e in entries if e.name.endswith(".png"))
        except FileNotFoundError:
            continue
    return count
