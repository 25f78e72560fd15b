"""The API's OpenAPI description, generated from the one definition of each request
(serve.inputs.Body) and each answer (inference.PredictionDict, the TypedDicts here).

Nothing here runs per request: the endpoints build their JSON themselves, and these types only
make the schema (tests/serve/test_schema.py checks the live server against it)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from mnistlab.inference.predictor import PredictionDict
from mnistlab.serve.inputs import PIXELS, Body

DOCSTRINGS = ConfigDict(use_attribute_docstrings=True)

# The format of a base64 image string and of an uploaded image file: no JSON Schema keyword can
# say "a readable image", so the format names it (the schema test generates real images for it).
IMAGE_BASE64 = "image-base64"
IMAGE_BINARY = "binary"


@with_config(DOCSTRINGS)
class ErrorOut(TypedDict):
    error: str
    """a short code, e.g. not_an_image, body_too_large"""
    message: str
    """what was wrong, for a person"""


@with_config(DOCSTRINGS)
class BatchOut(TypedDict):
    results: list[PredictionDict | ErrorOut]
    """one entry per image, in order: an answer, or the error for an image that is not readable"""


@with_config(DOCSTRINGS)
class ModelEntry(TypedDict):
    name: str
    """what ?model= takes"""
    default: bool
    """whether it answers requests that name no model"""
    source: str
    """named: given when the server started; runs: a run folder of the watched folder (serve
    --runs DIR), loaded when first asked for"""
    loaded: bool
    """held in memory now (a watched folder's model is dropped when more than max_models are
    held, and loaded again when next asked for)"""


@with_config(DOCSTRINGS)
class ModelsOut(TypedDict):
    default: str
    """the model that answers requests naming none"""
    models: list[ModelEntry]
    """every model a request may name with ?model=, the named ones first"""
    max_models: int
    """the most held in memory at once"""
    watching: bool
    """whether a folder of run folders is watched: one written there later appears here"""


def no_digit(message: str) -> PredictionDict:
    """The answer when no digit is found: every field of PredictionDict null, none in top_k
    (and no `explanation`, which only ?explain=true adds)."""
    answer: dict[str, Any] = dict.fromkeys(
        k for k in PredictionDict.__annotations__ if k != "explanation"
    )
    return {**answer, "top_k": [], "message": message, "reason": message}  # type: ignore[typeddict-item]


ERRORS = {
    400: "not an image, bad base64 or JSON, wrong pixels, missing or conflicting field, "
    "unknown model",
    408: "the request body took too long to arrive",
    409: "the model named cannot be loaded now (its folder is being written, or damaged)",
    413: "request body, or the image's pixel count, over the limit",
    415: "unsupported content type",
    503: "overloaded: too many requests at once (see Retry-After)",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in ERRORS.items()
}

_PIXELS = {
    "type": "array",
    "items": {"type": "number", "minimum": 0, "maximum": 255},
    "minItems": PIXELS,
    "maxItems": PIXELS,
    "description": "28x28 row-major, white ink on black, 0..255 (or 0..1 when none exceeds 1)",
}
_IMAGE = {
    "type": "string",
    "format": IMAGE_BASE64,
    "minLength": 4,  # one base64 group
    "description": "a PNG/JPEG/... image in base64 (whole 4-character groups, '=' padded), "
    "or a data: URL of one",
}
_FILE = {"type": "string", "format": IMAGE_BINARY, "description": "a PNG/JPEG/... image"}
_JSON_FIELDS = {"image": _IMAGE, "pixels": _PIXELS, "images": _IMAGE}


def request_body(body: Body, max_batch: int) -> dict[str, Any]:
    """The OpenAPI requestBody (for openapi_extra) of an endpoint that reads `body`."""

    def many(schema: dict[str, Any]) -> dict[str, Any]:
        if not body.batch:
            return schema
        return {"type": "array", "items": schema, "minItems": 1, "maxItems": max_batch}

    fields = {name: many(_JSON_FIELDS[name]) for name in body.fields}
    json_schema: dict[str, Any] = {"type": "object", "properties": fields}
    if len(fields) > 1:  # exactly one of them: a body with both is refused
        json_schema["oneOf"] = [{"required": [name]} for name in fields]
    else:
        json_schema["required"] = list(fields)
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [body.multipart],
                "properties": {body.multipart: many(_FILE)},
            }
        },
        "application/json": {"schema": json_schema},
    }
    if body.raw:
        content["image/*"] = {"schema": _FILE}
    return {"requestBody": {"required": True, "content": content}}


def _flag(name: str, default: bool, description: str) -> dict[str, Any]:
    """An optional boolean query parameter, as OpenAPI writes it."""
    schema = {"type": "boolean", "default": default}
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


# ?reject=false: the best guess answers where the model would say "not sure"
REJECT_PARAMETER = _flag(
    "reject",
    True,
    'false: answer the best guess as the digit where the model would say "not sure" (digit '
    'null); true (the default): say "not sure", with the reason and the guess',
)

# ?explain=true: each answer carries `explanation` (nearest training digits and a saliency map)
EXPLAIN_PARAMETER = _flag(
    "explain",
    False,
    "true: each answer gains `explanation`, the nearest training digits in the model's feature "
    "bank and a saliency map over the 28x28 input (a few ms of CPU a digit); false (the "
    "default): no explanation, and no cost",
)


def model_parameter(names: list[str]) -> dict[str, Any]:
    """The optional ?model= query parameter; its enum is the `names` served now (the app
    refreshes it when a watched folder gains or loses a model: serve.app._openapi)."""
    return {
        "name": "model",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": list(names)},
        "description": "the model that answers (GET /api/models lists them); default: the "
        "server's default model",
    }
