"""Render the GPU session's saved output (benchmarks/results/gpu/) into docs/RESULTS.md.

    python -m benchmarks.gpu_report [--write]

The numbers were measured by `benchmarks/gpu_session.sh` on lent H100s (pass1 and pass2 in one
lease; pass3, with CUDA graphs, in a later one, when its files are there): each JSON file is the
`--json-out` of one `benchmarks/sota.py` invocation, with its command line and hardware header
inside, and pass3/graph_step.json that of `benchmarks/graph_step.py`. Nothing is measured here;
this only tabulates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks._report import mean_std, pct, update_section
from graph_step import MAX_LOSS_DIFF

GPU = Path(__file__).resolve().parent / "results" / "gpu"
TARGET_SINGLE, TARGET_ENSEMBLE, TARGET_TIME = 0.9975, 0.9985, 5.0
# (file, what it is): in the order they ran
RUNS = [
    ("pass1/sota_e8.json", "8 epochs (time to 99.7%)"),
    ("pass1/sota_full.json", "30 epochs: the `sota` recipe"),
    ("pass1/sota_e4.json", "4 epochs"),
    ("pass2/sota_e8_b512.json", "8 epochs, batch 512, lr 0.2 (tried; not kept)"),
    ("pass2/sota_full2.json", "30 epochs: the `sota` recipe, again"),
    # pass 3 ran these with --cuda-graph if its graph check passed; row() says which
    ("pass3/sota_e8_graph.json", "8 epochs"),
    ("pass3/sota_e6_graph.json", "6 epochs"),
    ("pass3/sota_full_graph.json", "30 epochs: the `sota` recipe"),
]


def load(name: str) -> dict:
    return json.loads((GPU / name).read_text())


def row(run: dict, what: str) -> str:
    # pass 1 predates the batch_size field: it ran the recipe's 256 (see its command)
    secs = run["train_seconds"]
    if "cuda_graph" in run:  # pass 3 on
        what += ", steps replayed as a CUDA graph" if run["cuda_graph"] else ", eager steps"
    ensemble = run["ensemble"]
    return (
        f"| {what} | {run.get('batch_size', 256)} | {len(run['seeds'])} | {pct(run['test_acc'])} | "
        f"{pct(run['val_acc'])} | {pct(run['test_acc_tta'])} | "
        f"{100 * ensemble['accuracy']:.2f} ({ensemble['members']}) | "
        f"{mean_std(secs)[0]:.1f} ({min(secs):.1f}-{max(secs):.1f}) |"
    )


def shorter_schedule(runs: list[tuple[dict, str]], e8: dict) -> dict:
    """The schedule for the time to 99.7%: 6 epochs instead of 8 when its mean validation
    accuracy is at least the 8-epoch one's (the rule was fixed before pass 3 ran)."""
    e6 = [run for run, what in runs if what.startswith("6 epochs")]
    if e6 and mean_std(e6[0]["val_acc"])[0] >= mean_std(e8["val_acc"])[0]:
        return e6[0]
    return e8


def graph_lines() -> list[str]:
    """ms per step, eager and replayed as a CUDA graph (benchmarks/graph_step.py), if run."""
    path = GPU / "pass3" / "graph_step.json"
    if not path.is_file():
        return []
    record = json.loads(path.read_text())
    lines = [
        "",
        "Steps replayed as a CUDA graph (`benchmarks/graph_step.py`, real batches, the whole "
        "step: gather, augmentation, forward, backward, optimizer, EMA):",
        "",
        "| recipe | eager ms/step | replayed ms/step | replayed / eager | largest loss "
        "difference over 40 steps (augmentation and dropout off) |",
        "|---|---|---|---|---|",
    ]
    for name, r in record["recipes"].items():
        diff = r["agreement"]["max_loss_diff"]
        verdict = "" if diff <= MAX_LOSS_DIFF else " (**disagree**: the recording is wrong)"
        lines.append(
            f"| {name} | {r['eager_ms']:.2f} | {r['graph_ms']:.2f} | {r['ratio']:.2f} | "
            f"{diff:.2g}{verdict} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args()
    runs = [(load(name), what) for name, what in RUNS if (GPU / name).is_file()]
    full = [run for run, what in runs if what.startswith("30 epochs")]
    all_tests = [a for run in full for a in run["test_acc"]]
    single_mean = mean_std(all_tests)[0]
    # the verdict rests on the largest ensemble (named in advance), not the best-scoring one
    largest = max(full, key=lambda run: run["ensemble"]["members"])["ensemble"]
    e8 = [r for r, what in runs if what.startswith("8 epochs") and r.get("batch_size", 256) == 256]
    e8 = e8[-1]  # the latest: with CUDA graphs once they were measured
    timed = shorter_schedule(runs, e8)
    warm = [s for s, seed in zip(timed["train_seconds"], timed["seeds"], strict=True) if seed != 0]
    first = {}  # pass -> its first file
    for name, _ in RUNS:
        if (GPU / name).is_file():
            first.setdefault(name.split("/")[0], name)
    passes = list(first)
    lines = [
        "Command: `python -m benchmarks.gpu_report --write` (tabulates the output of "
        f"`bash benchmarks/gpu_session.sh {' / '.join(passes)}`, saved in "
        "benchmarks/results/gpu/; pass1 and pass2 in one lease, pass3 in a later one)  ",
        *(f"{p}: {load(first[p])['header']}  " for p in passes),
        "",
        "Recipe `sota`: convnet (64, 128, 256) x 2, SGD nesterov, peak lr 0.1, one-cycle, "
        "label smoothing 0.1, affine augmentation, EMA 0.999, bf16 autocast, channels_last. "
        "Each row is one `benchmarks/sota.py` invocation; its seeds are trained one after "
        "another in one process. Test accuracy is read once per model, at the end. pass1 and "
        "pass2 ran before the EMA was bias-corrected: their EMA kept a share 0.999^(steps-1) "
        "of the first step's weights (18% after 8 epochs, 0.2% after 30; docs/speed-log.md).",
        "",
        "| run | batch | seeds | test acc, % | val acc, % | + TTA, % | ensemble, % "
        "(members) | training s per seed: mean (min-max) |",
        "|---|---|---|---|---|---|---|---|",
        *(row(run, what) for run, what in runs),
        *graph_lines(),
        "",
        "Targets (issue 4):",
        f"- single model, mean >= 99.75%: the {len(full)} 30-epoch runs give {pct(all_tests)}% "
        f"over {len(all_tests)} models (seeds repeat across runs; cuDNN is not "
        f"bit-deterministic, so the repeats differ), exactly {100 * single_mean:.4f}%: "
        + ("**met**." if single_mean >= TARGET_SINGLE else "**missed**."),
        f"- ensemble >= 99.85%: the largest ensemble, {largest['members']} members, gives "
        f"{100 * largest['accuracy']:.2f}%: "
        + ("**met**." if largest["accuracy"] >= TARGET_ENSEMBLE else "**missed**."),
        f"- time to >= 99.7% <= {TARGET_TIME:.0f} s: the {timed['epochs']}-epoch schedule"
        f"{' with CUDA graphs' if timed.get('cuda_graph') else ''} reaches "
        f"{pct(timed['test_acc'])}% in {mean_std(warm)[0]:.1f} s (seeds 1-2; seed 0 includes "
        f"the process's first-call costs, {timed['train_seconds'][0]:.1f} s): "
        + (
            "**met**."
            if mean_std(warm)[0] <= TARGET_TIME and mean_std(timed["test_acc"])[0] >= 0.997
            else "**missed**."
        ),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        update_section("sota_sota_cuda", text)


if __name__ == "__main__":
    main()
