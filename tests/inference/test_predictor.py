"""Predictor on synthetic models, and a trained lenet5 on MNIST digits re-rendered like photos."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from mnistlab.data.splits import load_splits
from mnistlab.inference import NoDigitError, Predictor, preprocess
from mnistlab.inference.predictor import as_pixel_batch
from mnistlab.models import create_model

META = {"model": "lenet5", "config": {}, "normalization": "mnist", "dataset": "mnist"}


class LogProbAverage(nn.Module):
    """Stands in for an ensemble: returns averaged log-probabilities, not logits."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):
        probs = torch.stack([m(x).softmax(1) for m in self.members]).mean(0)
        return probs.log()


def digits(n=5, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def test_prediction_fields():
    torch.manual_seed(0)
    predictor = Predictor(create_model("lenet5"), META)
    results = predictor.predict_pixels(digits(), top_k=4)
    assert len(results) == 5
    for r in results:
        assert abs(sum(r.probabilities) - 1) < 1e-6 and len(r.probabilities) == 10
        assert r.digit == int(np.argmax(r.probabilities)) and r.label == str(r.digit)
        assert r.confidence == max(r.probabilities)
        assert [d for d, _ in r.top_k][0] == r.digit and len(r.top_k) == 4
        assert [p for _, p in r.top_k] == sorted([p for _, p in r.top_k], reverse=True)
        assert r.pixels.shape == (28, 28)
    assert predictor.predict_pixels(np.zeros((0, 28, 28), np.uint8)) == []


def test_read_only_pixels_are_answered_without_touching_them():
    """A read-only batch (a memory-mapped dataset) is copied before torch wraps it: torch
    would warn that writing to it is undefined, and the caller's array stays as it was."""
    torch.manual_seed(0)
    predictor = Predictor(create_model("lenet5"), META)
    frozen = digits()
    frozen.flags.writeable = False
    assert as_pixel_batch(frozen).flags.writeable
    writable = predictor.predict_pixels(digits())
    assert [r.probabilities for r in predictor.predict_pixels(frozen)] == [
        r.probabilities for r in writable
    ]
    assert not frozen.flags.writeable and np.array_equal(frozen, digits())


def test_uses_the_models_normalization():
    torch.manual_seed(0)
    model = create_model("lenet5")
    batch = digits(3)
    x = torch.from_numpy(batch).float().unsqueeze(1) / 255  # 'unit' by hand
    expected = model(x).softmax(1).detach().numpy()
    got = Predictor(model, {**META, "normalization": "unit"}).probabilities(batch)
    assert np.allclose(got, expected, atol=1e-6)


def test_softmax_of_ensemble_log_probabilities_is_their_average():
    torch.manual_seed(0)
    members = [create_model("lenet5").eval() for _ in range(3)]
    batch = digits(4)
    singles = [Predictor(m, META).probabilities(batch) for m in members]
    ensemble = Predictor(LogProbAverage(members), {**META, "kind": "ensemble"})
    assert np.allclose(ensemble.probabilities(batch), np.mean(singles, 0), atol=1e-6)


def test_fashion_labels():
    predictor = Predictor(create_model("lenet5"), {**META, "dataset": "fashion-mnist"})
    result = predictor.predict_pixels(digits(1))[0]
    assert result.label == predictor.classes[result.digit] and predictor.classes[9] == "Ankle boot"


def render_like_a_user(image: np.ndarray, rng: np.random.Generator) -> bytes:
    """An MNIST digit as people supply digits: dark ink on grey-white paper, a random size and
    place in a larger picture, sensor noise, saved as JPEG."""
    size = int(rng.integers(40, 201))
    ink = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), np.float32)
    height, width = (int(rng.integers(size + 20, size + 300)) for _ in range(2))
    canvas = np.zeros((height, width), np.float32)
    top, left = int(rng.integers(0, height - size)), int(rng.integers(0, width - size))
    canvas[top : top + size, left : left + size] = ink / 255
    paper = rng.uniform(0.75, 0.95)
    photo = paper * (1 - 0.85 * canvas) + rng.normal(0, 0.03, canvas.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(photo * 255, 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=int(rng.integers(70, 91))
    )
    return buffer.getvalue()


@pytest.mark.slow
def test_trained_lenet5_keeps_its_accuracy_on_rerendered_digits(trained_lenet5, real_data_dir):
    predictor = Predictor.from_path(trained_lenet5)
    test = load_splits("mnist", real_data_dir, download=False)["test"]
    n = 600
    images, labels = test.images[:n].numpy(), test.labels[:n].numpy()
    # accuracy of the best guess, as test accuracy counts it; "not sure" is bounded apart
    clean = np.mean([p.guess for p in predictor.predict_pixels(images)] == labels)
    rng = np.random.default_rng(0)
    seen = []
    for image in images:
        try:
            seen.append(preprocess(render_like_a_user(image, rng)).pixels)
        except NoDigitError:
            seen.append(np.zeros((28, 28), np.uint8))  # counts as wrong
    answers = predictor.predict_pixels(seen)
    real = np.mean([p.guess for p in answers] == labels)
    not_sure = np.mean([p.digit is None for p in answers])
    print(f"clean {clean:.3f}, re-rendered {real:.3f}, {not_sure:.3f} not sure, of {n}")
    assert clean > 0.95
    assert real >= clean - 0.02, (clean, real)
    assert not_sure <= 0.05, not_sure
