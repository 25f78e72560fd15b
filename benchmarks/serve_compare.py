"""The server of this checkout against the server of an earlier commit, under the same load.

    python -m benchmarks.serve_compare --ref 1b92591 [--payload page|pixels] [--workers 1]
                                       [--rounds 2] [--duration 8] [--write]

The machine's speed drifts between days and with whatever else runs, so a speedup is only
believable as a ratio of runs taken side by side: each round runs `benchmarks.serve_load` (wrk,
32 connections, lenet5) once against the earlier commit's `mnistlab serve` (a temporary git
worktree) and once against this checkout's, alternating. The load generator and its payloads
are this checkout's for both. Prints each run and the medians; --write puts the table into
docs/RESULTS.md.
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--payload", choices=("page", "pixels"), default="page")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per run")
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    return parser.parse_args()


def measure(src: Path, args: argparse.Namespace) -> dict:
    """One serve_load run with the server imported from `src`."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
        command = [
            sys.executable, "-m", "benchmarks.serve_load", args.model,
            "--payload", args.payload, "--workers", str(args.workers),
            "--duration", str(args.duration), "--json-out", out.name,
        ]  # fmt: skip
        # exit status 1 means errors were counted: they are in the numbers, and reported
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        text = Path(out.name).read_text()
        if not text:
            raise SystemExit(f"serve_load failed ({done.returncode}): {done.stderr[-2000:]}")
        return json.loads(text)


def main() -> int:
    args = parse_args()
    from benchmarks.serve_load import header

    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    with ref_checkout(args.ref, ROOT) as (commit, tree):
        for round_ in range(args.rounds):
            for label, src in (("before", tree / "src"), ("after", ROOT / "src")):
                result = measure(src, args)
                runs[label].append(result)
                print(f"round {round_ + 1} {label}: {json.dumps(result)}", flush=True)

    def median(label: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[label])

    rows = []
    for key, name in (
        ("requests_per_s", "requests/s"),
        ("p99_ms", "latency p99 (ms)"),
        ("server_cpu_ms_per_request", "server CPU per request (ms)"),
    ):
        before, after = median("before", key), median("after", key)
        rows.append(f"| {name} | {before:.2f} | {after:.2f} | {after / before:.2f}x |")
    errors = sum(r["errors"] for label in runs for r in runs[label])
    model = f" --model {args.model}" if args.model != "lenet5" else ""
    setup = (
        f"`python -m benchmarks.serve_compare --ref {commit}{model} --payload {args.payload} "
        f"--workers {args.workers} --rounds {args.rounds} --duration {args.duration}`: "
        f"`mnistlab serve {args.model} --workers {args.workers}` at {commit} (before) and at "
        f"{head} (after), alternating, {args.rounds} runs each, medians; {errors} errors in all"
    )
    table = "\n".join(
        [f"| {args.payload} payload | before ({commit}) | after ({head}) | after/before |",
         "|---|---|---|---|", *rows]
    )  # fmt: skip
    print(header())
    print(setup)
    print(table)
    if args.write:
        from benchmarks._report import update_section

        section = f"serve_compare_{args.payload}_{args.workers}"
        update_section(section, f"{header()}\n\n{setup}\n\n{table}\n")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
