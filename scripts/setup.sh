#!/usr/bin/env bash
# One-command set-up: a virtual environment in .venv with mnistlab and everything its tests need.
# torch is pinned to the CPU build on this kind of machine; elsewhere pass TORCH_SPEC="torch".
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q "$TORCH_SPEC" -e ".[dev]"
echo "mnistlab is set up: activate with 'source .venv/bin/activate'"
