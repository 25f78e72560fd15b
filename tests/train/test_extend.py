"""Runs you can extend (--resume DIR --epochs N) and stop (Ctrl-C says how to go on); a run that
fails before its first epoch leaves no folder behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file


def _mnistlab(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "mnistlab", *map(str, args)], capture_output=True, text=True, **kw
    )


def _train(out, data_dir, epochs, *extra, share=0.2):
    # a fifth of the images per epoch keeps the suite short (the run, its resume and its
    # extension all read the share from the config); one fixed thread: weights repeat bit for
    # bit only at a fixed thread count
    config = out.parent / f"{out.name}-config.toml"
    config.write_text(f'model = "mlp"\nepoch_share = {share}\n')
    common = ["--device", "cpu", "--threads", "1", "--quiet", "--data-dir", data_dir]
    return _mnistlab("train", "--config", config, "--epochs", epochs, *common, "--out", out, *extra)


@pytest.mark.slow
def test_extending_a_finished_run_equals_a_fresh_longer_run(tmp_path, real_data_dir):
    short, fresh = tmp_path / "short", tmp_path / "fresh"
    assert _train(short, real_data_dir, 1).returncode == 0
    again = _mnistlab("train", "--resume", short, "--data-dir", real_data_dir)
    assert again.returncode == 0 and "is already complete (1 epochs); nothing to do" in again.stderr
    assert f"--resume {short} --epochs 2" in again.stderr
    extended = _mnistlab(
        "train", "--resume", short, "--epochs", "2", "--threads", "1", "--json",
        "--data-dir", real_data_dir,
    )  # fmt: skip
    assert extended.returncode == 0, extended.stderr
    summary = json.loads(extended.stdout)
    assert summary["epochs_completed"] == 2 and summary["complete"] is True
    assert _train(fresh, real_data_dir, 2).returncode == 0
    a, b = load_file(short / "model.safetensors"), load_file(fresh / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in b)  # SGD, constant rate: the same run exactly
    fewer = _mnistlab("train", "--resume", short, "--epochs", "2", "--data-dir", real_data_dir)
    assert fewer.returncode == 2 and "already completed 2 epochs" in fewer.stderr


def _wait_for(predicate, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _interrupted(model: str, out, data_dir, when: str) -> tuple[int, str]:
    """Train `model` into `out`, press Ctrl-C once `out/when` exists: (exit code, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "train", "--model", model, "--epochs", "5",
         "--device", "cpu", "--data-dir", str(data_dir), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for(lambda: (out / when).is_file(), proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.slow
def test_ctrl_c_after_an_epoch_says_how_to_resume(tmp_path, real_data_dir):
    out = tmp_path / "run"
    code, err = _interrupted("mlp", out, real_data_dir, "metrics.jsonl")
    assert code == 130
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"continue with: mnistlab train --resume {out}" in err
    assert "interrupted after epoch" in err


@pytest.mark.slow
def test_ctrl_c_before_the_first_epoch_keeps_nothing(tmp_path, real_data_dir):
    out = tmp_path / "run"
    code, err = _interrupted("cnn", out, real_data_dir, "model.json")
    assert code == 130 and "nothing was kept" in err and "Traceback" not in err
    assert not out.exists()


def test_a_run_that_cannot_start_leaves_no_folder(tmp_path):
    env = {**os.environ, "MNISTLAB_MIRRORS": "http://127.0.0.1:9/"}  # refused at once
    env.pop("MNISTLAB_DATA_DIR", None)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    out = tmp_path / "run"
    result = _mnistlab("train", "--model", "mlp", "--out", out, "--data-dir", tmp_path / "none",
                       env=env)  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_a_recipe_names_its_run_folder_and_banner(tmp_path, real_data_dir):
    result = _mnistlab(
        "train", "--recipe", "fast", "--threads", "1", "--data-dir", real_data_dir, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("training tinynet (recipe fast):")
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("fast-")
    meta = json.loads((folder / "model.json").read_text())
    assert meta["train"]["recipe"] == "fast" and meta["train"]["model_config"]["crop"] == 2
    assert meta["test_acc"] >= 0.985  # one epoch of the recipe reaches ~99.2% (RESULTS.md)


@pytest.mark.slow
def test_cpu_bf16_trains_where_the_cpu_has_it_and_is_refused_where_not(tmp_path, real_data_dir):
    from mnistlab.system import cpu_has_native_bf16

    out = tmp_path / "run"
    result = _train(out, real_data_dir, 1, "--cpu-bf16", share=1.0)
    if cpu_has_native_bf16():
        assert result.returncode == 0, result.stderr
        meta = json.loads((out / "model.json").read_text())
        assert meta["train"]["cpu_bf16"] is True and meta["test_acc"] > 0.85
    else:
        assert result.returncode == 2 and "no native bf16" in result.stderr
        assert not out.exists()
