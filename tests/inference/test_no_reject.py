"""The switch for the best guess: reject=False in Python, --no-reject on the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image, ImageDraw

import mnistlab


@pytest.fixture(scope="module")
def scribble(tmp_path_factory):
    """A circle crossed twice: no digit, refused by the shipped default model."""
    image = Image.new("L", (200, 200), 255)
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 40, 160, 160), outline=0, width=14)
    draw.line((40, 40, 160, 160), fill=0, width=14)
    draw.line((40, 160, 160, 40), fill=0, width=14)
    path = tmp_path_factory.mktemp("scribble") / "scribble.png"
    image.save(path)
    return path


def test_reject_false_answers_the_best_guess(scribble):
    predictor = mnistlab.load()
    refused = predictor.predict(scribble)
    assert refused.digit is None and refused.reason
    for answered in (
        predictor.predict(scribble, reject=False),
        predictor.predict_image(scribble, reject=False),
        predictor.with_rejection(False).predict(scribble),
    ):
        assert answered.digit == refused.guess == answered.guess
        assert answered.label == str(refused.guess) and answered.reason is None
        assert answered.probabilities == refused.probabilities
    assert predictor.with_rejection(False).predict(scribble, reject=True).digit is None


def _cli(*args):
    done = subprocess.run(
        [sys.executable, "-m", "mnistlab", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_no_reject_on_the_command_line(scribble):
    refused = _cli("predict", str(scribble), "--json")[0]
    answered = _cli("predict", str(scribble), "--json", "--no-reject")[0]
    assert refused["digit"] is None and answered["digit"] == refused["guess"]
    read = _cli("read", str(scribble), "--json", "--no-reject")[0]
    assert read["sure"] is True and read["digits"][0]["digit"] == refused["guess"]
    assert _cli("read", str(scribble), "--json")[0]["sure"] is False
