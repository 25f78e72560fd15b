"""`mnistlab read`'s cost per digit in this checkout against an earlier commit's, side by side.

    python -m benchmarks.reading_cost --ref 9751969 [--numbers 60] [--rounds 3] [--model sota-cpu]

The machine's speed drifts, so the cost is a ratio of runs taken in one command, alternating:
each round times `read_number` on the same PNG files (numbers of 2-8 validation digits, drawn
once here by this checkout's mnistlab.synth, gaps/touching/jitter in turn) in a fresh process
on the earlier commit's source (a temporary git worktree) and on this checkout's, one torch
thread, after one untimed pass. Prints each run, the medians and the ratio (issue 26's target:
within 20% of before).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._report import ref_checkout

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("gaps", "touching", "jitter")  # kinds both commits' reader knows

# run in the child, on whichever mnistlab PYTHONPATH names: thread CPU seconds per digit read
CHILD = """
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from mnistlab.inference import Predictor
from mnistlab.inference.reading import read_number
files = sorted(Path(sys.argv[1]).glob("*.png"))
digits = int(sys.argv[3])
predictor = Predictor.from_path(sys.argv[2])
for f in files:
    read_number(predictor, f)  # untimed: models, detector, caches warm
start = time.thread_time()
for f in files:
    read_number(predictor, f)
print(json.dumps({"ms_per_digit": 1000 * (time.thread_time() - start) / digits}))
"""


def draw_numbers(folder: Path, count: int) -> int:
    """`count` PNG numbers of validation digits in `folder`; returns how many digits in all."""
    import numpy as np

    from mnistlab.data.splits import load_splits
    from mnistlab.synth import render_number

    split = load_splits("mnist", download=False)["val"]
    rng = np.random.default_rng(26)
    total = 0
    for i in range(count):
        length = int(rng.integers(2, 9))
        chosen = rng.integers(0, len(split), size=length)
        digits = [split.images[j].numpy() for j in chosen]
        image, _ = render_number(KINDS[i % len(KINDS)], digits, rng)
        image.save(folder / f"{i:03d}.png")
        total += length
    return total


def measure(src: Path, folder: Path, model: str, digits: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), model, str(digits)],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])["ms_per_digit"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--model", default="sota-cpu")
    parser.add_argument("--numbers", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from mnistlab.system import header

    runs: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp, ref_checkout(args.ref, ROOT) as (commit, tree):
        folder = Path(tmp) / "numbers"
        folder.mkdir()
        digits = draw_numbers(folder, args.numbers)
        for round_ in range(args.rounds):
            for label, src in (("before", tree / "src"), ("after", ROOT / "src")):
                runs[label].append(measure(src, folder, args.model, digits))
                print(f"round {round_ + 1} {label}: {runs[label][-1]:.2f} ms per digit")
    before, after = statistics.median(runs["before"]), statistics.median(runs["after"])
    print(header("cpu"))
    print(
        f"{args.numbers} numbers, {digits} digits, model {args.model}, 1 thread: "
        f"{commit} {before:.2f} ms per digit, this checkout {after:.2f} ms "
        f"({after / before:.2f}x; medians of {args.rounds} rounds)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
