"""What a cold command costs: `mnistlab --help`, `--version`, a misspelt command and a whole
`mnistlab predict one.png`, each against `python -c "import torch"` measured in the same run.

    python -m benchmarks.cold_start [--repeats 7] [--write]

Every command is a fresh process (as a user types it), run in turn with the others, `repeats`
times; the table gives each one's median wall time and its ratio to importing torch. Then
`python -X importtime` splits one `predict` into where its imports go, and the rest of it
(reading the model, preprocessing, the forward pass) is the difference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._report import update_section
from mnistlab.system import header

GROUPS = ("torch", "numpy", "scipy", "PIL", "safetensors", "mnistlab")


def commands(image: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "mnistlab"]
    return {
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        "mnistlab --help": [*cli, "--help"],
        "mnistlab --version": [*cli, "--version"],
        "mnistlab trian (a misspelt command)": [*cli, "trian"],
        "mnistlab predict one.png": [*cli, "predict", str(image)],
    }


def seven(folder: Path) -> Path:
    from PIL import Image, ImageDraw

    path = folder / "one.png"
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).line([(80, 60), (200, 60), (120, 240)], fill=0, width=22)
    image.save(path)
    return path


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False)
    return time.perf_counter() - started


def import_shares(command: list[str]) -> dict[str, float]:
    """Seconds spent importing each top-level package's own modules (python -X importtime's
    'self' column, so a package imported by another counts for itself only)."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]], capture_output=True, text=True
    )
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if own.isdigit():
            top = name.split(".")[0]
            totals[top] = totals.get(top, 0.0) + int(own) / 1e6
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = commands(seven(Path(folder)))
        for command in runs.values():  # warm the page cache: cold means a new process only
            wall(command)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, command in runs.items():
                times[name].append(wall(command))
        shares = import_shares(runs["mnistlab predict one.png"])
    medians = {name: statistics.median(values) for name, values in times.items()}
    torch_time = medians['python -c "import torch"']
    lines = [
        "### Cold start (issue 23)",
        "",
        f"`python -m benchmarks.cold_start --repeats {args.repeats}`; {header()}; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
        "",
        f"Each command a new process, run in turn with the others {args.repeats} times; "
        "median wall time, and its ratio to importing torch in the same run.",
        "",
        "| command | median (s) | min-max (s) | / import torch |",
        "|---|---|---|---|",
    ]
    for name, values in times.items():
        lines.append(
            f"| {name} | {medians[name]:.3f} | {min(values):.3f}-{max(values):.3f} | "
            f"{medians[name] / torch_time:.2f} |"
        )
    predict = medians["mnistlab predict one.png"]
    imports = sum(shares.get(group, 0.0) for group in GROUPS)
    lines += [
        "",
        "Where one `mnistlab predict one.png` goes (`python -X importtime`: the time spent in "
        "each package's own modules; measured in a separate run, so the shares are rough; the "
        "rest of the wall time is the interpreter's start, reading the model and the "
        "detector, preprocessing and the forward pass):",
        "",
        "| part | seconds | share of the median predict |",
        "|---|---|---|",
    ]
    for group in GROUPS:
        seconds = shares.get(group, 0.0)
        lines.append(f"| import {group} | {seconds:.3f} | {seconds / predict:.0%} |")
    other = sum(v for k, v in shares.items() if k not in GROUPS)
    lines.append(f"| other imports | {other:.3f} | {other / predict:.0%} |")
    rest = max(0.0, predict - imports - other)
    lines.append(f"| everything else | {rest:.3f} | {rest / predict:.0%} |")
    markdown = "\n".join(lines)
    print(markdown)
    if args.write:
        update_section("cold_start", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
