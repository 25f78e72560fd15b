"""Time to 99% (T@99): mnistlab's fast recipe against the peers, in one run.

    python -m benchmarks.speed [--device cpu] [--seeds 10] [--peer-seeds 1] [--write]
    python -m benchmarks.speed --seeds 10 --peers tuomaso --isa native,avx2 --write

A thin wrapper over `mnistlab bench speed` that also keeps the raw JSON in
benchmarks/results/ and, with --write, the table in docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from benchmarks._report import update_section
from mnistlab.bench.speed import format_table, run_speed_bench

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--peer-seeds", type=int, default=1)
    parser.add_argument("--peers", default="tuomaso,examples,tutorial")
    parser.add_argument("--data-dir")
    parser.add_argument("--from-json", help="render a saved `mnistlab bench speed --json` run")
    parser.add_argument(
        "--isa",
        metavar="LIST",
        help="a CPU matrix (native, avx512, avx2): each column a fresh capped process "
        "(mnistlab.bench.isa); the table goes to the section speed_isa",
    )
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--section", help="RESULTS.md section (default: speed_<device>)")
    parser.add_argument(
        "--cuda-graph", action="store_true", help="mnistlab's runs replay each step as a CUDA graph"
    )
    args = parser.parse_args()
    if args.isa:
        isa_matrix(args)
        return
    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
        command = f"mnistlab bench speed --json (saved as {args.from_json})"
    else:
        result = run_speed_bench(
            args.device,
            args.seeds,
            args.peer_seeds,
            tuple(args.peers.split(",")),
            data_dir=args.data_dir,
            cuda_graph=args.cuda_graph,
        )
        command = "python -m benchmarks.speed " + " ".join(sys.argv[1:])
        RESULTS_DIR.mkdir(exist_ok=True)
        name = args.section or f"speed_{result['device']}"
        (RESULTS_DIR / f"{name}.json").write_text(json.dumps(result, indent=1))
    text = f"Command: `{command}`  \n" + format_table(result)
    print(text)
    if args.write:
        update_section(args.section or f"speed_{result['device'].split(':')[0]}", text)


def isa_matrix(args: argparse.Namespace) -> None:
    """`mnistlab bench speed --isa LIST --json` (one capped process per column), its raw JSON
    kept and its table written."""
    from mnistlab.bench.isa import matrix_table

    if args.from_json:  # a saved matrix (benchmarks/results/speed_isa.json), rendered again
        reports = json.loads(Path(args.from_json).read_text())
        command = f"python -m benchmarks.speed --isa {args.isa}` (saved as {args.from_json})"
    else:
        reports = run_isa_matrix(args)
        command = f"python -m benchmarks.speed {' '.join(sys.argv[1:])}`"
    text = f"Command: `{command}  \n" + matrix_table(reports)
    print(text)
    if args.write:
        update_section(args.section or "speed_isa", text)


def run_isa_matrix(args: argparse.Namespace) -> dict:
    """Run the matrix in a child process and keep its raw JSON in benchmarks/results/."""
    command = [sys.executable, "-m", "mnistlab", "bench", "speed", "--isa", args.isa, "--json"]
    command += ["--device", args.device, "--seeds", str(args.seeds)]
    command += ["--peer-seeds", str(args.peer_seeds), "--peers", args.peers]
    command += ["--data-dir", args.data_dir] if args.data_dir else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr.strip() or "mnistlab bench speed --isa failed")
    reports = json.loads(done.stdout)["isa"]
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "speed_isa.json").write_text(json.dumps(reports, indent=1))
    return reports


if __name__ == "__main__":
    main()
