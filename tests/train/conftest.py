"""Real short trainings shared by the training tests (module-scoped: each costs seconds)."""

from __future__ import annotations

import pytest

from mnistlab.data.splits import load_splits


@pytest.fixture(scope="session")
def mnist_splits(real_data_dir):
    return load_splits("mnist", real_data_dir, download=False)
