"""Time loading all 70,000 MNIST images and labels into tensors from the .gz files.

Each repeat points XDG_CACHE_HOME at a new empty folder and calls
`mnistlab.data.load_splits(download=False)` twice:
- cold: no unpacked cache, so every .gz is decompressed, hashed, parsed and the cache written;
- warm: the cache just written, re-hashed against the official MD5 on every read.
Both include verification, parsing, the train/val split and the conversion to torch tensors.
An untimed load first brings the .gz files into the OS page cache and imports everything, so
"cold" means a cold unpacked cache, not a cold disk.

    python -m benchmarks.load_speed --data-dir ../shared/data/mnist --repeats 5
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mnistlab import __version__
from mnistlab.data import load_splits

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed_load(data_dir: Path) -> float:
    start = time.perf_counter()
    splits = load_splits("mnist", data_dir, download=False)
    elapsed = time.perf_counter() - start
    assert sum(len(s) for s in splits.values()) == 70000
    return elapsed


def with_cache(folder: str) -> None:
    os.environ["XDG_CACHE_HOME"] = folder


def run(data_dir: Path, repeats: int) -> tuple[list[float], list[float]]:
    """(cold seconds, warm seconds), one of each per repeat."""
    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="mnistlab-bench-") as scratch:
        with_cache(os.path.join(scratch, "warmup"))
        timed_load(data_dir)  # imports, page cache
        for i in range(repeats):
            with_cache(os.path.join(scratch, f"cache-{i}"))
            cold.append(timed_load(data_dir))
            warm.append(timed_load(data_dir))
    return cold, warm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=os.environ.get("MNISTLAB_DATA_DIR") or DEFAULT_DATA,
        help="folder with the four .gz files (default: $MNISTLAB_DATA_DIR, "
        "else ../shared/data/mnist)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="cold+warm pairs (default 5)")
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    load = os.getloadavg()
    print(
        f"# load_speed  mnistlab {__version__}  {datetime.datetime.now().isoformat(' ', 'seconds')}"
    )
    print(f"# CPU: {cpu_model()}, {os.cpu_count()} cores, load average {load[0]:.2f} at start")
    print(
        f"# Python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}, {platform.system()} {platform.release()}"
    )
    print(f"# data: {args.data_dir.resolve()}, {args.repeats} repeats")
    cold, warm = run(args.data_dir, args.repeats)

    print("\n| cache | median (s) | min (s) | max (s) |")
    print("|---|---|---|---|")
    for name, times in (("cold", cold), ("warm", warm)):
        print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} | {max(times):.3f} |")

    command = f"python -m benchmarks.load_speed --repeats {args.repeats}"
    rows = [
        "| what | cold cache: median (min) | warm cache: median (min) | hardware | command |",
        "|---|---|---|---|---|",
        f"| load 70,000 images + labels into tensors, verified | "
        f"{statistics.median(cold):.2f} s ({min(cold):.2f}) | "
        f"{statistics.median(warm):.2f} s ({min(warm):.2f}) | "
        f"{cpu_model()}, {os.cpu_count()} cores | `{command}` |",
        "",
        f"torch {torch.__version__}, numpy {np.__version__}, Python "
        f"{platform.python_version()}; {datetime.datetime.now().isoformat(' ', 'seconds')}; load "
        f"average {load[0]:.2f} at start. Cold: the .gz files are decompressed and verified "
        "(they are in the OS page cache); warm: the verified uncompressed copy is re-hashed and "
        "read.",
    ]
    print("\nRow for docs/RESULTS.md:")
    print("\n".join(rows))
    if args.write:
        from benchmarks._report import update_section

        update_section("load_speed", "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
