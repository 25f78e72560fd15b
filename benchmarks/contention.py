"""Training on a shared CPU: each training's time alone, beside a second training, and beside
another busy process, for a fixed thread count (torch's default, one per core) and for
`--threads auto` (mnistlab.threads.ThreadGovernor), interleaved round by round.

    python -m benchmarks.contention [--rounds 2] [--epochs 2] [--model lenet5] [--write]

Each training is a real `mnistlab train` process; the time is its own `train_seconds` (the
training loop, data loading and the test pass excluded). The busy neighbour is a process doing
large float matrix products with torch's default threads. Run it with nothing else on the
machine: the point is to control the contention.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._report import mean_std, update_section
from mnistlab.system import header

BUSY = (
    "import torch, time\n"
    "a = torch.randn(1024, 1024)\n"
    "end = time.monotonic() + 900\n"
    "while time.monotonic() < end:\n"
    "    a = (a @ a).tanh_()\n"
)


def start_training(out: Path, threads: str, args) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable, "-m", "mnistlab", "train", "--model", args.model,
            "--epochs", str(args.epochs), "--seed", "0", "--device", "cpu", "--quiet",
            "--threads", threads, "--out", str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen, out: Path) -> float:
    _, err = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"training failed: {err.strip()}")
    return json.loads((out / "model.json").read_text())["train_seconds"]


def run_case(case: str, threads: str, work: Path, args) -> list[float]:
    """Train seconds of the measured training(s) in one case."""
    outs = [work / f"{case}-{threads}-{i}-{time.monotonic_ns()}" for i in range(2)]
    if case == "solo":
        return [finish(start_training(outs[0], threads, args), outs[0])]
    if case == "paired":
        procs = [start_training(o, threads, args) for o in outs]
        return [finish(p, o) for p, o in zip(procs, outs, strict=True)]
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    time.sleep(2)  # the neighbour is up and computing before the training starts
    try:
        return [finish(start_training(outs[0], threads, args), outs[0])]
    finally:
        busy.kill()
        busy.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args(argv)
    env_threads = {
        k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ
    }
    if env_threads:
        raise SystemExit(f"unset {', '.join(env_threads)}: it would fix every run's threads")
    policies = {"fixed": str(os.cpu_count()), "auto": "auto"}
    cases = ("solo", "paired", "busy")
    times: dict[tuple[str, str], list[float]] = {(p, c): [] for p in policies for c in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for policy, threads in policies.items():
                for case in cases:
                    got = run_case(case, threads, Path(tmp), args)
                    times[(policy, case)].extend(got)
                    shown = ", ".join(f"{t:.1f}" for t in got)
                    print(f"round {r + 1} {policy:5} {case:6} train seconds: {shown}", flush=True)
    lines = [
        f"`python -m benchmarks.contention --rounds {args.rounds} --epochs {args.epochs} "
        f"--model {args.model}`; {header('cpu')}",
        "",
        "| threads | alone (s) | beside a 2nd training (s) | ratio | beside a busy process (s)"
        " | ratio |",
        "|---|---|---|---|---|---|",
    ]
    result = {"header": header("cpu"), "args": vars(args) | {"json_out": None}, "rows": {}}
    for policy, threads in policies.items():
        solo, _ = mean_std(times[(policy, "solo")])
        paired, paired_std = mean_std(times[(policy, "paired")])
        busy, busy_std = mean_std(times[(policy, "busy")])
        label = f"`--threads {threads}`" + (" (torch's default)" if policy == "fixed" else "")
        lines.append(
            f"| {label} | {solo:.1f} | {paired:.1f} ± {paired_std:.1f} | {paired / solo:.2f}x "
            f"| {busy:.1f} ± {busy_std:.1f} | {busy / solo:.2f}x |"
        )
        result["rows"][policy] = {c: times[(policy, c)] for c in cases}
    best_solo = min(mean_std(times[(p, "solo")])[0] for p in policies)
    auto_paired = mean_std(times[("auto", "paired")])[0]
    lines += ["", f"auto, paired, against the fastest solo: {auto_paired / best_solo:.2f}x"]
    table = "\n".join(lines)
    print(table)
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    if args.write:
        update_section("contention", "### Training on a shared CPU\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
