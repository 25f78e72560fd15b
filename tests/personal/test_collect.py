"""`serve --collect DIR`: POST /api/collect stores labelled drawings; absent without the flag."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from mnistlab.cli import main
from mnistlab.inference.folders import load_image_folder
from mnistlab.serve import create_app


def canvas_png(size: int = 280) -> str:
    """A drawn 1 on a white canvas, as the page sends it (a PNG data URL)."""
    image = Image.new("RGBA", (size, size), "white")
    ImageDraw.Draw(image).line([(140, 40), (140, 240)], fill="black", width=22)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def collecting(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collect")
    app = create_app("lenet5", max_body_bytes=200_000, collect_dir=folder)
    with TestClient(app) as client:
        yield client, folder


def test_collect_stores_the_digit_and_the_drawing(collecting):
    client, folder = collecting
    assert client.get("/api/model").json()["collect"] is True
    answer = client.post("/api/collect", json={"label": 7, "image": canvas_png()})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["label"] == 7 and body["saved"].startswith("7/") and body["count"] >= 1
    digit = folder / body["saved"]
    assert np.asarray(Image.open(digit)).shape == (28, 28)
    assert Image.open(folder / ".canvas" / body["saved"]).size == (280, 280)
    pixels = np.zeros((28, 28))
    pixels[4:24, 13:15] = 255
    sent = client.post(
        "/api/collect", json={"label": 1, "image": canvas_png(), "pixels": pixels.ravel().tolist()}
    )
    assert sent.status_code == 200
    stored = np.asarray(Image.open(folder / sent.json()["saved"]))
    assert (stored == pixels).all()  # the 28x28 the page showed, as it was
    loaded = load_image_folder(folder)  # what finetune reads: the digits, not the drawings
    assert sorted(loaded.split.labels.tolist()) == [1, 7]


@pytest.mark.parametrize(
    "body",
    [
        {"label": 10},
        {"label": -1},
        {"label": "7"},
        {"label": True},
        {"label": 3.5},
        {},
    ],
)
def test_bad_labels_are_refused(collecting, body):
    client, folder = collecting
    before = sorted(folder.rglob("*.png"))
    answer = client.post("/api/collect", json={**body, "image": canvas_png()})
    assert answer.status_code == 400 and answer.json()["error"] == "bad_label"
    assert sorted(folder.rglob("*.png")) == before


def test_bad_images_and_bodies_are_4xx(collecting):
    client, folder = collecting
    before = sorted(folder.rglob("*.png"))
    cases = [
        ({"json": {"label": 3, "image": "bm90IGFuIGltYWdl"}}, 400, "not_an_image"),
        ({"json": {"label": 3, "image": "@@@@"}}, 400, "invalid_base64"),
        ({"json": {"label": 3, "image": canvas_png(), "pixels": [1, 2]}}, 400, "invalid_pixels"),
        ({"json": {"label": 3, "image": canvas_png(), "pixels": [0] * 784}}, 400, "no_digit"),
        ({"content": b"{", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
        ({"content": b"label=3", "headers": {"content-type": "text/plain"}}, 415, None),
        ({"json": {"label": 3, "image": "A" * 400_000}}, 413, "body_too_large"),
        ({"json": {"label": 3, "image": canvas_png(1100)}}, 413, "image_too_large"),
    ]
    for kwargs, status, code in cases:
        answer = client.post("/api/collect", **kwargs)
        assert answer.status_code == status, (kwargs.get("json", {}).keys(), answer.text)
        assert code is None or answer.json()["error"] == code
    assert sorted(folder.rglob("*.png")) == before


def test_without_collect_there_is_no_route_and_no_controls(tmp_path):
    with TestClient(create_app("lenet5")) as client:
        assert client.post(
            "/api/collect", json={"label": 1, "image": canvas_png()}
        ).status_code in (404, 405)
        assert client.get("/api/model").json()["collect"] is False
        assert "/api/collect" not in client.get("/openapi.json").json()["paths"]


def test_the_route_is_documented_with_its_limits(collecting):
    client, _ = collecting
    operation = client.get("/openapi.json").json()["paths"]["/api/collect"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["label"] == {"type": "integer", "minimum": 0, "maximum": 9}
    assert {"400", "413"} <= set(operation["responses"])


def test_a_full_folder_refuses_more_until_some_are_moved_away(tmp_path):
    folder = tmp_path / "mine"
    with TestClient(create_app("lenet5", collect_dir=folder, collect_max=2)) as client:
        saved = [
            client.post("/api/collect", json={"label": d, "image": canvas_png()}) for d in (1, 7)
        ]
        assert [s.status_code for s in saved] == [200, 200]
        before = sorted(folder.rglob("*.png"))
        full = client.post("/api/collect", json={"label": 3, "image": canvas_png()})
        assert full.status_code == 409 and full.json()["error"] == "collect_full"
        assert "2 digits" in full.json()["message"] and "--collect-max" in full.json()["message"]
        assert sorted(folder.rglob("*.png")) == before  # nothing written
        (folder / saved[0].json()["saved"]).unlink()  # the teacher moves one away
        again = client.post("/api/collect", json={"label": 3, "image": canvas_png()})
        assert again.status_code == 200, again.text
        operation = client.get("/openapi.json").json()["paths"]["/api/collect"]["post"]
        assert "409" in operation["responses"]


def test_serve_takes_collect_max(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--collect", str(tmp_path), "--collect-max", "0", "--port", "0"])
    assert exited.value.code == 2 and "--collect-max" in capsys.readouterr().err
