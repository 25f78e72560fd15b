#!/usr/bin/env bash
# The tests, on a fresh clone: set up what they need on first use (the package with every extra,
# pytest and ruff at the versions in requirements/lock.txt, and Debian's chromium,
# Fashion-MNIST and wrk for the browser, second-dataset and load tests), then run the whole
# suite. Arguments go to pytest.
#   bash scripts/test.sh --latest [ARGS]   the same suite on the newest releases of every
#                                          package (in .venv-latest): drift found by us, not by a
#                                          new user; on success, `python scripts/lock.py
#                                          .venv-latest` adopts them
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv LATEST=()
if [ "${1:-}" = --latest ]; then
  VENV=.venv-latest LATEST=(--latest)
  shift
fi
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
bash scripts/setup.sh test "${LATEST[@]}"
if [ "$VENV" = .venv-latest ]; then
  echo "newest releases against requirements/lock.txt (< locked, > newest):" >&2
  diff <(grep -v '^#' requirements/lock.txt) \
    <("$VENV/bin/python" scripts/lock.py --print "$VENV") >&2 || true
fi
exec "$VENV/bin/python" -m pytest -q "$@"
