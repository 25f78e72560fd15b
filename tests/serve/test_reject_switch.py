"""?reject=false on the API: the best guess answers where the model would say "not sure"."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from mnistlab.serve import create_app


def _scribble() -> bytes:
    """A circle crossed twice: refused by the shipped model as no digit."""
    image = Image.new("L", (200, 200), 255)
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 40, 160, 160), outline=0, width=14)
    draw.line((40, 40, 160, 160), fill=0, width=14)
    draw.line((40, 160, 160, 40), fill=0, width=14)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app("sota-cpu")) as client:
        yield client


def test_reject_false_answers_the_guess(client):
    files = {"file": ("s.png", _scribble())}
    refused = client.post("/api/predict", files=files).json()
    assert refused["digit"] is None and refused["reason"]
    for query in ("?reject=false", "?reject=0", "?reject=False"):
        answered = client.post("/api/predict" + query, files=files).json()
        assert answered["digit"] == refused["guess"] and answered["reason"] is None
    assert client.post("/api/predict?reject=true", files=files).json()["digit"] is None


def test_reject_false_in_batches_and_reading(client):
    many = [("files", ("a.png", _scribble())), ("files", ("b.png", _scribble()))]
    results = client.post("/api/predict/batch?reject=false", files=many).json()["results"]
    assert all(r["digit"] is not None and r["reason"] is None for r in results)
    one = {"file": ("s.png", _scribble())}
    assert client.post("/api/read", files=one).json()["sure"] is False
    read = client.post("/api/read?reject=false", files=one).json()
    assert read["sure"] is True and read["digits"][0]["digit"] is not None


def test_a_bad_reject_value_is_a_400(client):
    answer = client.post("/api/predict?reject=maybe", files={"file": ("s.png", _scribble())})
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request" and "reject" in answer.json()["message"]


def test_the_schema_documents_reject(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/predict", "/api/predict/batch", "/api/read"):
        names = [p["name"] for p in paths[path]["post"]["parameters"]]
        assert names == (["reject"] if path == "/api/read" else ["reject", "explain"]) + ["model"]
