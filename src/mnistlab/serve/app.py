"""The web app: a drawing page and a JSON API around a Predictor, or several that a request
picks from with ?model=NAME (serve.models).

Every bad request gets a 4xx JSON body {"error": code, "message": text}; a blank image is not an
error but an answer with "digit": null.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, request_response

from mnistlab.inference.field import NoDigitError, pixels_from_values
from mnistlab.inference.images import DEFAULT_MAX_PIXELS
from mnistlab.inference.predictor import Prediction, PredictionDict, Predictor
from mnistlab.inference.preprocess import preprocess
from mnistlab.inference.reading import reading_rule
from mnistlab.serve.admission import Admission, Overloaded, declared_pixels
from mnistlab.serve.batching import DEFAULT_MAX_WAIT
from mnistlab.serve.inputs import IMAGE, MANY, ONE, ApiError, Body, Item, image_errors, read_items
from mnistlab.serve.limits import BodyLimitMiddleware
from mnistlab.serve.models import DEFAULT_MAX_MODELS, Prepare, Served, Shelf, model_name
from mnistlab.serve.reading import ReadOut, read_item
from mnistlab.serve.schemas import (
    ERROR_RESPONSES,
    EXPLAIN_PARAMETER,
    REJECT_PARAMETER,
    BatchOut,
    ModelsOut,
    model_parameter,
    no_digit,
    request_body,
)
from mnistlab.version import __version__

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


ModelSpec = str | Path | Predictor  # a folder, a shipped name, or a ready Predictor


def create_app(
    model: ModelSpec | Mapping[str, ModelSpec],
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_batch: int = DEFAULT_MAX_BATCH,
    read_timeout: float = 30.0,
    body_deadline: float = 60.0,
    admission: Admission | None = None,
    batch_wait: float = DEFAULT_MAX_WAIT,
    collect_dir: str | Path | None = None,
    collect_max: int | None = None,
    runs_dir: str | Path | None = None,
    max_models: int = DEFAULT_MAX_MODELS,
    prepare: Prepare | None = None,
) -> FastAPI:
    """The app for a model folder (or a ready Predictor), or for several by name (the first
    the default; ?model=NAME picks one), plus, given `runs_dir`, every run folder in it,
    loaded through `prepare` when first asked for, `max_models` held at most (serve.models).

    Limits: request body bytes, decoded image pixels (checked from the image header), images
    per batch request, seconds a client may stall while sending its body and seconds the
    whole body may take, and the `admission`
    control (requests and decoded pixels at once; default: see default_admission). Digits of
    concurrent requests share forward passes, each waiting at most `batch_wait` seconds for
    others to join (see mnistlab.serve.batching). `collect_dir`: POST /api/collect stores
    labelled drawings there (mnistlab.serve.collect), at most `collect_max` digits (default
    serve.collect.DEFAULT_MAX_DIGITS); None: no such route."""
    shelf = Shelf(
        _predictors(model),
        runs_dir=runs_dir,
        max_models=max_models,
        prepare=prepare,
        batch_wait=batch_wait,
    )
    # the default model: a request without a query string gets it without a look-up
    default = shelf.default
    admission = admission or default_admission(max_pixels)
    app = FastAPI(
        title="mnistlab",
        version=__version__,
        description=f"Handwritten-digit recognition with `{default.name}`"
        + (" and others (GET /api/models)." if runs_dir or len(shelf.held) > 1 else "."),
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

    # ?model=: its enum, the names served now, is refreshed with the document (_openapi)
    model_choice = model_parameter(shelf.names())
    _openapi(app, shelf, model_choice)

    async def named(request: Request) -> Served:
        """The model a request names with ?model= (default: the default). Without a query
        string, the common case, `default` without parsing one."""
        if not request.scope["query_string"]:
            return default
        return await shelf.pick(request.query_params.get("model"))

    model_errors = {k: v for k, v in ERROR_RESPONSES.items() if k in (400, 409)}

    @app.get("/api/model", responses=model_errors, openapi_extra={"parameters": [model_choice]})
    async def model_info(request: Request) -> dict[str, Any]:
        """The model that answers (?model=NAME: that one): its model.json facts, the server's
        limits and its batching so far."""
        served = await named(request)
        batcher = served.batcher
        batching = {
            "max_wait_ms": 1000 * batcher.max_wait,
            "max_batch": batcher.max_batch,
            "batches": batcher.batches,
            "digits": batcher.digits,
        }
        info = {**served.predictor.describe(), "name": served.name, "limits": limits}
        # the page shows its controls
        return info | {"batching": batching, "collect": collect_dir is not None}

    @app.get("/api/models", response_model=ModelsOut)
    async def models() -> dict[str, Any]:
        """The models a request may name with ?model=, and which answers by default."""
        return shelf.listing()

    def post(path: str, body: Body, answer: Any, parameters: tuple = (REJECT_PARAMETER,)):
        """Register `path` once: documented by FastAPI from `body`, `answer` and the query
        `parameters`, answered by the endpoint alone (PlainRoute)."""

        def register(endpoint):
            app.router.add_api_route(
                path, endpoint, methods=["POST"], response_model=answer,
                responses=ERROR_RESPONSES,
                openapi_extra={**request_body(body, max_batch), "parameters": list(parameters)},
                route_class_override=PlainRoute,
            )  # fmt: skip
            return endpoint

        return register

    async def explained(
        predictor: Predictor, answers: list[Any], predictions: list[Prediction]
    ) -> None:
        """?explain=true: each answer gains its explanation, computed in the thread pool (a
        few ms of CPU a digit) within an admission slot, as decoding is."""
        async with admission.slot(0):
            found = await run_in_threadpool(_explanations, predictor, predictions)
        for answer, explanation in zip(answers, found, strict=True):
            answer["explanation"] = explanation

    predict_parameters = (REJECT_PARAMETER, EXPLAIN_PARAMETER, model_choice)

    @post("/api/predict", ONE, PredictionDict, predict_parameters)
    async def predict(request: Request) -> Response:
        """One image: multipart field `file`, JSON {"image": base64} or {"pixels": [784]}, or a
        raw image body (Content-Type image/*). ?explain=true adds `explanation`."""
        reject, explain = rejects(request), explains(request)
        served = await named(request)
        item = (await read_items(request, ONE, max_batch=1))[0]
        try:
            # the admission bounds decoding, the step that costs memory and most of the CPU;
            # the batcher bounds the forward pass (it runs once max_batch digits wait)
            declared = declared_pixels([item], max_pixels)
            async with admission.slot(declared):
                pixels = await _digit_pixels_async(item, max_pixels, declared)
        except NoDigitError as exc:
            return _json(_no_digit(str(exc), explain))
        # ?reject=false: predictions come from the batcher shared by every request, so their
        # "not sure" is undone per request (Predictor.answered)
        prediction = (await served.batcher.run(pixels[None]))[0]
        answer = _answer(prediction if reject else served.predictor.answered(prediction))
        if explain:
            await explained(served.predictor, [answer], [prediction])
        return _json(answer)

    @post("/api/predict/batch", MANY, BatchOut, predict_parameters)
    async def predict_batch(request: Request) -> Response:
        """Several images: multipart fields `files`, JSON {"images": [base64...]} or
        {"pixels": [[784]...]}. An image that cannot be read gets an error entry, and the others
        are still answered; a request that breaks the schema (bad base64 or pixels) is a 400.
        ?explain=true adds `explanation` to each answer."""
        reject, explain = rejects(request), explains(request)
        served = await named(request)
        items = await read_items(request, MANY, max_batch=max_batch)
        async with admission.slot(declared_pixels(items, max_pixels)):
            results, ready = await run_in_threadpool(_digits_of_many, items, max_pixels)
        if ready:  # one forward pass (shared with other requests) for every readable image
            predictions = await served.batcher.run(np.stack(list(ready.values())))
            answered = served.predictor.answered
            answers = [_answer(p if reject else answered(p)) for p in predictions]
            for index, answer in zip(ready, answers, strict=True):
                results[index] = answer
            if explain:
                await explained(served.predictor, answers, predictions)
        if explain:  # the blank images': nothing to explain
            for result in results:
                if result is not None and "error" not in result:
                    result.setdefault("explanation", None)
        return _json({"results": results})

    @post("/api/read", IMAGE, ReadOut, (REJECT_PARAMETER, model_choice))
    async def read(request: Request) -> Response:
        """The number written on one line in one image (multipart field `file`, JSON
        {"image": base64}, or a raw image body): the string and each digit's box."""
        served = await named(request)
        # /api/read runs its own forward passes: with a predictor that never refuses for
        # ?reject=false
        reader = served.predictor if rejects(request) else served.lenient
        item = (await read_items(request, IMAGE, max_batch=1))[0]
        async with admission.slot(declared_pixels([item], max_pixels)):
            return _json(await run_in_threadpool(read_item, reader, item, max_pixels))

    if collect_dir is not None:
        from mnistlab.serve.collect import DEFAULT_MAX_DIGITS, add_collect_route

        add_collect_route(app, collect_dir, PlainRoute, collect_max or DEFAULT_MAX_DIGITS)

    # The API's routes first: each route ahead of a request's costs it a match
    api = [r for r in app.router.routes if isinstance(r, PlainRoute)]
    app.router.routes[:] = api + [r for r in app.router.routes if r not in api]
    return app


def _predictors(model: ModelSpec | Mapping[str, ModelSpec]) -> dict[str, Predictor]:
    """name -> Predictor for create_app's `model`, each loaded now (a bad one fails here)."""
    specs = model if isinstance(model, Mapping) else {None: model}
    loaded = {}
    for name, spec in specs.items():
        predictor = spec if isinstance(spec, Predictor) else Predictor.from_path(spec)
        reading_rule(predictor)  # a string rule this reader cannot use fails here, not later
        if name is None:
            name = predictor.name if isinstance(spec, Predictor) else model_name(spec, predictor)
        loaded[name] = predictor
    return loaded


def _openapi(app: FastAPI, shelf: Shelf, model_choice: dict[str, Any]) -> None:
    """Make the OpenAPI document again when the models served change (a run folder written
    into the watched folder): ?model='s enum says which names a request may give now."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        names = shelf.names()
        if names != model_choice["schema"]["enum"]:
            model_choice["schema"]["enum"] = names
            app.openapi_schema = None  # FastAPI keeps the document it made last
        return make()

    app.openapi = openapi  # type: ignore[method-assign]


class PlainRoute(APIRoute):
    """A route FastAPI documents like any other (the OpenAPI document) but that is answered
    like a plain Starlette route: the endpoint takes the Request and returns the Response, with
    no dependency solving or response validation. FastAPI's request handling cost 40 us a
    request, a tenth of what the pixels payload costs."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any):
        super().__init__(path, endpoint, **kwargs)
        self.app = request_response(endpoint)

    matches = Route.matches  # not APIRoute's, which looks for included routers first
    handle = Route.handle


def rejects(request: Request) -> bool:
    """The request's ?reject=: true (the default) or false; ApiError for another value."""
    if not request.scope["query_string"]:  # the common case, without parsing a query
        return True
    value = request.query_params.get("reject", "true").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"reject must be true or false, not {value[:20]!r}")
    return value in ("true", "1")


def explains(request: Request) -> bool:
    """The request's ?explain=: false (the default) or true; ApiError for another value. No
    query string, the common case, costs nothing to read."""
    if not request.scope["query_string"]:
        return False
    value = request.query_params.get("explain", "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"explain must be true or false, not {value[:20]!r}")
    return value in ("true", "1")


def _explanations(predictor: Predictor, predictions: list[Prediction]) -> list[dict[str, Any]]:
    """The explanations of served predictions as JSON (for the thread pool)."""
    pixels = np.stack([p.pixels for p in predictions])
    found = predictor.explain_pixels(pixels, predictions=predictions)
    return [e.to_dict() for e in found]


def _no_digit(message: str, explain: bool) -> PredictionDict:
    answer = no_digit(message)
    if explain:
        answer["explanation"] = None
    return answer


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


def _digit_pixels(item: Item, max_pixels: int) -> np.ndarray:
    """The 28x28 uint8 digit for one item; ApiError for bad input, NoDigitError for blank."""
    with image_errors("not_an_image" if item.image is not None else "invalid_pixels"):
        if item.image is None:
            return pixels_from_values(item.pixels)
        return preprocess(item.image, max_pixels=max_pixels).pixels


INLINE_PIXELS = 512 * 512  # images up to this size are read on the event loop itself


async def _digit_pixels_async(item: Item, max_pixels: int, declared: int) -> np.ndarray:
    """_digit_pixels, on the event loop for a plain list of 784 values or a small image (the
    page's 280x280 canvas: about 1.5 ms, and the hand-over to a thread and back, with the
    GIL passed each way, cost more CPU than it saved), and in the thread pool for a larger
    image, which could hold the loop long enough to delay everyone else."""
    if item.image is None:
        small = isinstance(item.pixels, list) and len(item.pixels) == 28 * 28
    else:
        small = 0 < declared <= INLINE_PIXELS
    if small:
        return _digit_pixels(item, max_pixels)
    return await run_in_threadpool(_digit_pixels, item, max_pixels)


def _json(payload: Any) -> Response:
    """A JSON answer built here: FastAPI would otherwise validate it against the response
    model first, which cost more than the model's forward pass (the schema still documents it)."""
    return Response(json.dumps(payload).encode(), media_type="application/json")


def _answer(prediction: Prediction) -> PredictionDict:
    return {
        **prediction.to_dict(),
        "preview_png_base64": png_base64(prediction.pixels),
        "message": None,
    }


def _digits_of_many(
    items: list[Item], max_pixels: int
) -> tuple[list[dict[str, Any] | None], dict[int, np.ndarray]]:
    """(answers so far, with None where a digit awaits the model; index -> its 28x28 digit).
    Bad pixels fail the whole request (the schema says what 784 pixels are); an image that
    cannot be read gets its own error entry (no schema can say what a readable image is)."""
    results: list[dict[str, Any] | None] = []
    ready: dict[int, np.ndarray] = {}
    for index, item in enumerate(items):
        try:
            ready[index] = _digit_pixels(item, max_pixels)
            results.append(None)
        except NoDigitError as exc:
            results.append(no_digit(str(exc)))
        except ApiError as exc:
            if item.image is None:
                raise
            results.append({"error": exc.code, "message": exc.message})
    return results, ready


def png_base64(pixels) -> str:
    """A 28x28 uint8 array as a base64 PNG (a few hundred bytes)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
