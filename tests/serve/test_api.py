"""Every endpoint, and every kind of bad input: always a 4xx JSON answer, never a 500."""

from __future__ import annotations

import base64
import io
import socket
import time

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from mnistlab.errors import MnistlabError
from mnistlab.inference import Predictor
from mnistlab.models import create_model
from mnistlab.serve import create_app

pytestmark = pytest.mark.filterwarnings(
    "ignore::PIL.Image.DecompressionBombWarning"  # tested on purpose
)

MAX_BODY = 100_000
META = {
    "model": "lenet5",
    "config": {},
    "normalization": "mnist",
    "dataset": "mnist",
    "test_acc": 0.99,
    "val_acc": 0.98,
}


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def drawn_digit() -> bytes:
    image = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(image).ellipse([30, 20, 90, 140], outline=0, width=12)
    return png(image)


BLANK = png(Image.new("L", (50, 50), 255))


def huge_header_png(side: int = 10_000) -> bytes:
    """A tiny file whose header claims side x side pixels (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def app():
    torch.manual_seed(0)
    return create_app(
        Predictor(create_model("lenet5"), META),
        max_body_bytes=MAX_BODY,
        max_pixels=1_000_000,
        max_batch=4,
    )


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def assert_prediction(body: dict) -> None:
    assert body["digit"] in range(10) and body["label"] == str(body["digit"])
    assert len(body["probabilities"]) == 10 and abs(sum(body["probabilities"]) - 1) < 1e-5
    assert body["confidence"] == max(body["probabilities"])
    preview = Image.open(io.BytesIO(base64.b64decode(body["preview_png_base64"])))
    assert preview.size == (28, 28)


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code and body["message"], body


def test_healthz_and_model(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    info = client.get("/api/model").json()
    assert info["model"] == "lenet5" and info["test_acc"] == 0.99 and info["config"] == {}
    assert info["limits"]["max_body_bytes"] == MAX_BODY and len(info["classes"]) == 10


def test_page_and_static_assets_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for asset in ("/static/app.js", "/static/style.css"):
        response = client.get(asset)
        assert response.status_code == 200 and "https://" not in response.text


def test_openapi_documents_the_endpoints(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/predict/batch", "/api/model", "/healthz"} <= set(spec["paths"])
    body = spec["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
    assert client.get("/docs").status_code == 200


def test_predict_multipart_json_base64_pixels_and_raw(client):
    data = drawn_digit()
    assert_prediction(client.post("/api/predict", files={"file": ("d.png", data)}).json())
    encoded = base64.b64encode(data).decode()
    assert_prediction(client.post("/api/predict", json={"image": encoded}).json())
    data_url = "data:image/png;base64," + encoded
    assert_prediction(client.post("/api/predict", json={"image": data_url}).json())
    pixels = np.zeros(784)
    pixels[200:500:3] = 255
    assert_prediction(client.post("/api/predict", json={"pixels": pixels.tolist()}).json())
    raw = client.post("/api/predict", content=data, headers={"content-type": "image/png"})
    assert_prediction(raw.json())


def test_blank_image_is_no_digit_not_a_guess(client):
    body = client.post("/api/predict", files={"file": ("b.png", BLANK)}).json()
    assert body["digit"] is None and body["probabilities"] is None
    assert "no digit" in body["message"]


def test_batch(client):
    files = [
        ("files", ("a.png", drawn_digit())),
        ("files", ("b.png", BLANK)),
        ("files", ("c.txt", b"not an image")),
    ]
    results = client.post("/api/predict/batch", files=files).json()["results"]
    assert_prediction(results[0])
    assert results[1]["digit"] is None
    assert results[2]["error"] == "not_an_image"
    encoded = [base64.b64encode(drawn_digit()).decode()] * 2
    results = client.post("/api/predict/batch", json={"images": encoded}).json()["results"]
    assert len(results) == 2 and results[0]["digit"] == results[1]["digit"]
    results = client.post("/api/predict/batch", json={"pixels": [[0] * 784, [0] * 784]})
    assert [r["digit"] for r in results.json()["results"]] == [None, None]  # blank, answered


def test_a_batch_that_breaks_the_schema_is_refused_whole(client):
    """Bad pixels or base64 break the documented request shape: a 400 for the request, as for
    one image (an image that is well-formed but unreadable still gets its own entry)."""
    for pixels in ([0] * 783, [1000] * 784, "abc"):
        answer = client.post("/api/predict/batch", json={"pixels": [[0] * 784, pixels]})
        assert_error(answer, 400, "invalid_pixels")
    encoded = base64.b64encode(drawn_digit()).decode()
    for bad in ("", "%%%", encoded + "=", 5):
        answer = client.post("/api/predict/batch", json={"images": [encoded, bad]})
        assert_error(answer, 400, "invalid_base64")


@pytest.mark.parametrize(
    "kwargs,status,code",
    [
        ({"files": {"file": ("x.txt", b"hello")}}, 400, "not_an_image"),
        ({"json": {"image": base64.b64encode(b"hello").decode()}}, 400, "not_an_image"),
        ({"json": {"image": "%%% not base64 %%%"}}, 400, "invalid_base64"),
        ({"json": {"image": ""}}, 400, "invalid_base64"),
        ({"json": {"image": "data:image/png;base64,"}}, 400, "invalid_base64"),
        ({"json": {"image": "abcd="}}, 400, "invalid_base64"),  # b64decode alone takes these
        ({"json": {"image": "abcd===="}}, 400, "invalid_base64"),
        ({"json": {"image": "abcd", "pixels": [0] * 784}}, 400, "conflicting_fields"),
        ({"json": {"image": 12}}, 400, "invalid_base64"),
        ({"json": {"pixels": [0] * 783}}, 400, "invalid_pixels"),
        ({"json": {"pixels": [0] * 785}}, 400, "invalid_pixels"),
        ({"json": {"pixels": [1000] * 784}}, 400, "invalid_pixels"),
        ({"json": {"pixels": "abc"}}, 400, "invalid_pixels"),
        ({"json": {"pixels": [True] * 784}}, 400, "invalid_pixels"),  # the schema: numbers
        ({"json": {"pixels": ["200"] * 784}}, 400, "invalid_pixels"),
        ({"json": {"picture": "x"}}, 400, "missing_field"),
        ({"json": [1, 2]}, 400, "invalid_json"),
        (
            {
                "content": b"[" * 20_000 + b"]" * 20_000,
                "headers": {"content-type": "application/json"},
            },
            400,
            "invalid_json",
        ),
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
        ),
        ({"files": {"other": ("x.png", b"x")}}, 400, "missing_field"),
        ({"data": {"file": "text, not a file"}, "files": {"x": ("x", b"")}}, 400, "missing_field"),
        (
            {
                "content": b"--b\r\nbroken",
                "headers": {"content-type": "multipart/form-data; boundary=b"},
            },
            400,
            None,
        ),
        (
            {"content": b"hello", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        ({"content": b"hello"}, 415, "unsupported_media_type"),
        (
            {"content": huge_header_png(), "headers": {"content-type": "image/png"}},
            413,
            "image_too_large",
        ),
        (
            {"content": b"x" * (MAX_BODY + 1), "headers": {"content-type": "image/png"}},
            413,
            "body_too_large",
        ),
    ],
)
def test_bad_input_is_a_4xx_json_error(client, kwargs, status, code):
    response = client.post("/api/predict", **kwargs)
    assert response.status_code == status, response.text
    if code:
        assert_error(response, status, code)
    else:
        assert response.json()["message"]


def test_batch_limits(client):
    files = [("files", ("a.png", drawn_digit()))] * 5
    assert_error(client.post("/api/predict/batch", files=files), 400, "too_many_images")
    assert_error(client.post("/api/predict/batch", json={"images": []}), 400, "missing_field")
    assert_error(client.post("/api/predict/batch", json={"images": "x"}), 400, "missing_field")
    empty = client.post(
        "/api/predict/batch",
        content=b"--b--\r\n",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert_error(empty, 400, "missing_field")
    both = {"images": [base64.b64encode(drawn_digit()).decode()], "pixels": [[0] * 784]}
    assert_error(client.post("/api/predict/batch", json=both), 400, "conflicting_fields")
    assert_error(
        client.post(
            "/api/predict/batch", content=drawn_digit(), headers={"content-type": "image/png"}
        ),
        415,
        "unsupported_media_type",
    )


def test_streamed_body_over_the_limit_is_cut_off(client):
    def chunks():  # no Content-Length: the limit must count bytes as they arrive
        for _ in range(50):
            yield b"x" * 10_000

    response = client.post("/api/predict", content=chunks(), headers={"content-type": "image/png"})
    assert_error(response, 413, "body_too_large")


def test_head_of_the_page(client):
    assert client.head("/").status_code == 200


def test_serve_cli_errors(tmp_path, capsys):
    from mnistlab.cli import main
    from mnistlab.serve.run import bind_socket

    assert main(["serve", str(tmp_path)]) == 2  # not a model folder: fails before listening
    busy = bind_socket("127.0.0.1", 0)
    try:
        with pytest.raises(MnistlabError, match="cannot listen"):
            bind_socket("127.0.0.1", busy.getsockname()[1])
    finally:
        busy.close()


def test_unknown_routes_and_methods_are_json(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/api/predict"), 405, "method_not_allowed")


def test_real_server_refuses_a_large_declared_body_without_reading_it(app, live_server):
    """Against uvicorn itself: a client that announces 50 MB and sends nothing gets its 413
    at once, instead of the server waiting for (or buffering) the body."""
    with live_server(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(
                b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                b"Content-Length: 50000000\r\n\r\n"
            )
            start = time.monotonic()
            reply = b""
            while chunk := conn.recv(4096):  # "connection: close": read to the end
                reply += chunk
            reply = reply.decode()
        assert reply.startswith("HTTP/1.1 413") and "body_too_large" in reply
        assert time.monotonic() - start < 2


def test_real_server_cuts_a_client_that_stalls_mid_body(trained_lenet5, live_server):
    """A client that announces 100 bytes, sends 10 and stops gets a 408, not a hung worker."""
    app = create_app(trained_lenet5, read_timeout=0.5)
    with live_server(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                b"Content-Length: 100\r\n\r\n0123456789"
            )
            start = time.monotonic()
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
        assert reply.decode().startswith("HTTP/1.1 408") and b"timeout" in reply
        assert time.monotonic() - start < 5


def test_answers_match_the_documented_response_models(client):
    """The endpoints build their JSON themselves (faster than FastAPI's validation); the types
    the schema is generated from check it here (and test_schema.py, the live server)."""
    from pydantic import TypeAdapter

    from mnistlab.inference.predictor import PredictionDict
    from mnistlab.serve.schemas import BatchOut

    for body in (
        client.post("/api/predict", files={"file": ("d.png", drawn_digit())}).json(),
        client.post("/api/predict", files={"file": ("b.png", BLANK)}).json(),
    ):
        TypeAdapter(PredictionDict).validate_python(body, strict=True)
        # `explanation` only with ?explain=true
        assert set(body) == set(PredictionDict.__annotations__) - {"explanation"}
    for body in (
        client.post("/api/predict?explain=true", files={"file": ("d.png", drawn_digit())}).json(),
        client.post("/api/predict?explain=true", files={"file": ("b.png", BLANK)}).json(),
    ):
        TypeAdapter(PredictionDict).validate_python(body, strict=True)
        assert set(body) == set(PredictionDict.__annotations__)
    batch = client.post(
        "/api/predict/batch",
        files=[("files", ("d.png", drawn_digit())), ("files", ("x.png", b"not an image"))],
    ).json()
    TypeAdapter(BatchOut).validate_python(batch, strict=True)
    assert "digit" in batch["results"][0] and batch["results"][1]["error"] == "not_an_image"


def test_each_route_is_registered_once_and_documented(client):
    """One route per endpoint: the documented one is the one that answers."""
    paths = [getattr(route, "path", None) for route in client.app.router.routes]
    for path in ("/api/predict", "/api/predict/batch", "/api/read"):
        assert paths.count(path) == 1
    spec = client.get("/openapi.json").json()
    batch = spec["paths"]["/api/predict/batch"]["post"]["requestBody"]["content"]
    images = batch["application/json"]["schema"]["properties"]["images"]
    assert images["maxItems"] == 4 and images["minItems"] == 1  # this app's max_batch
    read = spec["paths"]["/api/read"]["post"]["requestBody"]["content"]["application/json"]
    assert set(read["schema"]["properties"]) == {"image"}  # reading needs an image
    for status in (400, 413, 415, 503):
        answer = spec["paths"]["/api/predict"]["post"]["responses"][str(status)]
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


@pytest.mark.parametrize("base", ["httptools", "h11"])
def test_real_server_refuses_oversized_headers_and_stays_up(app, base, monkeypatch, live_server):
    """httptools has no header size cap of its own: the protocol adds one (16 KB)."""
    import httpx2

    from mnistlab.serve import protocol, run

    if base == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        monkeypatch.setattr(protocol, "base_protocol", lambda: H11Protocol)
    with live_server(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40_000)
            answer = _read_until_closed(sock)
        assert answer.split(b"\r\n")[0].split()[1] in (b"431", b"400"), answer[:200]
        assert httpx2.get(url + "/healthz", timeout=2).status_code == 200
        assert run.MAX_HEADER_BYTES < 40_000


def test_concurrent_requests_to_a_real_server_share_forward_passes(app, live_server):
    """32 clients at once: fewer forward passes than digits, every answer a digit."""
    import concurrent.futures

    import httpx2

    pixels = np.zeros(784)
    pixels[300:320] = 255
    with live_server(app) as url:
        before = httpx2.get(url + "/api/model").json()["batching"]

        def ask(_):
            with httpx2.Client(timeout=20) as http:
                return [http.post(url + "/api/predict", json={"pixels": pixels.tolist()})
                        for _ in range(8)]  # fmt: skip

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            answers = [a for batch in pool.map(ask, range(32)) for a in batch]
        after = httpx2.get(url + "/api/model").json()["batching"]
    assert all(a.status_code == 200 and a.json()["digit"] in range(10) for a in answers)
    digits, batches = after["digits"] - before["digits"], after["batches"] - before["batches"]
    assert digits == 256 and batches < digits, (digits, batches)


def _read_until_closed(sock: socket.socket) -> bytes:
    answer = b""
    try:
        while chunk := sock.recv(4096):
            answer += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return answer
