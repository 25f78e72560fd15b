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


def test_per_sample_reference_transforms_like_torchvision():
    """The tutorial-pipeline reference: PIL image, ToTensor-style and Normalize-style steps."""
    import torch

    from mnistlab.bench.peers import PerSampleDataset
    from mnistlab.data.splits import Split

    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    dataset = PerSampleDataset(Split(images, torch.tensor([3, 1, 4, 1])), 0.1307, 0.3081)
    x, label = dataset[2]
    assert label == 4 and x.shape == (1, 28, 28) and x.dtype == torch.float32
    expected = (images[2].float() / 255 - 0.1307) / 0.3081
    torch.testing.assert_close(x[0], expected, atol=1e-6, rtol=0)
    dataset.image_module = None  # the path without Pillow gives the same tensor
    assert torch.equal(dataset[2][0], x)


def test_cpu_training_keeps_freed_memory_on_glibc():
    import platform

    from mnistlab.system import keep_freed_memory

    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


def test_bench_speed_isa_matrix_caps_each_column(real_data_dir):
    """--isa runs each column in a fresh process capped to its instruction set: the capped
    column's torch reports AVX2 whatever this CPU has, the peer beside ours in every column."""
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "bench", "speed", "--smoke", "--json", "--device",
         "cpu", "--peers", "tuomaso", "--isa", "native,avx2", "--data-dir", str(real_data_dir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    reports = json.loads(result.stdout)["isa"]
    assert list(reports) == ["native", "avx2"]
    assert reports["avx2"]["cpu_capability"] == "AVX2"
    for report in reports.values():
        assert [row["recipe"] for row in report["rows"]][0] == "mnistlab fast"
        assert len(report["rows"]) == 2 and report["rows"][1]["seconds_mean"] > 0


def test_bench_speed_rejects_an_unknown_isa_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "bench", "speed", "--isa", "native,avx9"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "unknown avx9" in result.stderr and "native, avx512, avx2" in result.stderr


def test_the_matrix_table_has_a_column_per_isa():
    from mnistlab.bench.isa import matrix_table

    def report(capability: str, ours: float, peer: float) -> dict:
        rows = [
            {
                "recipe": "mnistlab fast",
                "seconds_mean": ours,
                "seconds_std": 0.1,
                "t99_valid": True,
                "seeds": 10,
                "accuracy_mean": 0.9921,
                "seeds_at_99": 10,
            },
            {"recipe": "tuomaso", "seconds_mean": peer, "t99_valid": True},
        ]
        return {"header": "hardware: test", "cpu_capability": capability, "rows": rows}

    table = matrix_table({"native": report("AVX512", 2.0, 8.0), "avx2": report("AVX2", 4.0, 9.6)})
    assert "native (AVX512)" in table and "avx2 (AVX2)" in table
    cell = "(99.21%, 10/10 at 99%)"
    assert f"| mnistlab fast | 2.00 ± 0.10 {cell}, 0.250x | 4.00 ± 0.10 {cell}, 0.417x |" in table


def test_the_sota_matrix_passes_the_run_on_and_tabulates_each_column():
    from benchmarks.sota import child_argv, isa_table

    argv = ["--recipe", "sota-cpu", "--isa", "native,avx2", "--seeds=0-4", "--write",
            "--json-out", "m.json", "--work=w", "--epochs", "3"]  # fmt: skip
    assert child_argv(argv) == ["--recipe", "sota-cpu", "--seeds=0-4", "--epochs", "3"]

    def record(capability: str, bf16: bool, epochs: int, seconds: list[float]) -> dict:
        return {
            "header": "hardware: test", "cpu_capability": capability, "cpu_bf16": bf16,
            "epochs": epochs, "test_acc": [0.9966, 0.9968], "val_acc": [0.996, 0.996],
            "train_seconds": seconds, "reference_epoch_seconds": [8.0, 10.0],
        }  # fmt: skip

    records = {
        "native": record("AVX512", True, 12, [162.0, 198.0]),
        "avx2": record("AVX2", False, 20, [405.0, 405.0]),
    }
    table = isa_table(records, "python -m benchmarks.sota --isa native,avx2", "test CPU")
    assert "| | native | avx2 |" in table
    assert "| precision, epochs | bf16, 12 | fp32, 20 |" in table
    assert "| training / tuomaso's epoch | 20.0x (18.0-22.0x) | 45.0x (45.0-45.0x) |" in table
    assert "| test acc % (mean ± std) | 99.67 ± 0.01 (2 seeds) |" in table


def test_speed_rows_interleave_their_seeds():
    """Every row warms up first, then seed 0 of each row, then seed 1, ...: a drift of the
    machine's speed during the run falls on every row alike."""
    from mnistlab.bench.speed import run_interleaved

    calls: list[tuple[str, object]] = []

    class Fake:
        def __init__(self, name: str):
            self.name = name

        def warm_up(self) -> None:
            calls.append((self.name, "warm"))

        def seed(self, seed: int) -> None:
            calls.append((self.name, seed))

    run_interleaved([(Fake("ours"), 3), (Fake("peer"), 2)])
    assert calls == [
        ("ours", "warm"),
        ("peer", "warm"),
        ("ours", 0),
        ("peer", 0),
        ("ours", 1),
        ("peer", 1),
        ("ours", 2),
    ]
