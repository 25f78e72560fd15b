"""`mnistlab predict` and `mnistlab export` through the CLI entry point."""

from __future__ import annotations

import json

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
    assert main(["predict", str(tmp_path), str(tmp_path)]) == 2
    assert "model" in capsys.readouterr().err


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
        x = np.zeros((batch, 1, 28, 28), np.float32)
        assert session.run(None, {"input": x})[0].shape == (batch, 10)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["mnistlab.normalization"]) == "mnist"
