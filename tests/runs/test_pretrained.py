"""Shipped pretrained models: their recorded accuracy is real, they load with no data, and a
damaged or ambiguous one is a clear message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

import mnistlab
from mnistlab.cli import main
from mnistlab.errors import CheckpointError, MnistlabError
from mnistlab.runs import list_pretrained, read_card, resolve_model
from mnistlab.runs.pretrained import WEIGHTS_DIR, verify_folder

SHIPPED = list_pretrained()


def test_the_promised_models_are_shipped_and_small():
    assert {"lenet5", "fast", "sota-cpu"} <= set(SHIPPED)
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.rglob("*") if p.is_file())
    # 3.46 MB: the wheel (weights LZMA- or int8-packed, deflated in it) is ~2.8 MB, under 5 MB
    # with room for the code (test_the_wheel_with_the_shipped_models_stays_under_5_mb)
    assert total < 3_600_000


@pytest.mark.parametrize("name", SHIPPED)
def test_card_is_complete(name):
    card = read_card(name)
    for key in ("command", "commit", "seed", "data_md5", "test_acc", "per_class_test_acc"):
        assert card[key] is not None, key
    assert card["command"].startswith("mnistlab train ") and "--seed" in card["command"]
    assert len(card["data_md5"]) == 4 and len(card["per_class_test_acc"]) == 10
    weights = WEIGHTS_DIR / name / "model.safetensors"
    assert card["file_bytes"] == weights.stat().st_size
    model = mnistlab.create_model(name, pretrained=True)
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    assert "licence" in card and "CC BY-SA" in card["licence"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_eval_reproduces_the_recorded_test_accuracy_to_the_image(name, real_data_dir, capsys):
    assert main(["eval", name, "--json", "--data-dir", str(real_data_dir)]) == 0
    result = json.loads(capsys.readouterr().out)
    card = read_card(name)
    assert result["errors"] == card["test_errors"]
    assert result["accuracy"] == card["test_acc"]
    per_class = {row["class"]: row["recall"] for row in result["per_class"]}
    assert per_class == card["per_class_test_acc"]


def test_fresh_install_predicts_a_drawing_with_no_data_and_no_training(tmp_path):
    image = Image.new("L", (200, 260), 255)
    ImageDraw.Draw(image).line([(60, 40), (150, 40), (90, 220)], fill=0, width=18)
    image.save(tmp_path / "seven.png")
    env = {k: v for k, v in os.environ.items() if k != "MNISTLAB_DATA_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "predict", "seven.png", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["digit"] == 7 and entry["confidence"] > 0.5
    assert not (tmp_path / "empty-cache").exists()  # nothing was downloaded or cached


def test_create_model_pretrained_by_name_and_family():
    lenet = mnistlab.create_model("lenet5", pretrained=True)
    assert not lenet.training
    fast = mnistlab.create_model("tinynet", pretrained=True)  # the one shipped tinynet
    same = mnistlab.create_model("fast", pretrained=True)
    assert all(
        torch.equal(a, b)
        for a, b in zip(fast.state_dict().values(), same.state_dict().values(), strict=True)
    )
    untrained = mnistlab.create_model("lenet5")
    assert untrained.training
    with pytest.raises(MnistlabError, match="pretrained models: fast, lenet5"):
        mnistlab.create_model("mlp", pretrained=True)


def test_unknown_name_lists_the_known_ones(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pretrained models: " + ", ".join(SHIPPED) in err


@pytest.mark.parametrize("command", ["predict", "read"])
def test_a_misspelt_model_before_images_is_an_error_not_a_missing_image(
    command, tmp_path, capsys, monkeypatch
):
    """`predict lenet a.png` once answered a.png with the default model and called "lenet" a
    missing file; a word with no extension that names nothing is a model written wrong."""
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "a.png"
    Image.new("L", (28, 28), 255).save(image)
    assert main([command, "lenet", str(image)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lenet: no such model folder" in err
    assert "did you mean lenet5?" in err
    assert main([command, "lenet"]) == 2 and "did you mean lenet5?" in capsys.readouterr().err
    # a missing image or folder is still that input's own error, the others answered
    for missing in ("missing.png", "scans/", "scan1"):
        assert main([command, missing, str(image)]) == 1
        out = capsys.readouterr().out
        assert missing.rstrip("/") in out and "a.png" in out


def test_damaged_shipped_weights_are_one_line(tmp_path):
    copy = tmp_path / "lenet5"
    shutil.copytree(WEIGHTS_DIR / "lenet5", copy)
    card = read_card("lenet5")
    verify_folder(copy, card, "lenet5")  # intact copy passes
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its checksum.*reinstall"):
        verify_folder(copy, card, "lenet5")


def test_a_folder_named_like_a_pretrained_model_wins_and_says_so(tmp_path, monkeypatch):
    shutil.copytree(WEIGHTS_DIR / "fast", tmp_path / "lenet5")
    monkeypatch.chdir(tmp_path)
    notes = []
    assert resolve_model("lenet5", notes.append) == Path("lenet5")
    assert len(notes) == 1 and "using the folder ./lenet5" in notes[0]
    model, meta = mnistlab.runs.load_model("lenet5")
    assert meta["model"] == "tinynet"


@pytest.mark.slow
def test_the_wheel_with_the_shipped_models_stays_under_5_mb(tmp_path):
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         str(root), "-w", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("mnistlab-*.whl")
    assert wheel.stat().st_size < 5_000_000
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for name in SHIPPED:
        for file in ("model.safetensors", "model.json", "card.json", "CARD.md"):
            assert f"mnistlab/weights/{name}/{file}" in names
