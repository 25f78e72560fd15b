"""User mistakes on the training commands: one line on stderr, non-zero exit, nothing written."""

from __future__ import annotations

import pytest

from mnistlab.cli import main


def run(argv: list[str]) -> int:
    """The exit code of `mnistlab ARGV`, whether argparse exits or main returns."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "lenet5", "--recipe", "fast"], "--recipe fast trains tinynet"),
        (["train", "--label-smoothing", "1.5"], "label smoothing must be in [0, 1)"),
        (["train", "--weight-decay", "-1"], "cannot be negative"),
        (["train", "--seeds", "a-b"], "--seeds 'a-b'"),
        (["train", "--resume", "x", "--lr", "3"], "remove --lr"),
        (["train", "--model", "resnet"], "invalid choice"),
        (["train", "--epochs", "0"], "expected a positive integer"),
        (["eval", "/nonexistent/run"], "no such model folder"),
        (["train", "--cuda-graph", "--device", "cpu"], "--cuda-graph needs a single CUDA device"),
        (["train", "--cuda-graph", "--optimizer", "adadelta"], "--cuda-graph works with"),
        (["train", "--cuda-graph", "--compile"], "choose one of --cuda-graph and --compile"),
    ],
)
def test_mistake_is_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(argv) != 0
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_unwritable_out_folder_is_one_line(capsys, tmp_path, real_data_dir):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    code = run(
        ["train", "--model", "mlp", "--out", str(blocked / "run"), "--data-dir", str(real_data_dir)]
    )
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_an_ensemble_cannot_be_a_member(trained_lenet5, tmp_path, capsys, real_data_dir):
    args = ["--data-dir", str(real_data_dir), "--device", "cpu"]
    assert main(["ensemble", str(trained_lenet5), "--out", str(tmp_path / "e"), *args]) == 0
    capsys.readouterr()
    code = run(["ensemble", str(tmp_path / "e"), str(trained_lenet5), *args])
    err = capsys.readouterr().err
    assert code != 0 and "is itself an ensemble" in err


@pytest.mark.parametrize(
    "model_config, message",
    [
        ('{"model": "tinynet", "model_config": {"k1": 4}}', "k1 (first kernel) must be 3, 5 or 6"),
        ('{"model": "tinynet", "model_config": {"crop": 3}}', "crop must be 0, 2 or 4"),
        ('{"model": "convnet", "model_config": {"widths": []}}', "1 to 4 positive widths"),
    ],
)
def test_a_model_option_out_of_range_is_one_line(model_config, message, capsys, tmp_path,
                                                 monkeypatch):  # fmt: skip
    """A config file's model option out of its range: the model's own check, as one line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text(model_config)
    assert run(["train", "--config", "bad.json"]) != 0
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
