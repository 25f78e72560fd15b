"""`mnistlab predict` and `mnistlab export` through the CLI entry point."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnistlab.cli import main


def draw_one(path, size=(200, 260)):
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).line([(100, 30), (100, 230)], fill="black", width=16)
    image.save(path)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    draw_one(folder / "one.png")
    draw_one(folder / "one-again.jpg")
    Image.new("L", (100, 100), 255).save(folder / "blank.png")
    (folder / "notes.png").write_text("not an image")
    (folder / "readme.txt").write_text("skipped: not an image extension")
    return folder


@pytest.mark.slow
def test_predict_json_reports_every_file(trained_lenet5, image_folder, tmp_path, capsys):
    missing = tmp_path / "missing.png"
    code = main(
        [
            "predict",
            str(trained_lenet5),
            str(image_folder),
            str(missing),
            "--json",
            "--top-k",
            "2",
            "--save-preview",
            str(tmp_path / "previews"),
        ]
    )
    entries = json.loads(capsys.readouterr().out)
    assert code == 1  # two files could not be read
    by_name = {e["path"].rsplit("/", 1)[-1]: e for e in entries}
    assert sorted(by_name) == ["blank.png", "missing.png", "notes.png", "one-again.jpg", "one.png"]
    for name in ("one.png", "one-again.jpg"):
        entry = by_name[name]
        assert entry["status"] == "ok" and entry["digit"] == 1 and entry["confidence"] > 0.5
        assert len(entry["top_k"]) == 2 and entry["top_k"][0]["digit"] == 1
        preview = np.asarray(Image.open(entry["preview"]))
        assert preview.shape == (28, 28) and preview.max() > 200
        steps = np.asarray(Image.open(entry["preview_steps"]))  # source | ink found | 28x28
        assert steps.shape[0] == 140 and steps.shape[1] > 3 * 100
        assert (
            steps[:, -140:]
            == np.asarray(Image.fromarray(preview).resize((140, 140), Image.NEAREST))
        ).all()
    assert by_name["blank.png"]["digit"] is None and by_name["blank.png"]["status"] == "no_digit"
    assert "no digit" in by_name["blank.png"]["error"]
    assert by_name["notes.png"]["status"] == "unreadable" and by_name["notes.png"]["error"]
    assert "no such file" in by_name["missing.png"]["error"]


@pytest.mark.slow
def test_predict_text_and_exit_code(trained_lenet5, image_folder, capsys):
    code = main(
        [
            "predict",
            str(trained_lenet5),
            str(image_folder / "one.png"),
            str(image_folder / "blank.png"),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0  # "no digit found" is an answer, not a failure
    assert out[0].split()[1] == "1" and "top-3" in out[0]
    assert "no digit found" in out[1]


def test_predict_bad_model_folder(tmp_path, capsys):
    (tmp_path / "model.json").write_text("{not json")
    assert main(["predict", str(tmp_path), str(tmp_path)]) == 2
    assert "model.json: not valid JSON" in capsys.readouterr().err


@pytest.mark.slow
def test_export_onnx_matches_pytorch(trained_lenet5, real_data_dir, tmp_path, capsys):
    import onnxruntime as ort

    out = tmp_path / "lenet5.onnx"
    code = main(
        [
            "export",
            str(trained_lenet5),
            "--format",
            "onnx",
            "--out",
            str(out),
            "--data-dir",
            str(real_data_dir),
            "--check-images",
            "2000",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "max abs difference" in printed and "2000 test images" in printed
    diff = float(printed.split("max abs difference ")[1].split()[0])
    assert diff <= 1e-4
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch in (1, 5, 64):  # the batch dimension is dynamic
        x = np.zeros((batch, 1, 28, 28), np.uint8)
        assert session.run(None, {"pixels": x})[0].shape == (batch, 10)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["mnistlab.normalization"]) == "mnist"
    assert json.loads(meta["mnistlab.classes"]) == [str(d) for d in range(10)]
    assert "uint8" in json.loads(meta["mnistlab.input"])
    # self-contained: raw uint8 test images straight in give the run's own test accuracy
    from mnistlab.data.splits import load_splits
    from mnistlab.runs import read_meta

    test = load_splits("mnist", real_data_dir)["test"]
    logits = session.run(None, {"pixels": test.images.unsqueeze(1).numpy()})[0]
    accuracy = float((logits.argmax(1) == test.labels.numpy()).mean())
    assert abs(accuracy - read_meta(trained_lenet5)["test_acc"]) <= 2e-4


def test_export_works_without_the_dataset(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MNISTLAB_DATA_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")
    out = tmp_path / "fast.onnx"
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "export", "fast", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "64 generated images (no MNIST files here" in result.stdout
    assert out.stat().st_size > 100_000
