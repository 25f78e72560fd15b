"""`mnistlab finetune`: a personal model from a simulated writer's folder, a valid run folder."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from mnistlab.cli import main
from mnistlab.errors import MnistlabError
from mnistlab.inference import Predictor
from mnistlab.runs import read_meta, resolve_model
from mnistlab.runs.features import bank_of
from mnistlab.serve import create_app
from mnistlab.train.personal import FinetuneConfig
from mnistlab.train.personal_run import finetune


def test_the_config_rejects_unknown_keys_by_name():
    with pytest.raises(MnistlabError, match="unknown option 'stpes'.*'steps'"):
        FinetuneConfig.from_dict({"stpes": 3})
    with pytest.raises(MnistlabError, match="held_out"):
        FinetuneConfig(held_out=1.5)


@pytest.fixture(scope="module")
def personal_run(person_folder, real_data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "me"
    args = ["finetune", "lenet5", str(person_folder), "--out", str(out), "--held-out", "0.5"]
    args += ["--steps", "30", "--data-dir", str(real_data_dir), "--json"]
    assert main(args) == 0
    return out


def test_finetune_improves_the_held_out_digits(personal_run, capsys):
    card = read_meta(personal_run).adapted
    assert card.base == "lenet5" and card.fit_digits == 60 and card.held_out_digits == 60
    # the writer is far from MNIST: the shipped lenet5 misses many; the personal model fewer
    assert card.held_out_acc_before < 0.9
    assert card.held_out_acc_after >= card.held_out_acc_before + 0.05


def test_the_personal_model_keeps_mnist(personal_run):
    meta = read_meta(personal_run)
    # a guard against forgetting on an extreme writer at 30 steps; the
    # issue's 0.2-point target is measured on sota-cpu by benchmarks/personal.py
    assert meta.adapted.base_test_acc - meta.test_acc < 0.01


def test_the_run_folder_is_a_model_folder_with_its_card(personal_run, person_folder, capsys):
    meta = read_meta(personal_run)
    assert meta.complete and meta.model == "lenet5" and meta.train["recipe"] == "finetune"
    assert meta.calibration is not None and "person's 60 fit digits" in meta.calibration.fitted_on
    assert meta.calibration.threshold is not None  # "not sure" refitted, not dropped
    card = (personal_run / "CARD.md").read_text()
    assert "adapted from lenet5" in card and "on 60 of the person's digits" in card
    assert "fitted to lenet5's answers, not their labels" in card
    # the strong writer leans left and writes narrow: measured, kept, said on the card
    assert "degrees left of MNIST's" in meta.adapted.style
    assert f"the person's hand, measured from their digits: {meta.adapted.style}" in card
    assert "50% of the replayed digits were redrawn in it" in card
    predictor = Predictor.from_path(personal_run)
    assert predictor.predict_image(next((person_folder / "7").iterdir())).guess is not None
    # serve and eval take it like any model folder
    assert main(["eval", str(personal_run), "--images", str(person_folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 120
    with TestClient(create_app(personal_run)) as client:
        assert client.get("/api/model").json()["test_acc"] == meta.test_acc


def test_the_personal_model_keeps_the_feature_rule_and_its_nearest_digits(personal_run, splits):
    meta = read_meta(personal_run)
    rule = meta.calibration.features  # "unlike the digits it knows", refitted, not dropped
    assert rule is not None and 0 < rule.threshold < 1 and (personal_run / rule.file).is_file()
    assert meta.calibration.val_false_reject < 0.02
    predictor = Predictor.from_path(personal_run)
    assert bank_of(predictor.model) is not None  # its bank, of its own weights, is loaded
    explanation = predictor.explain(splits["test"].images[0].numpy())
    assert explanation.note is None and len(explanation.neighbours) == 5


def test_the_personal_model_keeps_the_base_string_rule(personal_run, person_folder):
    """Read numbers stay judged as whole strings: the base's rule is kept (a fit takes
    minutes) and says so, and a reading of the personal model carries its confidence."""
    from mnistlab.inference.reading import read_number

    base = read_meta(resolve_model("lenet5")).calibration.reading
    kept = read_meta(personal_run).calibration.reading
    assert kept is not None and kept.weights == base.weights and kept.threshold == base.threshold
    assert "the base model's rule, kept" in kept.fitted_on
    from PIL import Image

    digits = [Image.open(next((person_folder / d).iterdir())).convert("L") for d in "47"]
    line = Image.new("L", (digits[0].width * 3, digits[0].height), 255)
    line.paste(digits[0], (0, 0))
    line.paste(digits[1], (digits[0].width * 2, 0))
    reading = read_number(Predictor.from_path(personal_run), line)
    assert len(reading.number) == 2 and reading.to_dict()["confidence"] is not None


def test_finetune_of_fast_keeps_the_feature_rule(person_folder, real_data_dir, tmp_path):
    base = read_meta(resolve_model("fast")).calibration
    assert base.features is not None
    result = finetune("fast", person_folder, tmp_path / "me", {"steps": 5}, real_data_dir)
    rule = result.meta.calibration.features
    assert rule is not None and rule.rows == base.features.rows
    assert (tmp_path / "me" / rule.file).is_file()


def test_without_restyling_no_style_is_measured_or_said(person_folder, real_data_dir, tmp_path):
    result = finetune(
        "lenet5",
        person_folder,
        tmp_path / "me",
        {"steps": 10, "restyle": 0.0, "calibration": "none"},
        data_dir=real_data_dir,
        progress=False,
    )
    assert result.adapted.style is None and read_meta(result.run_dir).adapted.style == ""
    assert "the person's hand" not in (result.run_dir / "CARD.md").read_text()


def test_finetune_of_a_folder_without_digits_is_one_line(tmp_path, capsys):
    (tmp_path / "5").mkdir()
    code = main(["finetune", "lenet5", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0 and "no labelled images" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_restyle_share_out_of_range_is_one_line(person_folder, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["finetune", "lenet5", str(person_folder), "--out", str(out), "--restyle", "2"])
    err = capsys.readouterr().err
    assert code != 0 and "restyle must be in [0, 1], got 2.0" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_finetune_shows_its_steps_on_stderr_and_keeps_stdout_json(
    person_folder, real_data_dir, tmp_path, capsys
):
    args = ["finetune", "lenet5", str(person_folder), "--out", str(tmp_path / "me")]
    args += ["--steps", "3", "--calibration", "none", "--data-dir", str(real_data_dir), "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["adapted"]["steps"] == 3
    assert "finetune: epoch   1/1" in captured.err


def test_finetune_in_python_can_be_quiet(person_folder, real_data_dir, tmp_path, capsys):
    finetune("lenet5", person_folder, tmp_path / "me", {"steps": 3}, real_data_dir, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
