"""A fresh install serves the best shipped model: no model folder, no data files."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time

import httpx2
from PIL import Image, ImageDraw


def test_serve_with_no_model_uses_the_shipped_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MNISTLAB_DATA_DIR"}
    env.pop("ORT_DISABLE_TELEMETRY", None)  # mnistlab must set it itself (onnxruntime 1.32)
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")
    env["HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        first = proc.stdout.readline()
        match = re.search(r"from (\S+) on (http://[\d.]+:\d+)/", first)
        assert match, first
        assert match.group(1) == "sota-cpu"
        url = match.group(2)
        image = Image.new("L", (280, 280), 0)  # the page's canvas: white ink on black
        ImageDraw.Draw(image).line([(80, 60), (200, 60), (120, 240)], fill=255, width=22)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        with httpx2.Client(base_url=url, timeout=30) as client:
            for _ in range(100):  # uvicorn starts listening just after the banner
                try:
                    assert client.get("/healthz").status_code == 200
                    break
                except httpx2.ConnectError:
                    time.sleep(0.1)
            model = client.get("/api/model").json()
            assert model["model"] == "convnet"
            answer = client.post("/api/predict", files={"file": ("d.png", buffer.getvalue())})
            assert answer.status_code == 200 and answer.json()["digit"] == 7
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # nothing written into the user's cache or home (onnxruntime's device id, issue 23)
    assert not (tmp_path / "empty-cache").exists() and not (tmp_path / "home").exists()
