"""What schemathesis cannot know from the schema: what a readable image is. The API's schema
names it by a format (serve.schemas: IMAGE_BASE64 for base64 strings, IMAGE_BINARY for uploaded
files, and image/* bodies); here those generate real PNG and JPEG images, blank or with a
stroke, of a few sizes, so a schema-valid request is one the server can answer.

Loaded by `SCHEMATHESIS_HOOKS=schemathesis_hooks` (this folder on PYTHONPATH); run by hand:
    PYTHONPATH=tests/serve SCHEMATHESIS_HOOKS=schemathesis_hooks \
        st run http://127.0.0.1:8000/openapi.json --checks all
"""

from __future__ import annotations

import base64
import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from mnistlab.serve.schemas import IMAGE_BASE64, IMAGE_BINARY


@st.composite
def images(draw: st.DrawFn) -> bytes:
    width, height = draw(st.integers(1, 96)), draw(st.integers(1, 96))
    paper, ink = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    image = Image.new("L", (width, height), paper)
    if draw(st.booleans()):  # a stroke; without one the image is blank, also an answer
        box = sorted(draw(st.tuples(st.integers(0, width), st.integers(0, width))))
        rows = sorted(draw(st.tuples(st.integers(0, height), st.integers(0, height))))
        ImageDraw.Draw(image).ellipse([box[0], rows[0], box[1], rows[1]], outline=ink, width=3)
    buffer = io.BytesIO()
    image.save(buffer, format=draw(st.sampled_from(["PNG", "JPEG"])))
    return buffer.getvalue()


def _base64(data: bytes, data_url: bool) -> str:
    text = base64.b64encode(data).decode("ascii")
    return "data:image/png;base64," + text if data_url else text


schemathesis.openapi.format(IMAGE_BASE64, st.builds(_base64, images(), st.booleans()))
schemathesis.openapi.format(IMAGE_BINARY, images())
schemathesis.openapi.media_type("image/*", images())
