"""`mnistlab bench speed` in smoke mode: the code path stays alive (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_speed_smoke_runs_every_recipe(real_data_dir):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistlab",
            "bench",
            "speed",
            "--smoke",
            "--json",
            "--device",
            "cpu",
            "--data-dir",
            str(real_data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["smoke"] is True
    names = [row["recipe"] for row in report["rows"]]
    assert names[0] == "mnistlab fast" and len(names) == 4
    for row in report["rows"]:
        assert row["seeds"] == 1 and row["seconds_mean"] > 0
        assert 0 <= row["accuracy_mean"] <= 1
    assert "hardware:" in report["header"] and report["eval_seconds"] > 0


def test_bench_rejects_unknown_peer():
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "bench", "speed", "--peers", "nope"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "unknown peer" in result.stderr
    assert "Traceback" not in result.stderr
