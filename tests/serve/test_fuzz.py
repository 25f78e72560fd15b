"""Several hundred malformed requests: every answer is a 4xx JSON error (or a 200 for what is
readable after all), never a 5xx, and the server is healthy afterwards."""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mnistlab.serve.app import create_app


def _png(size=(60, 60), mode="L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 255).save(buffer, format="PNG")
    return buffer.getvalue()


def _huge_header_png(side: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def malformed_requests(rng: random.Random):
    """(method, path, kwargs) for requests a client should never get a 5xx for."""
    good = _png()
    images = [
        b"",
        b"\x00",
        good[:20],
        good[:-10],
        good[:8] + bytes(rng.randrange(256) for _ in range(200)),
        b"GIF89a" + b"\x00" * 30,
        b"\xff\xd8\xff" + bytes(rng.randrange(256) for _ in range(100)),
        _huge_header_png(100_000),
        _huge_header_png(0),
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.4\n",
    ]
    images += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))) for _ in range(40)]
    for data in images:
        yield "POST", "/api/predict", {"files": {"file": ("x.png", data)}}
        yield "POST", "/api/predict", {"json": {"image": base64.b64encode(data).decode()}}
        yield "POST", "/api/predict", {"content": data, "headers": {"content-type": "image/png"}}
        yield (
            "POST",
            "/api/predict/batch",
            {"files": [("files", ("a.png", data)), ("files", ("b.png", good))]},
        )  # noqa: E501
    bodies = [
        "", "{", "[]", "null", "1e999", '"x"', '{"image": 5}', '{"image": "%%%"}',
        '{"image": "data:,"}', '{"pixels": []}', '{"pixels": [1, 2]}', '{"pixels": "abc"}',
        '{"pixels": [null' + ",0" * 783 + "]}", '{"pixels": [-1' + ",0" * 783 + "]}",
        '{"pixels": [256' + ",0" * 783 + "]}", '{"pixels": [true' + ",0" * 783 + "]}",
        '{"images": "x"}', '{"images": [5]}', '{"pixels": [[1]]}', "[" * 100_000,
        '{"a": ' * 5000 + "1" + "}" * 5000, '{"pixels": [' + "9" * 5000 + "]}",
        json.dumps({"images": [base64.b64encode(good).decode()] * 65}),
    ]  # fmt: skip
    for body in bodies:
        for path in ("/api/predict", "/api/predict/batch"):
            yield "POST", path, {"content": body, "headers": {"content-type": "application/json"}}
    for media in ("text/plain", "application/xml", "", "multipart/form-data", "image/png; x=1"):
        yield "POST", "/api/predict", {"content": good, "headers": {"content-type": media}}
    yield "POST", "/api/predict", {"content": b"--x\r\n\r\n", "headers": {
        "content-type": "multipart/form-data; boundary=x"}}  # fmt: skip
    yield "POST", "/api/predict", {"files": {"other": ("x.png", good)}}
    yield "POST", "/api/predict", {"data": {"file": "not a file"}}
    for method in ("PUT", "DELETE", "PATCH"):
        yield method, "/api/predict", {}
    yield "GET", "/api/predict", {}
    yield "GET", "/nope", {}
    yield "GET", "/static/../../etc/passwd", {}
    yield "POST", "/healthz", {}


@pytest.fixture(scope="module")
def client():
    with TestClient(
        create_app("lenet5", max_body_bytes=200_000), raise_server_exceptions=False
    ) as c:  # noqa: E501
        yield c


def test_hundreds_of_malformed_requests_get_no_5xx(client):
    requests = list(malformed_requests(random.Random(0)))
    assert len(requests) >= 200
    failures = []
    for method, path, kwargs in requests:
        answer = client.request(method, path, **kwargs)
        if answer.status_code >= 500 or not answer.headers.get("content-type", "").startswith(
            ("application/json", "text/html", "text/plain")
        ):
            failures.append((method, path, str(kwargs)[:80], answer.status_code, answer.text[:80]))
        elif answer.status_code >= 400:
            assert "error" in answer.json() or "detail" in answer.json(), answer.text
    assert not failures, failures[:5]
    assert client.get("/healthz").status_code == 200
    assert client.post("/api/predict", files={"file": ("ok.png", _png())}).status_code == 200
