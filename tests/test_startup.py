"""The command line answers --help, --version and a misspelt command without importing torch.

Importing torch took as long as a whole `mnistlab --help` (1.6 s in issue 23); these answers need
none of it. Each case runs in a fresh interpreter, where sys.modules shows what was imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "numpy", "scipy", "PIL")

PROBE = """
import json, sys
from mnistlab.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def _run(argv: list[str]) -> tuple[dict, str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    *err_lines, last = done.stderr.strip().splitlines()
    return json.loads(last), done.stdout, "\n".join(err_lines)


@pytest.mark.parametrize(
    ("argv", "code", "expected"),
    [
        (["--help"], 0, "usage: mnistlab"),
        (["-h"], 0, "usage: mnistlab"),
        (["--version"], 0, "mnistlab "),
        (["trian"], 2, "invalid choice: 'trian'"),
        (["--bogus"], 2, "unrecognized arguments: --bogus"),
        (["data"], 2, "required: ACTION"),
        (["bench", "--help"], 0, "usage: mnistlab bench"),
        (["bench", "speed", "--seeds", "x"], 2, "expected a positive integer"),
    ],
)
def test_answers_without_importing_torch(argv, code, expected):
    result, out, err = _run(argv)
    assert result["code"] == code, (argv, out, err)
    assert expected in out + err, (argv, out, err)
    assert result["heavy"] == [], f"mnistlab {' '.join(argv)} imported {result['heavy']}"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["predict"], "the following arguments are required"),
        (["predict", "--bogus", "x.png"], "unrecognized arguments: --bogus"),
        # the command's own help, and the option meant
        (
            ["predict", "--top-kk", "3", "x.png"],
            "did you mean --top-k? (see mnistlab predict --help)",
        ),
        (
            ["data", "verify", "--dat-dir", "x"],
            "did you mean --data-dir? (see mnistlab data verify",
        ),
        (["--json", "models"], "the command's options go after it (mnistlab models --json ...)"),
        (["read", "--max-pixels", "x", "x.png"], "--max-pixels"),
        (["serve", "--port", "99999"], "--port"),
        (["eval"], "the following arguments are required"),
        (["data", "info", "--dataset", "nope"], "invalid choice: 'nope'"),
    ],
)
def test_a_command_s_argument_errors_do_not_import_torch(argv, expected):
    # its options may need a light module of the library (the image size limit, the datasets),
    # never torch: mnistlab.data and mnistlab.inference import their names on first use
    result, out, err = _run(argv)
    assert result["code"] == 2, (argv, out, err)
    assert expected in err, (argv, err)
    assert "torch" not in result["heavy"], f"mnistlab {' '.join(argv)} imported torch"


def test_help_lists_every_command_with_its_help_line():
    _, out, _ = _run(["--help"])
    for line in ("predict", "recognise digits in image files", "train", "serve", "data"):
        assert line in out


def test_a_chosen_command_still_gets_its_options():
    # the options built on demand are the real ones: predict's help names its flags
    result, out, _ = _run(["predict", "--help"])
    assert result["code"] == 0
    assert "--top-k" in out and "--max-pixels" in out and "30,000,000" in out


def test_import_mnistlab_is_light():
    code = (
        "import sys, mnistlab; assert mnistlab.__version__; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
