"""Distributed training with torchrun on the CPU (gloo on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from mnistlab.data.loader import DeviceLoader
from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.train.distributed import ENV_VARS, context_from_env


def torchrun(nproc: int, *args: str) -> list[str]:
    # --standalone: a rendezvous on a free port of this machine
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "mnistlab",
        *args,
    ]


def test_environment_outside_torchrun_is_single_process():
    assert context_from_env({}) is None
    full = {
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
    }
    ctx = context_from_env(full)
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.is_main) == (1, 2, 1, False)


def test_half_set_environment_is_a_clear_error():
    with pytest.raises(MnistlabError, match="half-set.*RANK.*missing"):
        context_from_env({"WORLD_SIZE": "2"})
    with pytest.raises(MnistlabError, match="outside"):
        context_from_env(
            {
                "RANK": "2",
                "WORLD_SIZE": "2",
                "LOCAL_RANK": "0",
                "MASTER_ADDR": "x",
                "MASTER_PORT": "1",
            }
        )


def test_half_set_environment_on_the_command_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "train", "--out", str(tmp_path / "r")],
        env={**env, "WORLD_SIZE": "2"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "half-set" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r").exists()


def _kill_processes_naming(path) -> None:
    """SIGKILL every process whose command line names `path` (Linux /proc)."""
    needle = str(path).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if needle in handle.read():
                    os.kill(int(entry), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


@pytest.mark.parametrize("world", [2, 3])
def test_shards_of_an_epoch_are_disjoint_and_cover_the_split(world):
    split = Split(torch.zeros(1003, 28, 28, dtype=torch.uint8), torch.zeros(1003))
    shards = [
        torch.cat(
            list(
                DeviceLoader(
                    split, 100, shuffle=True, seed=4, rank=r, world_size=world
                ).batch_indices(epoch=2)
            )
        )
        for r in range(world)
    ]
    together = torch.cat(shards)
    assert len(together) == 1003 and len(set(together.tolist())) == 1003
    for a in range(world):
        for b in range(a + 1, world):
            assert not set(shards[a].tolist()) & set(shards[b].tolist())


@pytest.mark.slow
def test_two_processes_match_one(tmp_path, trained_lenet5, real_data_dir):
    """Same global batch (100) and seed as the shared 1-process lenet5 run."""
    out = tmp_path / "ddp"
    trained = subprocess.run(
        torchrun(
            2,
            "train",
            "--model",
            "lenet5",
            "--epochs",
            "1",
            "--seed",
            "0",
            "--device",
            "cpu",
            "--quiet",
            "--data-dir",
            str(real_data_dir),
            "--out",
            str(out),
        ),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    two = json.loads((out / "model.json").read_text())
    one = json.loads((trained_lenet5 / "model.json").read_text())
    assert two["world_size"] == 2 and two["train"]["batch_size"] == 100
    assert abs(two["test_acc"] - one["test_acc"]) <= 0.003, (two["test_acc"], one["test_acc"])
    digests = two["rank_weight_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]  # rank 1 wrote nothing else
    assert sorted(p.name for p in out.iterdir()) == [
        "features.safetensors",  # the calibration's bank of training-digit features
        "metrics.jsonl",
        "model.json",
        "model.safetensors",
        "resume.pt",
        "steps.jsonl",
    ]


@pytest.mark.slow
def test_killed_two_process_run_resumes(tmp_path, real_data_dir):
    out = tmp_path / "run"
    common = ["--device", "cpu", "--quiet", "--data-dir", str(real_data_dir)]
    proc = subprocess.Popen(
        torchrun(
            2,
            "train",
            "--model",
            "mlp",
            "--epochs",
            "2",
            "--batch-size",
            "500",
            "--out",
            str(out),
            *common,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    metrics = out / "metrics.jsonl"
    while not (metrics.exists() and metrics.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.monotonic() < deadline, "epoch 1 never finished"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _kill_processes_naming(out)  # torchrun's workers live in their own sessions
    first = metrics.read_text().splitlines()[0]
    if json.loads((out / "model.json").read_text())["complete"]:
        pytest.skip("the run finished before it could be killed")
    resumed = subprocess.run(
        torchrun(2, "train", "--resume", str(out), *common),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    meta = json.loads((out / "model.json").read_text())
    rows = metrics.read_text().splitlines()
    assert meta["complete"] and meta["epochs_completed"] == 2 and meta["world_size"] == 2
    assert len(rows) == 2 and rows[0] == first


@pytest.mark.parametrize(
    "argv, message",
    [(["--runs", "0"], "--runs must be at least 1"), (["--ref", "nosuch"], "nosuch")],
)
def test_the_exit_benchmark_s_mistakes_are_one_line(argv, message):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.torchrun_exit", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
