"""POST /api/read: the number written in one image, digit by digit."""

from __future__ import annotations

from mnistlab.inference.field import NoDigitError
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.reading import ReadingDict, no_reading, read_number
from mnistlab.serve.inputs import Item, image_errors

ReadOut = ReadingDict  # the answer's one definition: its schema is generated from it


def read_item(predictor: Predictor, item: Item, max_pixels: int) -> ReadingDict:
    """The answer for one image (inputs.IMAGE reads no pixels); ApiError for bad input (a 4xx),
    a blank image is an answer."""
    assert item.image is not None, "the read endpoint takes images only"
    try:
        with image_errors():
            reading = read_number(predictor, item.image, max_pixels)
    except NoDigitError as exc:
        return {**no_reading(), "message": str(exc)}
    return {**reading.to_dict(), "message": None}
