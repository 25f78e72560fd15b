#!/usr/bin/env bash
# Set up .venv for one purpose, on first use only (re-runs take a second):
#   bash scripts/setup.sh          the main job: torch and mnistlab, with the web server so that
#                                  `predict` and `serve` work too
#   bash scripts/setup.sh test     the above plus every extra and the test tools
# torch is pinned to the CPU build on this kind of machine; elsewhere pass TORCH_SPEC="torch".
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
case "${1:-main}" in
  main) EXTRAS="web" ;;
  test) EXTRAS="dev" ;;
  *) echo "setup.sh: unknown purpose '$1'; use main or test" >&2; exit 2 ;;
esac
# A stamp per purpose and project file: set-up runs again only when pyproject.toml changes.
STAMP=".venv/.setup-$EXTRAS-$(cksum < pyproject.toml | cut -d' ' -f1)-${TORCH_SPEC//[^a-zA-Z0-9.]/_}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ ! -e "$STAMP" ]; then
  echo "setting up .venv ($EXTRAS) ..." >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check "$TORCH_SPEC" -e ".[$EXTRAS]"
  touch "$STAMP"
fi
