"""Write requirements/lock.txt: the exact versions installed in a virtual environment where the
whole suite just passed (`bash scripts/test.sh`, or `bash scripts/test.sh --latest` and then
`python scripts/lock.py .venv-latest` to adopt the newest releases).

scripts/setup.sh installs with the lock as pip constraints, so the main job and the tests get
the versions that were tested, while pyproject.toml keeps the ranges mnistlab works with.
torch is left out: scripts/setup.sh pins it (TORCH_SPEC), because which build fits (CPU or CUDA)
depends on the machine; so are the CUDA runtime packages a GPU build of torch brings.

    python scripts/lock.py [VENV]            write requirements/lock.txt from VENV (.venv)
    python scripts/lock.py --print [VENV]    print the pins instead
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
LEFT_OUT = ("torch", "triton", "nvidia-")  # chosen per machine by TORCH_SPEC


def pins(venv: Path) -> list[str]:
    """`name==version` for every package in `venv` but mnistlab itself and torch's build."""
    frozen = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    kept = [line for line in frozen if "==" in line and not line.lower().startswith(LEFT_OUT)]
    return sorted(kept, key=str.lower)


def header(venv: Path) -> list[str]:
    python = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return [
        "# The versions the whole suite passed with (written by scripts/lock.py; do not edit).",
        f"# Python {python}, {sys.platform}, {datetime.date.today().isoformat()}.",
        "# scripts/setup.sh installs with this file as pip constraints; torch is pinned there.",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv", nargs="?", default=".venv", type=Path)
    parser.add_argument("--print", action="store_true", help="print the pins, write nothing")
    args = parser.parse_args()
    venv = args.venv if args.venv.is_absolute() else ROOT / args.venv
    if not (venv / "bin" / "python").exists():
        print(
            f"lock.py: {venv} is not a virtual environment; run scripts/setup.sh", file=sys.stderr
        )
        return 2
    lines = pins(venv)
    if args.print:
        print("\n".join(lines))
        return 0
    LOCK.parent.mkdir(exist_ok=True)
    part = LOCK.with_suffix(".part")
    part.write_text("\n".join(header(venv) + lines) + "\n")
    part.replace(LOCK)  # never a half-written lock
    print(f"wrote {LOCK.relative_to(ROOT)}: {len(lines)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
