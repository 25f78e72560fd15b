#!/usr/bin/env bash
# The tests, on a fresh clone: set up what they need on first use (the package with every extra,
# pytest and ruff, and Debian's chromium and Fashion-MNIST for the browser and second-dataset
# tests), then run the whole suite. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium and dataset-fashion-mnist (Debian) ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium dataset-fashion-mnist >/dev/null
  else
    echo "test.sh: chromium or dataset-fashion-mnist is missing; install them (Debian)" >&2
  fi
fi
bash scripts/setup.sh test
exec .venv/bin/python -m pytest -q "$@"
