"""POST /api/read: the number written in one image, digit by digit."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mnistlab.inference.predictor import Predictor
from mnistlab.inference.preprocess import NoDigitError
from mnistlab.inference.reading import read_number
from mnistlab.serve.inputs import Item, image_errors


class DigitBox(BaseModel):
    box: list[int] = Field(description="[left, top, right, bottom] in the image's pixels")
    digit: int | None = Field(description="the digit; null when the model is not sure")
    guess: int = Field(description="the most probable digit, also when not sure")
    confidence: float = Field(description="probability of `guess`")
    reason: str | None = Field(default=None, description="why `digit` is null, if it is")


class ReadOut(BaseModel):
    number: str | None = Field(description="the best reading, left to right; null: no ink")
    sure: bool | None = Field(default=None, description="false when any digit is not sure")
    digits: list[DigitBox] = Field(description="one entry per digit, left to right")
    message: str | None = Field(default=None, description="why there is no number, if so")


def read_item(predictor: Predictor, item: Item, max_pixels: int) -> dict[str, Any]:
    """The answer for one image (inputs.IMAGE reads no pixels); ApiError for bad input (a 4xx),
    a blank image is an answer."""
    assert item.image is not None, "the read endpoint takes images only"
    try:
        with image_errors():
            reading = read_number(predictor, item.image, max_pixels)
    except NoDigitError as exc:
        return {"number": None, "sure": None, "digits": [], "message": str(exc)}
    return {**reading.to_dict(), "message": None}
