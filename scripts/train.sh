#!/usr/bin/env bash
# The main job, on a fresh clone: set up what it needs on first use, then train the tutorial's
# LeNet5 and report its test accuracy. Flags go to `mnistlab train` (e.g. --recipe fast).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh main
exec .venv/bin/mnistlab train "$@"
