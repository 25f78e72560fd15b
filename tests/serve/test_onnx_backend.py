"""`serve --backend onnx`: the same answers as PyTorch, from onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from mnistlab.errors import MnistlabError
from mnistlab.inference.predictor import Predictor


@pytest.fixture(scope="module")
def digits(real_data_dir):
    from mnistlab.data.splits import load_splits

    return load_splits("mnist", real_data_dir, download=False)["val"]


@pytest.mark.parametrize("name", ["lenet5", "sota-cpu"])
def test_onnx_answers_as_torch_does(name, digits):
    torch_predictor = Predictor.from_path(name)
    onnx_predictor = torch_predictor.on_onnx_runtime()
    digits = digits.images[:300].numpy()
    noise = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    batch = np.concatenate([digits, noise])
    for a, b in zip(
        torch_predictor.predict_pixels(batch), onnx_predictor.predict_pixels(batch), strict=True
    ):
        assert (
            a.guess == b.guess and a.digit == b.digit and (a.reason is None) == (b.reason is None)
        )
        assert abs(a.confidence - b.confidence) < 1e-4
    assert onnx_predictor.describe()["backend"] == "OnnxForward"
    assert torch_predictor.describe()["backend"] == "torch"


def test_a_graph_that_differs_from_torch_is_refused(monkeypatch):
    from mnistlab.inference import onnx_runtime

    monkeypatch.setattr(onnx_runtime, "TOLERANCE", -1.0)  # nothing can be that close
    with pytest.raises(MnistlabError, match="--backend torch"):
        Predictor.from_path("lenet5").on_onnx_runtime()


def test_the_api_on_onnx_answers(digits):
    from fastapi.testclient import TestClient

    from mnistlab.serve import create_app

    app = create_app(Predictor.from_path("lenet5").on_onnx_runtime())
    with TestClient(app) as client:
        answers = [
            client.post("/api/predict", json={"pixels": d.reshape(-1).tolist()}).json()
            for d in digits.images[:20].numpy()
        ]
        assert client.get("/api/model").json()["backend"] == "OnnxForward"
    right = sum(a["digit"] == int(y) for a, y in zip(answers, digits.labels[:20], strict=True))
    assert right >= 19
