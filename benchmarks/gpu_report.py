"""Render the GPU session's saved output (benchmarks/results/gpu/) into docs/RESULTS.md.

    python benchmarks/gpu_report.py [--write]

The numbers were measured by `benchmarks/gpu_session.sh` (pass1, then pass2) on a lent H100:
each JSON file is the `--json-out` of one `benchmarks/sota.py` invocation there, with its
command line and hardware header inside. Nothing is measured here; this only tabulates.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import mean_std, pct, update_section  # noqa: E402

GPU = Path(__file__).resolve().parent / "results" / "gpu"
TARGET_SINGLE, TARGET_ENSEMBLE, TARGET_TIME = 0.9975, 0.9985, 5.0
# (file, what it is): in the order they ran
RUNS = [
    ("pass1/sota_e8.json", "8 epochs (time to 99.7%)"),
    ("pass1/sota_full.json", "30 epochs: the `sota` recipe"),
    ("pass1/sota_e4.json", "4 epochs"),
    ("pass2/sota_e8_b512.json", "8 epochs, batch 512, lr 0.2 (tried; not kept)"),
    ("pass2/sota_full2.json", "30 epochs: the `sota` recipe, again"),
]


def load(name: str) -> dict:
    return json.loads((GPU / name).read_text())


def row(run: dict, what: str) -> str:
    # pass 1 predates the batch_size field: it ran the recipe's 256 (see its command)
    secs = run["train_seconds"]
    ensemble = run["ensemble"]
    return (
        f"| {what} | {run.get('batch_size', 256)} | {len(run['seeds'])} | {pct(run['test_acc'])} | "
        f"{pct(run['val_acc'])} | {pct(run['test_acc_tta'])} | "
        f"{100 * ensemble['accuracy']:.2f} ({ensemble['members']}) | "
        f"{mean_std(secs)[0]:.1f} ({min(secs):.1f}-{max(secs):.1f}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args()
    runs = [(load(name), what) for name, what in RUNS]
    full = [run for run, what in runs if what.startswith("30 epochs")]
    all_tests = [a for run in full for a in run["test_acc"]]
    single_mean = mean_std(all_tests)[0]
    best_ensemble = max(run["ensemble"]["accuracy"] for run in full)
    e8 = runs[0][0]
    e8_warm = [s for s, seed in zip(e8["train_seconds"], e8["seeds"], strict=True) if seed != 0]
    lines = [
        "Command: `python benchmarks/gpu_report.py --write` (tabulates the output of "
        "`bash benchmarks/gpu_session.sh pass1` and then `pass2`, one lease, saved in "
        "benchmarks/results/gpu/)  ",
        runs[0][0]["header"],
        "",
        "Recipe `sota`: convnet (64, 128, 256) x 2, SGD nesterov, peak lr 0.1, one-cycle, "
        "label smoothing 0.1, affine augmentation, EMA 0.999, bf16 autocast, channels_last. "
        "Each row is one `benchmarks/sota.py` invocation; its seeds are trained one after "
        "another in one process. Test accuracy is read once per model, at the end.",
        "",
        "| run | batch | seeds | test acc, % | val acc, % | + TTA, % | ensemble, % "
        "(members) | training s per seed: mean (min-max) |",
        "|---|---|---|---|---|---|---|---|",
        *(row(run, what) for run, what in runs),
        "",
        "Targets (issue 4):",
        f"- single model, mean >= 99.75%: the two 30-epoch runs give {pct(all_tests)}% over "
        f"{len(all_tests)} models (seeds 0-3 twice; cuDNN is not bit-deterministic, so the "
        f"repeats differ), exactly {100 * single_mean:.4f}%: "
        + ("**met**." if single_mean >= TARGET_SINGLE else "**missed** by a hair."),
        f"- ensemble >= 99.85%: best {100 * best_ensemble:.2f}% with 4 members: "
        + ("**met**." if best_ensemble >= TARGET_ENSEMBLE else "**missed**."),
        f"- time to >= 99.7% <= {TARGET_TIME:.0f} s: the 8-epoch schedule reaches "
        f"{pct(e8['test_acc'])}% in {mean_std(e8_warm)[0]:.1f} s (seeds 1-2; seed 0 includes "
        f"the process's first-call costs, {e8['train_seconds'][0]:.1f} s): "
        + ("**met**." if mean_std(e8_warm)[0] <= TARGET_TIME else "**missed**."),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        update_section("sota_sota_cuda", text)


if __name__ == "__main__":
    main()
