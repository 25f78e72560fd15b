"""Nothing mnistlab runs leaves a file in the user's home or cache: onnxruntime 1.32 writes a
device id and a telemetry database into $XDG_CACHE_HOME as soon as it is imported, unless told
not to (inference.export.onnx_modules does)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from PIL import Image, ImageDraw


def _clean_env(tmp_path):
    home, cache = tmp_path / "home", tmp_path / "home" / ".cache"
    cache.mkdir(parents=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MNISTLAB_DATA_DIR", "ORT_DISABLE_TELEMETRY")
    }
    env.update(HOME=str(home), XDG_CACHE_HOME=str(cache))
    return env, home


def _files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _seven(path) -> None:
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).line([(80, 60), (200, 60), (120, 240)], fill=0, width=22)
    image.save(path)


@pytest.mark.parametrize(
    "command",
    [
        ["predict", "seven.png", "--json"],
        ["read", "seven.png", "--json"],
        ["export", "lenet5", "--out", "model.onnx", "--check-images", "8"],
    ],
)
def test_commands_leave_nothing_in_home(tmp_path, command):
    env, home = _clean_env(tmp_path)
    _seven(tmp_path / "seven.png")
    done = subprocess.run(
        [sys.executable, "-m", "mnistlab", *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert _files_under(home) == []


def test_serve_leaves_nothing_in_home(tmp_path):
    env, home = _clean_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "serve", "lenet5", "--port", "0", "--backend", "onnx"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        first = proc.stdout.readline()
        match = re.search(r"on (http://[\d.]+:\d+)/", first)
        assert match, first
        deadline = time.monotonic() + 60
        while True:  # uvicorn starts listening just after the banner
            try:
                with urllib.request.urlopen(match.group(1) + "/healthz", timeout=5) as answer:
                    assert answer.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert _files_under(home) == []
