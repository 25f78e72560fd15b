"""The command line as a whole: every --help works, one vocabulary, `mnistlab models`."""

from __future__ import annotations

import argparse
import json

import pytest

from mnistlab.cli import build_parser, main
from mnistlab.models import list_models
from mnistlab.runs import list_pretrained
from mnistlab.train.recipes import RECIPES


def _walk(parser: argparse.ArgumentParser, path: list[str]):
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, [*path, name])


COMMANDS = list(_walk(build_parser(), []))


def test_the_walk_finds_every_command():
    names = {" ".join(c) for c in COMMANDS}
    for expected in ("train", "eval", "plot", "predict", "export", "serve", "models", "data info"):
        assert expected in names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "mnistlab")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_and_subcommand_has_help(command, flag, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*command, flag])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mnistlab") and len(out.splitlines()) > 3


def test_train_help_describes_every_model_and_recipe(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = capsys.readouterr().out
    for name in [*list_models(), *RECIPES]:
        assert f"\n  {name} " in out, name
    assert "99% test accuracy" in out  # the '%' that used to crash argparse's formatting
    assert "epochs 10" in out  # defaults are shown


@pytest.mark.parametrize("command", [["eval"], ["plot"], ["export"], ["serve"]])
def test_every_command_names_the_model_the_same_way(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    assert "MODEL" in capsys.readouterr().out


def test_models_json_lists_families_recipes_and_pretrained(capsys):
    assert main(["models", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in info["models"]] == list_models()
    assert {r["name"] for r in info["recipes"]} == set(RECIPES)
    assert all(m["parameters"] > 1000 for m in info["models"])
    shipped = info["pretrained"]
    assert [p["name"] for p in shipped] == list_pretrained()
    assert {"lenet5", "fast", "sota-cpu"} <= {p["name"] for p in shipped}
    assert sum(p["default"] for p in shipped) == 1
    assert all(0.98 < p["test_acc"] < 1 for p in shipped)
    sota = next(r for r in info["recipes"] if r["name"] == "sota-cpu")
    assert "99.6" in sota["expected"]


def test_models_text(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "pretrained models" in out and "sota-cpu" in out and "(default)" in out
