"""A lenet5 trained for one epoch through the CLI, shared by this folder and tests/serve.

Set MNISTLAB_TEST_MODEL to an existing run folder to skip the training while iterating locally.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnistlab.cli import main


def train_lenet5_once(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Train into the session's base temp folder unless an earlier fixture already did."""
    if os.environ.get("MNISTLAB_TEST_MODEL"):
        return Path(os.environ["MNISTLAB_TEST_MODEL"])
    out = tmp_path_factory.getbasetemp() / "trained-lenet5"
    if not (out / "model.json").is_file():
        code = main(
            [
                "train",
                "--model",
                "lenet5",
                "--epochs",
                "1",
                "--device",
                "cpu",
                "--quiet",
                "--data-dir",
                str(data_dir),
                "--out",
                str(out),
            ]
        )
        assert code == 0, "training the test model failed"
    return out


@pytest.fixture(scope="session")
def trained_lenet5(tmp_path_factory, real_data_dir) -> Path:
    return train_lenet5_once(tmp_path_factory, real_data_dir)
