"""The web app: a drawing page and a JSON API around one Predictor.

Every bad request gets a 4xx JSON body {"error": code, "message": text}; a blank image is not an
error but an answer with "digit": null.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from mnistlab import __version__
from mnistlab.inference.images import DEFAULT_MAX_PIXELS
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.preprocess import NoDigitError, pixels_from_values, preprocess
from mnistlab.serve.admission import Admission, Overloaded, declared_pixels
from mnistlab.serve.inputs import ApiError, Item, image_errors, read_items
from mnistlab.serve.limits import BodyLimitMiddleware
from mnistlab.serve.reading import ReadOut, read_item
from mnistlab.serve.schemas import (
    BATCH_BODY,
    ERROR_RESPONSES,
    PREDICT_BODY,
    BatchOut,
    PredictionOut,
)

STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_BODY = 5_000_000
DEFAULT_MAX_BATCH = 64
# The page loads nothing from elsewhere; the browser enforces that, and it blocks injected scripts.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
    "style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'"
)
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def create_app(
    model: str | Path | Predictor,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_batch: int = DEFAULT_MAX_BATCH,
    read_timeout: float = 30.0,
    body_deadline: float = 60.0,
    admission: Admission | None = None,
) -> FastAPI:
    """The app for a model folder (or a ready Predictor). Limits: request body bytes, decoded
    image pixels (checked from the image header), images per batch request, seconds a client
    may stall while sending its body and seconds the whole body may take, and the `admission`
    control (requests and decoded pixels at once; default: see default_admission)."""
    predictor = model if isinstance(model, Predictor) else Predictor.from_path(model)
    admission = admission or default_admission(max_pixels)
    app = FastAPI(
        title="mnistlab",
        version=__version__,
        description=f"Handwritten-digit recognition with `{predictor.name}`.",
    )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=max_body_bytes,
        read_timeout=read_timeout,
        deadline=body_deadline,
    )
    _add_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    limits = {"max_body_bytes": max_body_bytes, "max_pixels": max_pixels, "max_batch": max_batch}

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/model")
    async def model_info() -> dict[str, Any]:
        return {**predictor.describe(), "limits": limits}

    @app.post(
        "/api/predict",
        response_model=PredictionOut,
        responses=ERROR_RESPONSES,
        openapi_extra=PREDICT_BODY,
    )
    async def predict(request: Request) -> dict[str, Any]:
        """One image: multipart field `file`, JSON {"image": base64} or {"pixels": [784]}, or a
        raw image body (Content-Type image/*)."""
        item = (await read_items(request, batch=False, max_batch=1))[0]
        async with admission.slot(declared_pixels([item], max_pixels)):
            return await run_in_threadpool(_predict_one, predictor, item, max_pixels)

    @app.post(
        "/api/predict/batch",
        response_model=BatchOut,
        responses=ERROR_RESPONSES,
        openapi_extra=BATCH_BODY,
    )
    async def predict_batch(request: Request) -> dict[str, Any]:
        """Several images: multipart fields `files`, JSON {"images": [base64...]} or
        {"pixels": [[784]...]}. A bad image gets an error entry; the others are still answered."""
        items = await read_items(request, batch=True, max_batch=max_batch)
        async with admission.slot(declared_pixels(items, max_pixels)):
            results = await run_in_threadpool(_predict_many, predictor, items, max_pixels)
        return {"results": results}

    @app.post(
        "/api/read",
        response_model=ReadOut,
        responses=ERROR_RESPONSES,
        openapi_extra=PREDICT_BODY,
    )
    async def read(request: Request) -> dict[str, Any]:
        """The number written on one line in one image (multipart field `file`, JSON
        {"image": base64}, or a raw image body): the string and each digit's box."""
        item = (await read_items(request, batch=False, max_batch=1))[0]
        async with admission.slot(declared_pixels([item], max_pixels)):
            return await run_in_threadpool(read_item, predictor, item, max_pixels)

    return app


def default_admission(max_pixels: int, processes: int = 1) -> Admission:
    """One request decoding per core plus a queue of 32 per core; decoded pixels in flight
    bounded by the larger of 2 near-limit images' worth and 12 MP. With several server
    processes (--workers) they share these. Measured (tests/serve/test_attack.py): 40
    simultaneous near-limit images keep the server under 1.5 GB. The queue is long enough for
    32 clients at once without a 503 (a queued request holds only its body, at most
    --max-body-bytes; what it decodes waits for the pixel budget)."""
    cores = max(1, os.cpu_count() or 1)
    share = max(1, processes)
    return Admission(
        max_active=max(1, cores // share),
        max_waiting=max(1, 32 * cores // share),
        pixel_budget=max(12_000_000, 2 * max_pixels) // share,
    )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return JSONResponse(
            {"error": "overloaded", "message": str(exc)},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "bad_request", "message": str(exc.errors()[:3])}, status_code=400
        )


def _digit_pixels(item: Item, max_pixels: int):
    """The 28x28 uint8 digit for one item; ApiError for bad input, NoDigitError for blank."""
    with image_errors("not_an_image" if item.image is not None else "invalid_pixels"):
        if item.image is None:
            return pixels_from_values(item.pixels)
        return preprocess(item.image, max_pixels=max_pixels).pixels


def _no_digit(message: str) -> dict[str, Any]:
    return {
        "digit": None,
        "label": None,
        "confidence": None,
        "probabilities": None,
        "top_k": [],
        "preview_png_base64": None,
        "message": message,
        "guess": None,
        "reason": message,
    }


def _answer(prediction) -> dict[str, Any]:
    return {
        **prediction.to_dict(),
        "preview_png_base64": png_base64(prediction.pixels),
        "message": None,
    }


def _predict_one(predictor: Predictor, item: Item, max_pixels: int) -> dict[str, Any]:
    try:
        pixels = _digit_pixels(item, max_pixels)
    except NoDigitError as exc:
        return _no_digit(str(exc))
    return _answer(predictor.predict_pixels(pixels[None])[0])


def _predict_many(predictor: Predictor, items: list[Item], max_pixels: int) -> list[dict]:
    results: list[dict[str, Any] | None] = []
    ready, where = [], []
    for index, item in enumerate(items):
        try:
            ready.append(_digit_pixels(item, max_pixels))
            where.append(index)
            results.append(None)
        except NoDigitError as exc:
            results.append(_no_digit(str(exc)))
        except ApiError as exc:
            results.append({"error": exc.code, "message": exc.message})
    if ready:  # one forward pass for every readable image
        for index, prediction in zip(where, predictor.predict_pixels(ready), strict=True):
            results[index] = _answer(prediction)
    return results  # type: ignore[return-value]


def png_base64(pixels) -> str:
    """A 28x28 uint8 array as a base64 PNG (a few hundred bytes)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
