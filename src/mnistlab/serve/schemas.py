"""Response shapes and request-body documentation for the OpenAPI page (/docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TopK(BaseModel):
    digit: int
    probability: float


class PredictionOut(BaseModel):
    digit: int | None = Field(
        description="the most probable digit; null when no digit is found or the model is not "
        "sure it is a digit (see `reason`)"
    )
    label: str | None = Field(description="the class name (the digit for MNIST)")
    confidence: float | None = Field(
        description="calibrated probability of the best guess (of `digit` when there is one)"
    )
    probabilities: list[float] | None = Field(description="all ten calibrated probabilities")
    guess: int | None = Field(
        default=None, description="the most probable class, also when not sure"
    )
    reason: str | None = Field(
        default=None, description="why the model is not sure this is a digit, if so"
    )
    top_k: list[TopK] = Field(description="most probable first")
    preview_png_base64: str | None = Field(description="the 28x28 image the model saw, PNG")
    message: str | None = Field(default=None, description="why there is no digit, if so")


class ItemError(BaseModel):
    error: str
    message: str


class BatchOut(BaseModel):
    results: list[PredictionOut | ItemError] = Field(description="one entry per image, in order")


class ErrorOut(BaseModel):
    error: str = Field(description="a short code, e.g. not_an_image, body_too_large")
    message: str = Field(description="what was wrong, for a person")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in {
        400: "not an image, bad base64 or JSON, wrong pixel count, missing field",
        413: "request body or image pixel count over the limit",
        415: "unsupported content type",
    }.items()
}

_PIXELS = {
    "type": "array",
    "items": {"type": "number"},
    "minItems": 784,
    "maxItems": 784,
    "description": "28x28 row-major, white ink on black, 0..255 (or 0..1)",
}

PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["image"],
                            "properties": {
                                "image": {
                                    "type": "string",
                                    "description": "base64 PNG/JPEG/... (a data: URL works)",
                                }
                            },
                        },
                        {
                            "type": "object",
                            "required": ["pixels"],
                            "properties": {"pixels": _PIXELS},
                        },
                    ]
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                }
            },
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["images"],
                            "properties": {
                                "images": {"type": "array", "items": {"type": "string"}}
                            },
                        },
                        {
                            "type": "object",
                            "required": ["pixels"],
                            "properties": {"pixels": {"type": "array", "items": _PIXELS}},
                        },
                    ]
                }
            },
        },
    }
}
