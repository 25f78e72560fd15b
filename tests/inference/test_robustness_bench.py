"""Two-sided accounting (mnistlab.bench.outcomes) and `mnistlab bench robustness`'s table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnistlab.bench.outcomes import Tally, tally
from mnistlab.bench.robustness import DigitsReport, KindResult, NondigitResult, format_digits
from mnistlab.cli import main
from mnistlab.inference.predictor import Prediction


def answer(digit: int | None, guess: int) -> Prediction:
    probabilities = [0.0] * 10
    probabilities[guess] = 1.0
    return Prediction(
        digit=digit,
        label=None if digit is None else str(digit),
        confidence=1.0,
        probabilities=probabilities,
        top_k=[(guess, 1.0)],
        pixels=np.zeros((28, 28), np.uint8),
        guess=guess,
        reason=None if digit is not None else "not a digit",
    )


def test_tally_classifies_each_side():
    answers = [
        answer(3, 3),  # right
        answer(5, 5),  # wrong (truth 6)
        answer(None, 7),  # wasted: refused, guess right
        answer(None, 1),  # saved: refused, guess wrong (truth 2)
        None,  # blank
        answer(0, 0),  # right
    ]
    counts = tally(answers, [3, 6, 7, 2, 4, 0])
    assert counts == Tally(images=6, right=2, wrong=1, wasted=1, saved=1, blank=1)
    assert counts.right + counts.wrong + counts.wasted + counts.saved + counts.blank == 6
    assert counts.accuracy == pytest.approx(3 / 6)
    assert counts.not_sure == 2
    assert counts + counts == Tally(12, 4, 2, 2, 2, 2)
    with pytest.raises(ValueError):
        tally(answers, [3])


def test_report_totals_over_benign_and_held_out_families():
    held = KindResult("lowres-nearest", "resolution", True, Tally(10, 5, 1, 3, 1, 0))
    other = KindResult("clean", "reference", False, Tally(10, 9, 0, 1, 0, 0))
    report = DigitsReport(10, 0, 1.0, (held, other), (NondigitResult("letter", 4, 1, 2),))
    assert report.total() == Tally(20, 14, 1, 4, 1, 0)
    assert report.total(held_out_only=True) == held.tally
    record = json.loads(json.dumps(report.to_dict()))
    assert record["held_out_total"]["wasted"] == 3 and record["total"]["right"] == 14
    assert record["nondigits"][0]["refused"] == 3
    table = format_digits(report)
    assert "resolution*" in table and "50.0% (5)" in table and "75.0% (3)" in table


def test_cli_prints_the_two_sided_table(real_data_dir, capsys):
    args = ["bench", "robustness", "--count", "4", "--numbers", "0", "--nondigits", "2"]
    args += ["--kinds", "clean", "--families", "print", "--data-dir", str(real_data_dir)]
    assert main(args) == 0
    out = capsys.readouterr().out
    for column in ("right", "wrong", "wasted", "saved", "family", "vs pixels"):
        assert column in out
    for row in ("clean", "dither-fs", "halftone", "all benign kinds", "held out", "letter"):
        assert row in out
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["digits"]
    kinds = [k["kind"] for k in report["kinds"]]
    assert kinds == [
        "clean",
        "binarised",
        "binarised-tight",
        "dither-fs",
        "dither-ordered",
        "halftone",
    ]
    for row in report["kinds"]:
        assert sum(row[s] for s in ("right", "wrong", "wasted", "saved", "blank")) == 4
    assert report["held_out_total"]["images"] == 20
    assert [n["images"] for n in report["nondigits"]] == [2] * 5


def test_cli_rejects_unknown_kinds_and_families(capsys):
    assert main(["bench", "robustness", "--kinds", "nope"]) == 2
    assert main(["bench", "robustness", "--families", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--kinds: unknown nope" in err and "--families: unknown nope" in err
