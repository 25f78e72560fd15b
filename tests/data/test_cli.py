"""`mnistlab data fetch|verify|info` and `mnistlab show`, run as a user runs them: a subprocess.

Each start costs a torch import (2-3 s of CPU), so the commands run concurrently in two batches
from module-scoped fixtures, and the tests only read their results.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket

import numpy as np
import pytest

from mnistlab.cli import build_parser, main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _flipped(gz_bytes: bytes) -> bytes:
    content = bytearray(gzip.decompress(gz_bytes))
    content[len(content) // 2] ^= 0x01
    return bytes(content)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, real_data_dir, module_mirror, cli_runner):
    """First batch: info, show, and a fetch of all four files into an empty folder."""
    tmp = tmp_path_factory.mktemp("cli")  # no "fresh" folder: fetch creates it, as torchvision
    commands = {
        "info": ["data", "info", "--data-dir", real_data_dir],
        "info-json": ["data", "info", "--json", "--data-dir", real_data_dir],
        "show": ["show", "--data-dir", real_data_dir, "--out", tmp / "grid.png"],
        "fetch": [
            "data",
            "fetch",
            "--data-dir",
            tmp / "fresh",
            "--mirror",
            module_mirror.url("missing"),
            "--mirror",
            module_mirror.url("good"),
        ],
    }
    results = dict(zip(commands, cli_runner(*commands.values(), cwd=tmp), strict=True))
    return {**results, "tmp": tmp}


def test_info_prints_official_checksums_and_split_counts(runs, official_md5):
    run = runs["info"]
    assert run.returncode == 0, run.stderr
    for name, md5 in official_md5.items():
        assert any(name in line and md5 in line for line in run.stdout.splitlines())
    rows = {
        line.split()[0]: [int(v) for v in line.split()[1:]]
        for line in run.stdout.splitlines()
        if line.split()[:1] in (["train"], ["val"], ["test"])
    }
    assert {k: v[0] for k, v in rows.items()} == {"train": 55000, "val": 5000, "test": 10000}
    for total, *per_class in rows.values():
        assert len(per_class) == 10 and sum(per_class) == total
    assert rows["test"][1:3] == [980, 1135]  # the well-known test counts of 0s and 1s


def _bands(mask: np.ndarray) -> int:
    return int(np.sum(mask[1:] & ~mask[:-1]) + mask[0])


def test_info_json(runs, official_md5):
    run = runs["info-json"]
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert {name: f["md5"] for name, f in info["files"].items()} == official_md5
    assert {k: v["images"] for k, v in info["splits"].items()} == {
        "train": 55000,
        "val": 5000,
        "test": 10000,
    }
    assert sum(info["splits"]["test"]["per_class"]) == 10000


def test_show_writes_a_4x4_png_grid(runs):
    from PIL import Image

    assert runs["show"].returncode == 0, runs["show"].stderr
    data = (runs["tmp"] / "grid.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    Image.open(io.BytesIO(data)).verify()
    gray = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    # Each digit is a black square on the white figure: count bands of mostly dark rows/columns.
    dark = gray < 60
    assert _bands(dark.mean(axis=1) > 0.25) == 4
    assert _bands(dark.mean(axis=0) > 0.25) == 4


def test_matplotlib_reads_the_png(runs):
    import matplotlib.image

    array = matplotlib.image.imread(runs["tmp"] / "grid.png")
    assert array.ndim == 3 and min(array.shape[:2]) > 200


def test_verify_reports_expected_and_actual_md5(
    tmp_path, real_data_dir, link_real, official_md5, capsys
):
    flipped = tmp_path / "flipped"
    link_real(flipped, skip=("t10k-labels-idx1-ubyte",))
    content = _flipped((real_data_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (flipped / "t10k-labels-idx1-ubyte").write_bytes(content)
    assert main(["data", "verify", "--data-dir", str(flipped)]) == 1
    lines = capsys.readouterr().out.splitlines()
    bad = [line for line in lines if line.startswith("FAILED")]
    assert len(bad) == 1 and "t10k-labels-idx1-ubyte" in bad[0]
    assert hashlib.md5(content).hexdigest() in bad[0]
    assert f"expected {official_md5['t10k-labels-idx1-ubyte']}" in bad[0]
    assert sum(line.startswith("ok ") for line in lines) == 3


def test_verify_of_a_folder_without_the_files_says_to_fetch_them(tmp_path, capsys):
    assert main(["data", "verify", "--data-dir", str(tmp_path)]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("4 of 4 files missing; run `mnistlab data fetch`"), last
    assert "delete" not in last  # nothing is there to delete


def test_fetch_all_four_files_into_an_empty_folder(runs, module_mirror, official_md5):
    run = runs["fetch"]
    assert run.returncode == 0, run.stderr
    assert "mnist: all 4 files present and verified" in run.stdout
    fresh = runs["tmp"] / "fresh"
    assert sorted(p.name for p in fresh.iterdir()) == sorted(f"{n}.gz" for n in official_md5)
    for route in ("missing", "good"):  # the 404 mirror first, then the good one, once each
        assert all(module_mirror.hits[f"/{route}/{n}.gz"] == 1 for n in official_md5)


def test_fetch_uses_mirrors_from_the_environment(tmp_path, mirror, link_real, monkeypatch, capsys):
    root = tmp_path / "root"
    link_real(root, skip=("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"))
    monkeypatch.setenv("MNISTLAB_MIRRORS", f"{_closed_port_url()},{mirror.url('good')}")
    assert main(["data", "fetch", "--data-dir", str(root)]) == 0, capsys.readouterr().err
    assert sorted(mirror.hits) == [
        "/good/t10k-labels-idx1-ubyte.gz",
        "/good/train-labels-idx1-ubyte.gz",
    ]
    assert (root / "train-labels-idx1-ubyte.gz").is_file()


# A user mistake: one line on stderr, no traceback, a non-zero exit.
MISTAKES = {
    "missing-folder": "does not exist",
    "unknown-dataset": "invalid choice: 'emnist'",
    "bad-flag": "unrecognized arguments: --bogus",
    "bad-n": "expected a positive integer, got 0",
    "corrupt-file": "checksum mismatch",
}


@pytest.fixture(scope="module")
def second_runs(runs, real_data_dir, real_raw, link_real, cli_runner):
    """Second batch: verify what `fetch` downloaded, and the user mistakes.

    `real_raw` has filled the session's unpacked cache: the corrupt file must fail regardless.
    """
    tmp = runs["tmp"]
    corrupt = tmp / "corrupt"
    link_real(corrupt, skip=("train-labels-idx1-ubyte",))
    content = _flipped((real_data_dir / "train-labels-idx1-ubyte.gz").read_bytes())
    (corrupt / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(content))
    commands = {
        "verify-fetched": ["data", "verify", "--data-dir", tmp / "fresh"],
        "missing-folder": ["data", "verify", "--data-dir", tmp / "nowhere"],
        "unknown-dataset": ["data", "info", "--dataset", "emnist"],
        "bad-flag": ["data", "fetch", "--bogus"],
        "bad-n": ["show", "--n", "0"],
        "corrupt-file": ["show", "--data-dir", corrupt, "--out", tmp / "x.png"],
    }
    return dict(zip(commands, cli_runner(*commands.values(), cwd=tmp), strict=True))


def test_verify_passes_on_the_fetched_folder(second_runs):
    run = second_runs["verify-fetched"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "all 4 files match the official checksums" in run.stdout


@pytest.mark.parametrize("case", MISTAKES)
def test_user_mistake_is_one_line_without_traceback(second_runs, case):
    run = second_runs[case]
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("mnistlab"), run.stderr
    assert MISTAKES[case] in run.stderr
    assert run.stdout == ""


def test_more_mistakes_in_process(tmp_path, monkeypatch, capsys):
    # The same error path as the subprocesses above, without paying for more torch imports.
    down = _closed_port_url()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    (tmp_path / "empty").mkdir()
    cases = [
        (
            ["data", "info"],
            {"MNISTLAB_DATA_DIR": str(tmp_path / "gone")},
            "(MNISTLAB_DATA_DIR) does not exist",
        ),
        (
            ["data", "fetch", "--data-dir", str(tmp_path / "empty"), "--mirror", down],
            {},
            f"{down}train-images-idx3-ubyte.gz: cannot connect",
        ),
        (
            ["data", "fetch", "--mirror", down],
            {"XDG_CACHE_HOME": str(blocker)},
            "cannot write downloads there",
        ),
        (["data", "verify", "--data-dir", str(blocker)], {}, "a-file (--data-dir) does not exist"),
    ]
    for argv, env, expected in cases:
        monkeypatch.delenv("MNISTLAB_DATA_DIR", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 2 and out == "", argv
        assert err.count("\n") == 1 and expected in err, (argv, err)


@pytest.mark.parametrize(
    "command", [[], ["data"], ["data", "fetch"], ["data", "verify"], ["data", "info"], ["show"]]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*command, "--help"])
    assert info.value.code == 0
    assert "usage: mnistlab" in capsys.readouterr().out
