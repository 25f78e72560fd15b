"""?explain=true on the predict endpoints: the explanation's fields are there; without it (or
with false) they are not; a bad value is a 400."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from mnistlab.data.splits import load_splits
from mnistlab.serve import create_app


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app("lenet5"))


@pytest.fixture(scope="module")
def seven(real_data_dir):
    test = load_splits("mnist", real_data_dir, download=False)["test"]
    assert int(test.labels[0]) == 7
    return test.images[0].numpy().ravel().tolist()


def test_explain_true_adds_the_explanation(client, seven):
    answer = client.post("/api/predict?explain=true", json={"pixels": seven}).json()
    assert answer["digit"] == 7
    explanation = answer["explanation"]
    assert explanation["method"] == "integrated_gradients" and explanation["explained"] == 7
    assert len(explanation["saliency"]) == 784 and explanation["note"] is None
    assert base64.b64decode(explanation["saliency_png_base64"]).startswith(b"\x89PNG")
    neighbours = explanation["neighbours"]
    assert len(neighbours) == 5 and all(n["digit"] == 7 for n in neighbours[:3])
    assert {"digit", "label", "similarity", "bank_row", "image_png_base64"} == set(neighbours[0])


@pytest.mark.parametrize("query", ["", "?explain=false", "?explain=0", "?reject=false"])
def test_without_explain_there_is_none(client, seven, query):
    answer = client.post("/api/predict" + query, json={"pixels": seven}).json()
    assert answer["digit"] == 7 and "explanation" not in answer


def test_a_blank_image_has_a_null_explanation(client):
    blank = client.post("/api/predict?explain=true", json={"pixels": [0] * 784}).json()
    assert blank["digit"] is None and blank["explanation"] is None
    assert "explanation" not in client.post("/api/predict", json={"pixels": [0] * 784}).json()


def test_the_batch_endpoint_explains_each(client, seven):
    body = {"pixels": [seven, [0] * 784, seven]}
    results = client.post("/api/predict/batch?explain=1", json=body).json()["results"]
    assert [r["digit"] for r in results] == [7, None, 7]
    assert results[1]["explanation"] is None
    assert results[0]["explanation"] == results[2]["explanation"]
    plain = client.post("/api/predict/batch", json=body).json()["results"]
    assert all("explanation" not in r for r in plain)


def test_a_bad_value_is_a_400(client, seven):
    response = client.post("/api/predict?explain=please", json={"pixels": seven})
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "explain must be true or false, not 'please'",
    }


def test_the_schema_documents_it(client):
    schema = client.get("/openapi.json").json()
    for path in ("/api/predict", "/api/predict/batch"):
        names = [p["name"] for p in schema["paths"][path]["post"]["parameters"]]
        assert names == ["reject", "explain", "model"]
    read = schema["paths"]["/api/read"]["post"]["parameters"]
    assert [p["name"] for p in read] == ["reject", "model"]
    answer = schema["components"]["schemas"]["PredictionDict"]["properties"]["explanation"]
    assert "ExplanationDict" in str(answer)
    assert "NeighbourDict" in schema["components"]["schemas"]
