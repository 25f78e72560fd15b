"""Kill a real training process after its first epoch, resume it, compare with a clean run."""

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


def _train_cmd(out, data_dir, *extra):
    # cnn: dropout, so the resumed run must also restore the random-number state; a quarter
    # of the images per epoch keeps the suite short (the resume reads the share from the run)
    config = out.parent / f"{out.name}-config.toml"
    config.write_text('model = "cnn"\nepochs = 2\nbatch_size = 500\nepoch_share = 0.25\n')
    return [
        sys.executable,
        "-m",
        "mnistlab",
        "train",
        "--config",
        str(config),
        "--seed",
        "5",
        "--device",
        "cpu",
        "--quiet",
        "--threads",  # weights repeat bit for bit at a fixed thread count
        "2",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        *extra,
    ]


def _epochs_done(out) -> int:
    path = out / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
def test_killed_run_resumes_to_identical_weights(tmp_path, real_data_dir):
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _train_cmd(killed, real_data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while _epochs_done(killed) < 1:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "first epoch never finished"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _epochs_done(killed)
    assert done == 1, f"process finished {done} epochs before the kill"
    meta = json.loads((killed / "model.json").read_text())
    assert meta["complete"] is False and meta["test_acc"] is None

    subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistlab",
            "train",
            "--resume",
            str(killed),
            "--threads",
            "2",
            "--quiet",
            "--data-dir",
            str(real_data_dir),
            "--device",
            "cpu",
        ],
        check=True,
        capture_output=True,
    )
    clean = tmp_path / "clean"
    subprocess.run(_train_cmd(clean, real_data_dir), check=True, capture_output=True)

    a = load_file(killed / "model.safetensors")
    b = load_file(clean / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in b)
    resumed, fresh = (json.loads((d / "model.json").read_text()) for d in (killed, clean))
    assert resumed["test_acc"] == fresh["test_acc"] and resumed["epochs_completed"] == 2
    assert _epochs_done(killed) == 2


def test_resume_of_a_folder_without_state_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "train", "--resume", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
