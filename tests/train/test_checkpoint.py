"""Run folders: a round trip, and damaged files giving one clear line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from mnistlab.errors import CheckpointError
from mnistlab.models import create_model
from mnistlab.runs import folder as checkpoint
from mnistlab.runs.meta import RunMeta


@pytest.fixture
def run_dir(tmp_path):
    torch.manual_seed(0)
    model = create_model("lenet5")
    checkpoint.save_weights(tmp_path, model.to(memory_format=torch.channels_last))
    checkpoint.save_meta(
        tmp_path,
        RunMeta.from_dict(
            {
                "kind": "single",
                "model": "lenet5",
                "config": {},
                "normalization": "mnist",
                "dataset": "mnist",
                "test_acc": 0.5,
            }
        ),
    )
    return tmp_path, model


def test_round_trip_is_exact(run_dir):
    folder, model = run_dir
    loaded, meta = checkpoint.load_model(folder)
    assert meta["model"] == "lenet5" and not loaded.training
    for (k, a), (k2, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(a, b)
    assert not list(folder.glob(".*.part"))


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda f: (f / "model.safetensors").write_bytes(
                (f / "model.safetensors").read_bytes()[:1000]
            ),
            "truncated or corrupt",
        ),
        (lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 64), "truncated or corrupt"),
        (lambda f: (f / "model.safetensors").unlink(), "missing"),
        (lambda f: (f / "model.json").write_text("{not json"), "not valid JSON"),
        (
            lambda f: (f / "model.json").write_text('{"format": "mnistlab-model/1"}'),
            "missing model",
        ),
        (
            lambda f: (f / "model.json").write_text(
                (f / "model.json").read_text().replace('"lenet5"', '"cnn"')
            ),
            "does not match model",
        ),
        (
            lambda f: (f / "model.json").write_text(
                (f / "model.json").read_text().replace('"lenet5"', '"nope"')
            ),
            "unknown model",
        ),
        (lambda f: (f / "model.json").unlink(), "not a mnistlab model folder"),
    ],
)
def test_damaged_folder_is_a_clear_error(run_dir, damage, message):
    folder, _ = run_dir
    damage(folder)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load_model(folder)


def test_damaged_folder_on_the_command_line(run_dir):
    folder, _ = run_dir
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.safetensors").write_bytes(b"garbage")
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "eval", str(folder)], capture_output=True, text=True
    )
    assert result.returncode != 0 and meta["model"] == "lenet5"
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.safetensors" in lines[0], lines


def test_non_empty_out_folder_is_refused(tmp_path, real_data_dir):
    (tmp_path / "keep.txt").write_text("mine")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistlab",
            "train",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(real_data_dir),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "not empty" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"
