"""Predictor.explain: the nearest training digits from the shipped bank and a saliency map that
is faithful (removing its most salient pixels first loses the answer faster than chance)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mnistlab
from mnistlab.data.normalize import normalize
from mnistlab.data.splits import load_splits
from mnistlab.inference.bank_match import matched_bank_digits
from mnistlab.inference.explain import MAX_NEIGHBOURS, NO_BANK, Explanation
from mnistlab.inference.saliency import METHODS, deletion_curve, most_salient_first
from mnistlab.runs import load_model
from mnistlab.runs.bank_digits import shipped_bank_digits, shipped_digit_sets
from mnistlab.runs.features import attach_bank, bank_of

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def lenet5():
    return mnistlab.load("lenet5")


@pytest.fixture(scope="module")
def test_digits(real_data_dir):
    test = load_splits("mnist", real_data_dir, download=False)["test"]
    return test.images[:32].numpy(), test.labels[:32].numpy()


def bank_digits_of(predictor):
    return shipped_bank_digits(predictor.meta.calibration.features.sha256)


@pytest.mark.parametrize("name", ["lenet5", "sota-cpu", "fast"])
def test_one_image_gets_k_neighbours_and_a_saliency_map(name, test_digits):
    predictor = mnistlab.load(name)
    images, labels = test_digits
    explanation = predictor.explain(images[0], neighbours=4)
    assert isinstance(explanation, Explanation) and explanation.note is None
    assert explanation.prediction.digit == labels[0] == explanation.explained
    assert len(explanation.neighbours) == 4
    similarities = [n.similarity for n in explanation.neighbours]
    assert similarities == sorted(similarities, reverse=True) and min(similarities) >= -1
    assert max(similarities) <= 1
    for n in explanation.neighbours:
        assert n.image.shape == (28, 28) and n.image.dtype == np.uint8 and n.image.max() > 0
        assert n.label == str(n.digit)
    # a clean test digit: its nearest training digits are of its class
    assert [n.digit for n in explanation.neighbours].count(int(labels[0])) >= 3
    assert explanation.saliency.shape == (28, 28) and explanation.saliency.dtype == np.float32
    assert np.isfinite(explanation.saliency).all() and explanation.saliency.max() > 0


def test_a_batch_gets_one_explanation_each(lenet5, test_digits):
    images, _ = test_digits
    explained = lenet5.explain(images[:5])
    assert isinstance(explained, list) and len(explained) == 5
    assert [e.prediction.digit for e in explained] == [p.digit for p in lenet5.predict(images[:5])]
    assert all(len(e.neighbours) == 5 for e in explained)


def test_a_bank_digit_finds_itself(lenet5):
    """Shipped bank digits, raw and drawn as photos, fed back: the nearest has their label, and
    they are among their own five nearest (not always first: the bank's int8 rows, near twins
    in MNIST; lossless images did no better, see docs/explain.md)."""
    digits = bank_digits_of(lenet5)
    rows = np.arange(0, 6000, 30)  # 200 of them, both kinds
    explained = lenet5.explain_pixels(digits.images[rows], neighbours=5)
    found = np.array([[n.bank_row for n in e.neighbours] for e in explained])
    nearest_label = np.array([e.neighbours[0].digit for e in explained])
    assert (nearest_label == digits.labels[rows]).all()
    assert (found == rows[:, None]).any(1).mean() > 0.9
    assert explained[0].neighbours[0].similarity > 0.97


@pytest.mark.parametrize("method", list(METHODS))
def test_saliency_deletion_beats_random_ink_deletion(lenet5, test_digits, method):
    """The faithfulness check of benchmarks/saliency.py, on 32 real test digits: removing the
    most salient pixels first drops p(answer) faster than removing the same ink at random."""
    images, _ = test_digits
    explained = lenet5.explain_pixels(images, neighbours=1, method=method)
    pixels = torch.from_numpy(images)
    target = torch.tensor([e.explained for e in explained])
    maps = torch.from_numpy(np.stack([e.saliency for e in explained]))
    salient = deletion_curve(lenet5.model, pixels, most_salient_first(maps), target, "mnist")
    generator = torch.Generator().manual_seed(0)
    ink = (pixels.reshape(len(pixels), -1) > 0).float()
    random_ink = torch.argsort(-(ink + torch.rand(ink.shape, generator=generator)), dim=1)
    chance = deletion_curve(lenet5.model, pixels, random_ink, target, "mnist")
    assert salient.mean() < 0.75 * chance.mean(), (salient.mean(), chance.mean())
    assert (salient.mean(1) < chance.mean(1)).float().mean() > 0.8


def test_a_not_sure_answer_gets_its_neighbours_too(lenet5):
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    explanation = lenet5.explain(noise)
    assert explanation.prediction.digit is None and explanation.prediction.reason
    assert explanation.explained == explanation.prediction.guess
    assert len(explanation.neighbours) == 5
    # far from every training digit: that is why it is not sure
    assert explanation.neighbours[0].similarity < lenet5.meta.calibration.features.threshold


def test_to_dict_is_json_with_pngs(lenet5, test_digits):
    import base64
    import json

    answer = lenet5.explain(test_digits[0][0]).to_dict()
    json.dumps(answer)
    assert len(answer["saliency"]) == 784 and len(answer["neighbours"]) == 5
    for png in [answer["saliency_png_base64"]] + [
        n["image_png_base64"] for n in answer["neighbours"]
    ]:
        assert base64.b64decode(png).startswith(b"\x89PNG")


def test_a_model_without_a_shipped_bank_says_so(test_digits):
    bare = mnistlab.inference.Predictor(mnistlab.create_model("lenet5", pretrained=True))
    explanation = bare.explain(test_digits[0][0])
    assert explanation.neighbours == [] and explanation.note == NO_BANK
    assert explanation.saliency.shape == (28, 28)


def test_a_model_trained_here_shows_its_nearest_training_digits(trained_lenet5, test_digits):
    predictor = mnistlab.load(trained_lenet5)
    rule = predictor.meta.calibration.features
    assert rule is not None and shipped_bank_digits(rule.sha256) is None  # not a shipped bank
    explanation = predictor.explain(test_digits[0][0])
    assert explanation.note is None and len(explanation.neighbours) == 5
    digits = shipped_digit_sets()[0]
    for neighbour in explanation.neighbours:
        assert (neighbour.image == digits.images[neighbour.bank_row]).all()
        assert neighbour.digit == digits.labels[neighbour.bank_row]
    # the images are the bank's rows: a bank digit fed back finds a digit of its own label first
    rows = np.arange(0, 6000, 250)
    found = predictor.explain_pixels(digits.images[rows], neighbours=1)
    assert [e.neighbours[0].digit for e in found] == digits.labels[rows].tolist()


def test_a_bank_of_other_digits_is_not_matched(trained_lenet5):
    model, meta = load_model(trained_lenet5)
    normalization = meta.normalization
    assert matched_bank_digits(model, normalization, "") is not None
    attach_bank(model, bank_of(model).roll(1, dims=0))  # each row now another digit's
    assert matched_bank_digits(model, normalization, "") is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"neighbours": 0}, "neighbours must be"),
        ({"neighbours": MAX_NEIGHBOURS + 1}, "neighbours must be"),
        ({"neighbours": 2.5}, "neighbours must be"),
        ({"method": "lime"}, "unknown saliency method 'lime'"),
    ],
)
def test_bad_requests_are_one_line_errors(lenet5, test_digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        lenet5.explain(test_digits[0][0], **kwargs)


def test_bad_images_are_refused(lenet5):
    with pytest.raises(mnistlab.inference.ImageError):
        lenet5.explain(b"not an image")
    with pytest.raises(mnistlab.inference.NoDigitError):
        lenet5.explain(np.zeros((40, 40)))
    with pytest.raises(ValueError, match=r"expected \(N, 28, 28\)"):
        lenet5.explain_pixels(np.zeros((2, 27, 28), np.uint8))


@pytest.mark.parametrize("device", DEVICES)
def test_the_model_s_device_is_used(device, test_digits):
    predictor = mnistlab.load("lenet5")
    cpu = predictor.explain_pixels(test_digits[0][:3])
    predictor.model.to(device)  # the bank buffer follows the model
    x = normalize(torch.from_numpy(test_digits[0][:3]).unsqueeze(1).to(device), "mnist")
    from mnistlab.inference.explain import nearest
    from mnistlab.inference.saliency import integrated_gradients

    _, rows = nearest(predictor.model, x, 5)
    assert rows.tolist() == [[n.bank_row for n in e.neighbours] for e in cpu]
    target = torch.tensor([e.explained for e in cpu], device=device)
    maps = integrated_gradients(predictor.model, x, target, "mnist")
    assert maps.device.type == "cpu"
    np.testing.assert_allclose(maps.numpy(), np.stack([e.saliency for e in cpu]), atol=1e-4)
