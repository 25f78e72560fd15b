"""model.json travels as RunMeta: save_meta takes only it, and what is not a key stays out."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mnistlab.runs.folder import read_meta, save_meta
from mnistlab.runs.meta import RunMeta


def _meta(**train) -> RunMeta:
    return RunMeta(model="lenet5", config={}, normalization="mnist", train=train or None)


def test_save_meta_takes_a_runmeta_not_a_dict(tmp_path):
    with pytest.raises(TypeError, match="RunMeta"):
        save_meta(tmp_path, {"model": "lenet5", "config": {}, "normalization": "mnist"})
    meta = _meta()
    save_meta(tmp_path, meta)
    assert read_meta(tmp_path) == meta


def test_the_folder_a_record_lives_in_is_not_written_into_it(tmp_path):
    save_meta(tmp_path, dataclasses.replace(_meta(), folder=tmp_path))
    data = json.loads((tmp_path / "model.json").read_text())
    assert "folder" not in data
    data["folder"] = "kept as an unknown key"  # a newer mnistlab's key of that name
    assert RunMeta.from_dict(data).extra == {"folder": "kept as an unknown key"}


def test_recipe_and_full_train_read_the_training_config():
    assert _meta(recipe="sota-cpu", full_train=True).recipe == "sota-cpu"
    assert _meta(recipe="sota-cpu", full_train=True).full_train
    assert _meta().recipe is None and not _meta().full_train
