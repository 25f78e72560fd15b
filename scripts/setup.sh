#!/usr/bin/env bash
# Set up a virtual environment for one purpose, on first use only (re-runs take a second):
#   bash scripts/setup.sh          the main job: torch and mnistlab, with the web server so that
#                                  `predict` and `serve` work too
#   bash scripts/setup.sh test     the above plus every extra and the test tools
#   ... --latest                   the newest releases instead of the tested ones, in .venv-latest
# Every package is held to the version in requirements/lock.txt, the versions the whole suite
# last passed with (pyproject.toml keeps loose ranges for people who install mnistlab into their
# own environment). torch is pinned to the CPU build on this kind of machine; elsewhere pass
# TORCH_SPEC="torch".
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
PURPOSE=main LATEST=0
for arg in "$@"; do
  case "$arg" in
    main | test) PURPOSE="$arg" ;;
    --latest) LATEST=1 ;;
    *) echo "setup.sh: unknown argument '$arg'; use main or test, and --latest" >&2; exit 2 ;;
  esac
done
if [ "$PURPOSE" = main ]; then EXTRAS="web"; else EXTRAS="dev"; fi
if [ "$LATEST" = 1 ]; then
  VENV=.venv-latest PIN=(--upgrade --upgrade-strategy eager) LOCK="latest"
else
  VENV=.venv PIN=(-c requirements/lock.txt) LOCK="$(cksum < requirements/lock.txt | cut -d' ' -f1)"
fi
# A stamp per purpose, project file and lock: set-up runs again only when one of them changes
# (the newest releases are looked up again once a day).
STAMP="$VENV/.setup-$EXTRAS-$(cksum < pyproject.toml | cut -d' ' -f1)-$LOCK"
STAMP="$STAMP-${TORCH_SPEC//[^a-zA-Z0-9.]/_}"
[ "$LATEST" = 1 ] && STAMP="$STAMP-$(date +%F)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if [ ! -e "$STAMP" ]; then
  echo "setting up $VENV ($EXTRAS) ..." >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIN[@]}" \
    "$TORCH_SPEC" -e ".[$EXTRAS]"
  touch "$STAMP"
fi
