"""`mnistlab predict --explain DIR`: one valid PNG per digit, none for a blank image."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from mnistlab.cli import main
from mnistlab.data.splits import load_splits


def test_explain_writes_one_png_per_digit(real_data_dir, tmp_path, capsys):
    test = load_splits("mnist", real_data_dir, download=False)["test"]
    images = tmp_path / "in"
    images.mkdir()
    for i in range(2):  # dark ink on white paper, as a photo or a drawing is
        Image.fromarray(255 - test.images[i].numpy()).resize((90, 90)).save(images / f"d{i}.png")
    Image.new("L", (40, 40), 255).save(images / "blank.png")
    out = tmp_path / "why"
    assert main(["predict", "lenet5", str(images), "--explain", str(out), "--json"]) == 0
    entries = {e["path"].rsplit("/", 1)[-1]: e for e in json.loads(capsys.readouterr().out)}
    assert sorted(p.name for p in out.iterdir()) == ["d0.why.png", "d1.why.png"]
    assert "explanation" not in entries["blank.png"]
    for name in ("d0", "d1"):
        assert entries[f"{name}.png"]["explanation"] == str(out / f"{name}.why.png")
        with Image.open(out / f"{name}.why.png") as sheet:
            sheet.load()
            assert sheet.format == "PNG" and sheet.height > 112 and sheet.width > 7 * 112
            # the input, the heat-map and five neighbours: seven images of 112 px
            assert np.asarray(sheet.convert("L")).std() > 10


def test_an_unwritable_folder_is_a_one_line_error(tmp_path, capsys):
    image = tmp_path / "d.png"
    Image.new("L", (60, 60), 255).save(image)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["predict", "lenet5", str(image), "--explain", str(blocker / "why")]) == 2
    err = capsys.readouterr().err
    assert "cannot create the explanation folder" in err and "Traceback" not in err
