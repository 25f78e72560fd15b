"""Nothing mnistlab runs leaves a file in the user's home or cache: onnxruntime 1.32 writes a
device id and a telemetry database into $XDG_CACHE_HOME as soon as it is imported, unless told
not to (inference.export.onnx_modules does). `serve` is checked by
tests/serve/test_default_model.py."""

from __future__ import annotations

import os
import subprocess
import sys

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
