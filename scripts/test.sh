#!/usr/bin/env bash
# The tests, on a fresh clone: set up what they need on first use (the package with every extra,
# pytest and ruff, and Debian's chromium, Fashion-MNIST and wrk for the browser, second-dataset
# and load tests), then run the whole suite. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v wrk >/dev/null \
  || [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium, dataset-fashion-mnist and wrk (Debian) ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium dataset-fashion-mnist wrk \
      >/dev/null
  else
    echo "test.sh: chromium, dataset-fashion-mnist or wrk is missing; install them (Debian)" >&2
  fi
fi
bash scripts/setup.sh test
exec .venv/bin/python -m pytest -q "$@"
