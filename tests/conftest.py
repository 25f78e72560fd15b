"""Fixtures shared by every test folder: the real MNIST files and an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnistlab.data import store
from mnistlab.data.datasets import get_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"


def _holds_mnist(folder: str | Path | None) -> bool:
    if not folder or not Path(folder).is_dir():
        return False
    spec = get_dataset("mnist")
    return all(store.find_file(spec, f, [Path(folder)]) is not None for f in spec.files)


def data_required() -> bool:
    """In CI (or when asked) a missing data folder is a failure, never a skip."""
    return os.environ.get("MNISTLAB_REQUIRE_DATA") == "1" or os.environ.get("CI") == "true"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point XDG_CACHE_HOME at a per-session folder so no test reads or writes ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder with the four real MNIST files: $MNISTLAB_DATA_DIR, else ../shared/data/mnist."""
    env = os.environ.get("MNISTLAB_DATA_DIR")
    for candidate in (env, SHARED_MNIST):
        if _holds_mnist(candidate):
            return Path(candidate).resolve()
    message = (
        f"real MNIST files not found (MNISTLAB_DATA_DIR={env!r}, {SHARED_MNIST}); "
        "point MNISTLAB_DATA_DIR at a folder holding the four files"
    )
    if data_required():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def trained_lenet5(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path) -> Path:
    """A lenet5 trained for one epoch (seed 0) through the CLI, once per session, shared by
    every test folder. MNISTLAB_TEST_MODEL=<run folder> skips the training while iterating."""
    if os.environ.get("MNISTLAB_TEST_MODEL"):
        return Path(os.environ["MNISTLAB_TEST_MODEL"])
    from mnistlab.cli import main

    out = tmp_path_factory.getbasetemp() / "trained-lenet5"
    args = [
        "train",
        "--model",
        "lenet5",
        "--epochs",
        "1",
        "--seed",
        "0",
        "--device",
        "cpu",
        "--quiet",
        "--data-dir",
        str(real_data_dir),
        "--out",
        str(out),
    ]
    assert main(args) == 0, "training the shared test model failed"
    return out
