"""Fixtures of the inference tests: the real test split and the default shipped model."""

from __future__ import annotations

import pytest

from mnistlab.data.splits import load_splits
from mnistlab.inference import Predictor


@pytest.fixture(scope="session")
def test_split(real_data_dir):
    return load_splits("mnist", real_data_dir, download=False)["test"]


@pytest.fixture(scope="session")
def predictor():
    return Predictor.from_path(None)
