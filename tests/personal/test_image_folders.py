"""Labelled image folders: `predict DIR` on an ImageFolder tree, `eval --images`, the loader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mnistlab.cli import main
from mnistlab.errors import MnistlabError
from mnistlab.inference.folders import load_image_folder, stratified_split


def test_predict_reads_a_folder_of_class_folders(person_folder, capsys):
    assert main(["predict", "lenet5", str(person_folder), "--json", "--no-reject"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) == 120
    assert {e["status"] for e in entries} == {"ok"}
    assert {e["path"].split("/")[-2] for e in entries} == {str(d) for d in range(10)}


def test_eval_images_matches_predict_and_reports_the_confusion(person_folder, capsys):
    assert main(["predict", "lenet5", str(person_folder), "--json", "--no-reject"]) == 0
    entries = json.loads(capsys.readouterr().out)
    right = sum(int(e["path"].split("/")[-2]) == e["digit"] for e in entries)

    assert main(["eval", "lenet5", "--images", str(person_folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 120 and report["images"] == str(person_folder)
    assert report["accuracy"] == pytest.approx(right / 120)
    confusion = np.array(report["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum(1).tolist() == [12] * 10
    assert report["errors"] == 120 - np.trace(confusion)

    assert main(["eval", "lenet5", "--images", str(person_folder)]) == 0
    text = capsys.readouterr().out
    assert f"on the images in {person_folder}: accuracy {100 * right / 120:.2f}%" in text
    assert "confusion matrix (rows: true, columns: predicted)" in text


def test_a_subfolder_that_names_no_class_is_an_error(tmp_path, person_folder, capsys):
    (tmp_path / "3").mkdir()
    (tmp_path / "three").mkdir()
    assert main(["eval", "lenet5", "--images", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "three" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(MnistlabError, match="subfolders three name no class"):
        load_image_folder(tmp_path)
    (tmp_path / "three").rmdir()
    with pytest.raises(MnistlabError, match="no labelled images"):
        load_image_folder(tmp_path)


def test_hidden_folders_and_unreadable_files_are_left_out(tmp_path, person_folder):
    import shutil

    shutil.copytree(person_folder, tmp_path / "me")
    (tmp_path / "me" / ".canvas" / "4").mkdir(parents=True)  # serve --collect's drawings
    (tmp_path / "me" / "4" / "broken.png").write_text("not a png")
    loaded = load_image_folder(tmp_path / "me")
    assert len(loaded.split) == 120
    assert [p.name for p, _ in loaded.skipped] == ["broken.png"]


def test_the_split_is_stratified_disjoint_and_fixed_by_its_seed():
    labels = torch.arange(10).repeat_interleave(10)
    fit, held = stratified_split(labels, 0.3, seed=0)
    assert sorted(fit + held) == list(range(100)) and not set(fit) & set(held)
    assert torch.bincount(labels[held], minlength=10).tolist() == [3] * 10
    assert stratified_split(labels, 0.3, seed=0) == (fit, held)
    assert stratified_split(labels, 0.3, seed=1) != (fit, held)
