"""How often a finished two-process torchrun training fails at exit: `terminate called without
an active exception` (SIGABRT) after the run folder was written, the race that
train.distributed.setup's own process group removes.

    python -m benchmarks.torchrun_exit [--runs 40] [--ref REV]

Each run is `torchrun --standalone --nproc_per_node=2 -m mnistlab train --model mlp --epochs 1
--batch-size 500 --device cpu` on the CPU (gloo), with a busy process beside it the whole time,
as the test suite's other work is: the abort needs a gloo thread that is slow to release its
last collective, and a busy machine is where it was seen (in the killed-and-resumed DDP test).
With --ref, the runs of this checkout and of the earlier commit (a temporary git worktree)
alternate, so both meet the same machine. Needs the MNIST files (MNISTLAB_DATA_DIR or
--data-dir). Each run takes about 8 s on 2 cores.

finished: exit 0; aborted: SIGABRT with "terminate called" in the output; other: any other
failure (the output's last line is printed).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._report import commit_ref, readers

TRAIN = ["--model", "mlp", "--epochs", "1", "--batch-size", "500", "--device", "cpu", "--quiet"]


def one_run(src: Path, folder: Path, data_dir: str | None) -> tuple[str, str]:
    """(outcome, the output's last line) of one two-process training by the mnistlab in `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    data = ["--data-dir", data_dir] if data_dir else []
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", "-m", "mnistlab", "train", *TRAIN, *data]
    done = subprocess.run(
        [*command, "--out", str(folder / "run")],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    last = (output.strip().splitlines() or [""])[-1]
    if done.returncode == 0:
        return "finished", last
    if "terminate called" in output:
        return "aborted", last
    return "other", last


def which_mnistlab(src: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = "import mnistlab; print(mnistlab.__file__)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per checkout")
    parser.add_argument(
        "--ref", type=commit_ref, help="also run an earlier commit (any git revision)"
    )
    parser.add_argument("--data-dir", help="the MNIST files (default: MNISTLAB_DATA_DIR)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    from mnistlab.system import header

    print(f"torchrun_exit: {header()}; {args.runs} runs per checkout", flush=True)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with readers(args.ref) as found:
            for label, src in found:
                print(f"{label}: mnistlab from {which_mnistlab(src)}", flush=True)
            tally = {label: collections.Counter() for label, _ in found}
            for i in range(args.runs):
                for label, src in found:
                    with tempfile.TemporaryDirectory() as tmp:
                        outcome, last = one_run(src, Path(tmp), args.data_dir)
                    tally[label][outcome] += 1
                    if outcome == "other":
                        print(f"  {label}, run {i + 1}: failed: {last}", flush=True)
    finally:
        busy.kill()
        busy.wait()
    for label, counts in tally.items():
        shares = ", ".join(f"{k} {counts[k]}" for k in ("finished", "aborted", "other"))
        print(f"{label}: {shares} (of {args.runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
