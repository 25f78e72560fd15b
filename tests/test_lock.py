"""The suite runs on the versions in requirements/lock.txt (scripts/setup.sh installs them), and
the lock names every package installed beside mnistlab, so a fresh machine gets what was tested.
Under `scripts/test.sh --latest` (.venv-latest) the releases are the newest: never older."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = ("torch", "triton", "nvidia-", "mnistlab", "pip", "setuptools", "wheel")


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _locked() -> dict[str, str]:
    lines = (ROOT / "requirements" / "lock.txt").read_text().splitlines()
    pairs = (line.split("==") for line in lines if line and not line.startswith("#"))
    return {_canonical(name): version for name, version in pairs}


def _installed() -> dict[str, str]:
    found = {_canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    return {name: v for name, v in found.items() if not name.startswith(LEFT_OUT)}


def test_every_installed_package_is_locked():
    missing = sorted(set(_installed()) - set(_locked()))
    assert not missing, f"not in requirements/lock.txt: {missing}; run python scripts/lock.py"


def test_installed_versions_are_the_locked_ones():
    locked, installed = _locked(), _installed()
    if Path(sys.prefix).name == ".venv-latest":
        older = {n: v for n, v in installed.items() if Version(v) < Version(locked[n])}
        assert not older, f"--latest installed releases older than the lock: {older}"
        return
    differ = {n: (v, locked[n]) for n, v in installed.items() if v != locked[n]}
    assert not differ, f"installed (version, locked): {differ}; run bash scripts/setup.sh test"
