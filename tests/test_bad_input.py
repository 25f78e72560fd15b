"""Bad input anywhere is a clear one-line error (4xx on the API), never a 500 or a traceback."""

from __future__ import annotations

import io
import json
import shutil

import pytest
import torch
from fastapi.testclient import TestClient

from mnistlab.cli import main
from mnistlab.runs.pretrained import WEIGHTS_DIR
from mnistlab.serve.app import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app("lenet5"), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    "body",
    [
        '{"pixels": [' + "9" * 5000 + "]}",  # longer than Python converts to int
        '{"pixels": [' + ",".join(["1" + "0" * 400] * 784) + "]}",  # overflows a float
        '{"pixels": [NaN' + ",0" * 783 + "]}",
        '{"pixels": [Infinity' + ",0" * 783 + "]}",
        '{"pixels": {"a": 1}}',
        '{"pixels": [' + "0," * 783 + '"x"]}',
    ],
)
def test_odd_numbers_are_a_400(client, body):
    answer = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] in ("invalid_json", "invalid_pixels")


def test_a_nan_float_tiff_is_a_400(client):
    from PIL import Image

    image = Image.new("F", (40, 40), 0.0)
    image.putpixel((20, 20), float("nan"))
    image.putpixel((10, 10), float("inf"))
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF")
    answer = client.post("/api/predict", files={"file": ("x.tiff", buffer.getvalue())})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "not_an_image" and "NaN" in answer.json()["message"]


def _copy_model(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(WEIGHTS_DIR / "lenet5", folder)
    return folder


def test_a_model_with_an_unknown_normalization_refuses_to_serve(tmp_path, capsys):
    folder = _copy_model(tmp_path)
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, "normalization": "zscore"}))
    assert main(["serve", str(folder), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown normalization 'zscore'" in err


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_out_of_range_is_refused(port, capsys):
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", port])
    assert info.value.code == 2 and "expected a TCP port 0-65535" in capsys.readouterr().err


@pytest.fixture(scope="module")
def resumable_run(tmp_path_factory, real_data_dir):
    """One trained run marked as killed, which each damage test copies (one training, not four)."""
    out = tmp_path_factory.mktemp("resumable") / "run"
    args = ["train", "--model", "mlp", "--epochs", "1", "--threads", "1", "--quiet",
            "--data-dir", str(real_data_dir), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    meta = json.loads((out / "model.json").read_text())
    meta["complete"], meta["epochs_completed"] = False, 0  # as if killed: resumable
    (out / "model.json").write_text(json.dumps(meta))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: s.pop("optimizer"), "damaged resume state (KeyError"),
        (lambda s: s.update(model={"bogus": torch.zeros(1)}), "damaged resume state"),
        (lambda s: s.update(epoch=-3), "-3 epochs completed does not fit a run of 1"),
        (lambda s: s.update(metrics=5), "damaged resume state"),
    ],
)
def test_a_damaged_resume_state_is_one_line(
    tmp_path, real_data_dir, resumable_run, capsys, damage, message
):
    out = tmp_path / "run"
    shutil.copytree(resumable_run, out)
    state = torch.load(out / "resume.pt", weights_only=True)
    damage(state)
    torch.save(state, out / "resume.pt")
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--data-dir", str(real_data_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    folder = _copy_model(tmp_path)
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, "complete": False, "train": {}}))

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"epoch": Exploit()}, folder / "resume.pt")
    assert main(["train", "--resume", str(folder)]) == 2
    captured = capsys.readouterr()
    assert "pwned" not in captured.out and "unreadable resume state" in captured.err


def test_predict_reports_a_bad_file_on_its_line_and_still_answers_the_rest(tmp_path, capsys):
    from PIL import Image, ImageDraw

    good = Image.new("L", (200, 260), 255)
    ImageDraw.Draw(good).line([(60, 40), (150, 40), (90, 220)], fill=0, width=18)
    good.save(tmp_path / "a-seven.png")
    nan = Image.new("F", (40, 40), 0.0)
    nan.putpixel((5, 5), float("nan"))
    nan.save(tmp_path / "b-nan.tiff")
    (tmp_path / "c-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert main(["predict", "lenet5", str(tmp_path), "--json"]) == 1
    entries = {e["path"].rsplit("/", 1)[-1]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["a-seven.png"]["digit"] == 7
    assert (
        entries["b-nan.tiff"]["status"] == "unreadable" and "NaN" in entries["b-nan.tiff"]["error"]
    )
    assert entries["c-broken.png"]["status"] == "unreadable"


def test_a_missing_optional_dependency_is_one_line(capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if the [web] extra were absent
    for name in [m for m in sys.modules if m.startswith("mnistlab.serve")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'mnistlab[web]'" in err


def _png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims `width` x `height`: a decompression bomb's header, with
    none of its data."""
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (1, 1), 255).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def test_an_empty_file_and_a_huge_header_are_one_line_each(tmp_path):
    import subprocess
    import sys

    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "wide.png").write_bytes(_png_claiming(12_000, 12_000))  # over Pillow's warning
    (tmp_path / "huge.png").write_bytes(_png_claiming(60_000, 60_000))  # over Pillow's refusal
    done = subprocess.run(
        [sys.executable, "-m", "mnistlab", "predict", "lenet5", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out and "Warning" not in out, out
    assert "empty.png  error: the file is empty (0 bytes)" in out
    assert (
        "wide.png  error: image is 12000x12000 = 144,000,000 pixels, over the limit of "
        "30,000,000 (--max-pixels raises it)"
    ) in out  # a 48 or 108 megapixel phone photo: the way to read it is said
    assert "huge.png  error: image is 3,600,000,000 pixels, over the limit of" in out
    huge = next(line for line in out.splitlines() if "huge.png" in line)
    assert "raises it" not in huge  # Pillow's own limit: no flag lifts it


def test_a_closed_pipe_ends_the_command_quietly(capsys):
    """`mnistlab read *.png --json | head`: no "error: Broken pipe" when head has had enough;
    a broken pipe that is not stdout (a socket, a FIFO) is still an error."""
    import argparse
    import subprocess
    import sys

    command = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "models"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    command.stdout.close()  # the reader gone before the first line
    assert (command.wait(timeout=120), command.stderr.read()) == (141, b"")

    from mnistlab.cli import _run

    def writes_into_another_pipe(args):
        raise BrokenPipeError(32, "Broken pipe")

    assert _run(argparse.Namespace(func=writes_into_another_pipe)) == 1
    assert capsys.readouterr().err == "mnistlab: error: Broken pipe\n"
