"""The digit detector: its shipped file and checksum, its rule in model.json, how the rules
share the validation budget, and what it adds to the shipped default model's "not sure"."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from mnistlab.calibration import detector as det
from mnistlab.calibration.core import allowed_rejects
from mnistlab.calibration.rule import detector_evidence, not_sure
from mnistlab.calibration.types import Calibration, DetectorRule
from mnistlab.errors import CheckpointError
from mnistlab.inference import Predictor
from mnistlab.runs import load_folder, resolve_model
from mnistlab.synth.letters import STROKES, written_letter
from mnistlab.synth.nondigits import AMBIGUOUS
from mnistlab.synth.outliers import photograph
from mnistlab.synth.symbols import SYMBOLS, TURNS, symbol, turned
from mnistlab.train.calibrate import DetectorFit, FeatureFit, fit_calibration


def test_the_shipped_detector_loads_and_a_changed_file_is_refused(tmp_path):
    assert det.detector_available()
    assert isinstance(det.load_detector(), det.DigitDetector)
    changed = tmp_path / "detector.safetensors"
    data = bytearray(det.FILE.read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 does not match"):
        det.load_detector(changed)
    changed.write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="damaged"):
        det.load_detector(changed, sha256="")


def _bar(width: int, height: int = 16) -> torch.Tensor:
    """(1, 1, 28, 28) ink: an upright bar `width` px wide, like a 1, centred."""
    ink = torch.zeros(1, 1, 28, 28)
    left = 14 - width // 2
    ink[..., 14 - height // 2 : 14 + height // 2, left : left + width] = 1.0
    return ink


def test_stroke_width_is_twice_the_area_over_the_edge_length():
    # a bar w wide and 16 long: area 16 w, edges 2 (16 + w) long
    for width in (2, 4, 7):
        expected = 2 * 16 * width / (2 * (16 + width))
        found = float(det.stroke_width(_bar(width)))
        assert abs(found - expected) < 0.05 * expected, (width, found, expected)


def test_move_edges_moves_a_sharp_shape_by_whole_pixels():
    bar = _bar(4)
    for grow in range(-1, det.REACH + 1):
        moved = det.move_edges(bar, torch.tensor(float(grow)).view(1, 1, 1, 1))
        assert set(moved.unique().tolist()) <= {0.0, 1.0}
        row = moved[0, 0, 14]  # across the bar, away from its ends
        assert int(row.sum()) == 4 + 2 * grow, (grow, row)
    half = det.move_edges(bar, torch.tensor(0.5).view(1, 1, 1, 1))[0, 0, 14]
    assert sorted(half.unique().tolist()) == [0.0, 0.5, 1.0] and float(half.sum()) == 5.0


def _ring(width: float, radius: float = 8.0) -> torch.Tensor:
    """(1, 1, 28, 28) ink: a ring (a 0 with no ends, so its width reads true) `width` px wide."""
    t = torch.arange(28, dtype=torch.float32) - 13.5
    r = (t.view(-1, 1) ** 2 + t.view(1, -1) ** 2).sqrt()
    return ((r - radius).abs() <= width / 2).float().view(1, 1, 28, 28)


def test_fat_and_thin_strokes_reach_the_learnt_layers_at_one_width():
    """Silhouette then StrokeNorm: a 1 px ring and a 7 px ring come out within half a pixel of
    MNIST's width (STROKE), where they differ by 6 px as drawn."""
    net = det.DigitDetector(stroke_norm=True)
    assert isinstance(det.DigitDetector().silhouette, det.Silhouette)  # the shipped one: without
    drawn = [float(det.stroke_width(_ring(w))) for w in (1, 3, 7)]
    assert drawn[2] - drawn[0] > 5, drawn
    widths = [float(det.stroke_width(net.silhouette(_ring(w)))) for w in (1, 3, 7)]
    assert all(abs(w - det.STROKE) < 0.5 for w in widths), widths


def test_stroke_is_the_median_width_of_training_digits(real_data_dir):
    from mnistlab.data.splits import load_splits

    train = load_splits("mnist", real_data_dir, download=False)["train"].images[:3000].numpy()
    with torch.inference_mode():
        widths = det.stroke_width(det.Silhouette()(det.as_input(train))).flatten()
    assert abs(float(widths.median()) - det.STROKE) < 0.1


def test_detector_rule_round_trips_and_rejects_unknown_or_missing_keys():
    rule = DetectorRule(threshold=-1.5, sha256="ab", fitted_on="x")
    cal = Calibration(threshold=1.0, detector=rule)
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
    assert "detector" not in Calibration(threshold=1.0).to_dict()  # older readers: no key
    with pytest.raises(CheckpointError, match="unknown keys"):
        Calibration.from_dict({"threshold": 1.0, "detector": {**rule.to_dict(), "k": 1}})
    with pytest.raises(CheckpointError, match="no sha256"):
        Calibration.from_dict({"threshold": 1.0, "detector": {"threshold": 0.0}})
    with pytest.raises(CheckpointError, match="damaged"):
        Calibration.from_dict({"threshold": 1.0, "detector": {"threshold": "x", "sha256": ""}})


def test_a_model_calibrated_for_another_detector_is_an_error(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(resolve_model("sota-cpu"), folder)
    meta_path = folder / "model.json"
    data = json.loads(meta_path.read_text())
    data["calibration"]["detector"]["sha256"] = "0" * 64
    meta_path.write_text(json.dumps(data))
    model, meta = load_folder(folder)
    with pytest.raises(CheckpointError, match="another digit detector"):
        Predictor(model, meta)


def test_rules_share_the_validation_budget_when_the_detector_is_adopted():
    """Synthetic scores: the detector separates non-digits the feature rule cannot, so it is
    adopted, and all rules together still refuse allowed_rejects(...) validation digits."""
    g = torch.Generator().manual_seed(0)
    n = 5000
    val_logits = torch.randn(n, 10, generator=g) * 3
    labels = val_logits.argmax(1)
    val_pixels = np.zeros((n, 28, 28), np.uint8)
    val_pixels[:, 10:18, 13:15] = 255  # one stroke: no cue fires
    kinds = {"a": 60, "b": 60}
    tuning = {k: (torch.randn(c, 10, generator=g), val_pixels[:c]) for k, c in kinds.items()}
    photos = (torch.randn(100, 10, generator=g) * 3, val_pixels[:100])
    features = FeatureFit(
        bank=torch.eye(4),
        val=torch.rand(n, generator=g) + 1.0,  # digits: similar
        tuning={"a": torch.rand(60, generator=g), "b": torch.rand(60, generator=g) + 1.0},
        photos=torch.rand(100, generator=g) + 1.0,
    )
    detector = DetectorFit(
        val=torch.randn(n, generator=g) + 5.0,
        tuning={"a": torch.randn(60, generator=g) + 5.0, "b": torch.randn(60, generator=g) - 5},
        photos=torch.randn(100, generator=g) + 5.0,
    )
    cal = fit_calibration(val_logits, labels, val_pixels, tuning, features, photos, None, detector)
    assert cal.detector is not None and cal.detector.sha256 == det.SHA256
    counts = (np.zeros(n, int), np.zeros(n, int))
    refused = not_sure(
        cal, val_logits, counts=counts, similarity=features.val, detected=detector.val
    ).refused
    assert refused.sum() <= allowed_rejects(n, 0.01, 0.95)
    rates = cal.tuning["nondigit_reject"]["detector"]
    assert rates["b"] > 0.95 and rates["a"] > 0.95


@pytest.fixture(scope="module")
def default_model():
    return load_folder(resolve_model("sota-cpu"))


@pytest.mark.parametrize("draw", [symbol, written_letter], ids=["symbols", "written letters"])
def test_the_default_model_refuses_drawn_non_digits_it_would_otherwise_accept(default_model, draw):
    """Drawn symbols and written letters from a seed the detector was not trained on: the
    detector rule refuses most of those the feature rule and the cues let through."""
    model, meta = default_model
    assert meta.calibration.detector is not None
    rng = np.random.default_rng(12345)
    pixels = np.stack([photograph(draw(rng), rng) for _ in range(150)])
    with_detector = Predictor(model, meta).predict_pixels(pixels)
    without = dataclasses.replace(
        meta, calibration=dataclasses.replace(meta.calibration, detector=None)
    )
    passed = [p.digit is not None for p in Predictor(model, without).predict_pixels(pixels)]
    still = [p.digit is not None for p in with_detector]
    assert sum(passed) >= 20  # the feature rule alone lets many through
    assert sum(still) <= 0.25 * sum(passed), (sum(still), sum(passed))
    reasons = [p.reason for p, ok in zip(with_detector, passed, strict=True) if ok and p.reason]
    assert any("digit detector" in r for r in reasons)


def test_the_detector_rule_refuses_few_digits_drawn_as_photos(default_model, real_data_dir):
    """Validation digits drawn as photos with a seed no fitting used: the detector's rule must
    not have learnt "went through the preprocessing" (0.17% refused when this was written)."""
    from mnistlab.data.splits import load_splits
    from mnistlab.train.calibrate import photographed

    predictor = Predictor(*default_model)
    val = load_splits("mnist", real_data_dir, download=False)["val"].images.numpy()
    assert float(refused_by_detector(predictor, val).mean()) <= 0.005
    photos = photographed(val[2000:2400], seed=77)
    assert float(refused_by_detector(predictor, photos).mean()) <= 0.02


def refused_by_detector(predictor: Predictor, pixels: np.ndarray) -> np.ndarray:
    """(N,) bool: which digits the model's detector rule refuses, by what the rule compares
    (the detector's score, weighed with the model's confidence where the fit chose to)."""
    rule = predictor.meta.calibration.detector
    found = det.detector_scores(pixels).numpy()
    logits = predictor.logits(pixels)
    weight = rule.confidence_weight
    return detector_evidence(found, logits, predictor.temperature, weight) < rule.threshold


def test_symbols_and_turned_digits_are_drawn_and_never_a_digit_turn():
    rng = np.random.default_rng(0)
    assert all(symbol(rng).max() > 0.5 for _ in range(3 * len(SYMBOLS)))
    assert not set(TURNS["mirror"]) & {0, 1, 8}
    assert not set(TURNS["half_turn"]) & {0, 1, 6, 8, 9}
    digits = np.zeros((3, 28, 28), np.uint8)
    digits[:, 4:24, 12:16] = 255
    labels = np.array([0, 1, 7])
    for _ in range(20):
        ink = turned(digits, labels, rng)
        assert ink.shape == (28, 28) and ink.max() == 1.0


def test_written_letters_are_drawn_and_never_one_a_reader_takes_for_a_digit():
    assert not set(STROKES) & (AMBIGUOUS | set("ZzSsbGBagq"))
    rng = np.random.default_rng(0)
    for letter in STROKES:
        ink = written_letter(rng, letter)
        assert ink.shape == (112, 112) and ink.max() == 1.0, letter
        assert 0.01 < ink.mean() < 0.3, letter  # strokes, not a blot or a speck
    with pytest.raises(KeyError):
        written_letter(rng, "S")


def test_the_fast_detector_gives_the_same_answers_as_pytorch(default_model, real_data_dir):
    """serve runs the detector on onnxruntime: the same scores (to 1e-4) and the same answers
    on validation digits and drawn symbols."""
    from mnistlab.data.splits import load_splits

    model, meta = default_model
    plain = Predictor(model, meta)
    fast = plain.with_fast_detector()
    assert type(fast.detector).__name__ == "OnnxDetector"
    val = load_splits("mnist", real_data_dir, download=False)["val"].images[:300].numpy()
    rng = np.random.default_rng(7)
    symbols = np.stack([photograph(symbol(rng), rng) for _ in range(60)])
    for pixels in (val, symbols):
        assert torch.allclose(fast.detector(pixels), det.detector_scores(pixels), atol=1e-4)
        assert [p.digit for p in fast.predict_pixels(pixels)] == [
            p.digit for p in plain.predict_pixels(pixels)
        ]


def test_without_onnx_the_detector_runs_on_pytorch():
    """`pip install mnistlab[web]` without onnx (as before it was added to that extra), or with
    onnxruntime alone: the fast detector is None and the caller falls back to PyTorch, where it
    used to crash every training's calibration on torch's exporter. A child process, with onnx
    made unimportable before mnistlab loads."""
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "from mnistlab.inference.onnx_runtime import fast_detector\n"
        "from mnistlab.inference import Predictor\n"
        "from mnistlab.runs import load_folder, resolve_model\n"
        "assert fast_detector() is None\n"
        "predictor = Predictor(*load_folder(resolve_model('lenet5'))).with_fast_detector()\n"
        "import numpy as np; one = np.zeros((1, 28, 28), np.uint8); one[0, 4:24, 13:16] = 255\n"
        "print(type(predictor.detector).__name__, predictor.predict_pixels(one)[0].guess)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "OnnxDetector" not in done.stdout and done.stdout.split()[-1] == "1", done.stdout


def _textured(digits: np.ndarray) -> dict[str, np.ndarray]:
    """The same digits' ink in three textures a reader looks through: every other pixel off
    (a checkerboard), every other row off (a scanner's stripes), 2x2 pixel blocks."""
    i, j = np.mgrid[0:28, 0:28]
    x = torch.from_numpy(digits).float()[:, None]
    blocks = nn.functional.interpolate(nn.functional.avg_pool2d(x, 2), scale_factor=2)
    return {
        "checker": (digits * ((i + j) % 2 == 0)).astype(np.uint8),
        "stripes": (digits * (i % 2 == 0)).astype(np.uint8),
        "blocks": blocks[:, 0].round().to(torch.uint8).numpy(),
    }


def test_the_detector_reads_shapes_not_textures(real_data_dir):
    """Digits in a texture are still digits to the detector (its Silhouette layer). The
    detector before it took 83% of checkerboard digits, 19% of striped ones and 71% of
    blocky ones for digits, at the default model's threshold then (issue 22)."""
    from mnistlab.data.splits import load_splits

    digits = load_splits("mnist", real_data_dir, download=False)["val"].images[:200].numpy()
    # the detector alone: fast's rule does not weigh in the model's confidence (the default
    # model's does, and its classifier is not blind to texture: 94.5% of striped digits kept)
    predictor = Predictor.from_path("fast")
    assert predictor.meta.calibration.detector.confidence_weight == 0
    taken = {
        name: 1.0 - float(refused_by_detector(predictor, x).mean())
        for name, x in _textured(digits).items()
    }
    assert min(taken.values()) >= 0.95, taken
