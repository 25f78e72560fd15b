"""A CPU matrix for the speed benchmarks: the same run under instruction-set caps.

Most laptops have AVX2 and no AVX-512, and speed claims measured on one CPU family need not
hold on another (issue 24). oneDNN (convolutions, matrix products) and ATen (everything else)
both honour a cap set in the environment before torch starts, so each column of the matrix is
a fresh process with its caps; recipes then choose bf16 and other per-ISA settings from what
that process can use (oneDNN's own check honours the cap). The peers run in the same child, so
they are capped the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from typing import Any

# the environment that caps a fresh process's torch to each instruction set
ISA_CAPS: dict[str, dict[str, str]] = {
    "native": {},
    "avx512": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16", "ATEN_CPU_CAPABILITY": "avx512"},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
}


def parse_isas(text: str) -> tuple[str, ...]:
    """'native,avx2' -> ('native', 'avx2'); ValueError naming what is known otherwise."""
    wanted = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [w for w in wanted if w not in ISA_CAPS]
    if unknown or not wanted:
        raise ValueError(
            f"--isa: unknown {', '.join(unknown) or 'nothing given'}; "
            f"choose from {', '.join(ISA_CAPS)}"
        )
    return wanted


def run_capped(command: Sequence[str], isa: str, what: str) -> dict[str, Any]:
    """Run `command` (which prints one JSON object on stdout) in a fresh process whose torch is
    capped to `isa`, and return that object; RuntimeError with the child's last line of stderr
    if it fails. The child inherits this environment, with the caps on top."""
    env = {**os.environ, **ISA_CAPS[isa]}
    done = subprocess.run(list(command), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"{what} under --isa {isa} failed: {last}")
    return json.loads(done.stdout)


def cpu_flags() -> str:
    """The CPU's model and its vector flags of note (the day's machine: RESULTS names it)."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    notable = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return f"{model}; flags: {' '.join(f for f in notable if f in flags) or 'none of note'}"


def matrix_table(reports: dict[str, dict[str, Any]]) -> str:
    """One row per recipe, a column per instruction set: T@99 (mean ± std over the seeds) and
    the time as a ratio to the first peer's in the same column (each column is its own run)."""
    isas = list(reports)
    first = reports[isas[0]]
    lines = [
        first["header"],
        f"CPU: {cpu_flags()}",
        "",
        "| recipe | " + " | ".join(
            f"{isa} ({reports[isa].get('cpu_capability', '?')}): T@99 s (test acc), vs first peer"
            for isa in isas
        ) + " |",
        "|---|" + "---|" * len(isas),
    ]  # fmt: skip
    for i, row in enumerate(first["rows"]):
        cells = []
        for isa in isas:
            rows = reports[isa]["rows"]
            peer = rows[1]["seconds_mean"] if len(rows) > 1 else None
            seconds = rows[i]["seconds_mean"]
            # three decimals: the target (0.25x) is near enough to need them
            ratio = f"{seconds / peer:.3f}x" if peer else "-"
            std = rows[i].get("seconds_std")
            spread = f" ± {std:.2f}" if std is not None else ""
            mark = "" if rows[i]["t99_valid"] else " (below 99%)"
            seeds = rows[i].get("seeds")
            acc = rows[i].get("accuracy_mean")
            held = f" ({100 * acc:.2f}%, {rows[i]['seeds_at_99']}/{seeds} at 99%)" if seeds else ""
            cells.append(f"{seconds:.2f}{spread}{mark}{held}, {ratio}")
        lines.append(f"| {row['recipe']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
