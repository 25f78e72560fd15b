"""Shared by the benchmark scripts: statistics and writing a section of docs/RESULTS.md.

Each script owns one section, fenced by HTML comments, and rewrites only that section.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "RESULTS.md"


def mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def pct(values: list[float]) -> str:
    """Accuracies (fractions) as 'mean ± std' in percent."""
    mean, std = mean_std(values)
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def update_section(name: str, markdown: str, path: Path = RESULTS) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Results\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else (text.rstrip() + "\n\n" + block + "\n")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@contextmanager
def ref_checkout(ref: str, root: Path) -> Iterator[tuple[str, Path]]:
    """(the short commit, a temporary git worktree of it) for side-by-side runs against an
    earlier commit; the worktree is removed on leaving."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=root, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "ref"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), commit], cwd=root, check=True,
            capture_output=True,
        )  # fmt: skip
        try:
            yield commit, tree
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=root, capture_output=True
            )


def is_commit(ref: str) -> bool:
    """Whether `ref` names a commit of this repository."""
    revision = ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]
    return subprocess.run(revision, cwd=ROOT, capture_output=True).returncode == 0


def commit_ref(ref: str) -> str:
    """argparse's `type` for a --ref option: `ref` itself where it names a commit (else the
    option's one-line error)."""
    if not is_commit(ref):
        raise argparse.ArgumentTypeError(f"{ref}: no such commit in this repository")
    return ref


def checkout() -> str:
    """This checkout's commit, marked when files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + (" with changes" if dirty else "")


@contextmanager
def readers(ref: str | None) -> Iterator[list[tuple[str, Path]]]:
    """(label, the src folder of an mnistlab) for this checkout and, with `ref`, an earlier
    commit's temporary worktree, for side-by-side runs in child processes (run_child)."""
    found = [(f"this checkout, {checkout()}", ROOT / "src")]
    if not ref:
        yield found
        return
    with ref_checkout(ref, ROOT) as (commit, tree):
        yield [*found, (commit, tree / "src")]


def run_child(code: str, src: Path, folder: Path, *args: str) -> dict:
    """Run `code` (a Python program printing one JSON object as its last line, with the key
    "mnistlab": the mnistlab.__file__ it used) in a fresh process on the mnistlab in `src`,
    one torch thread, started in `folder` (so that no folder named like a model shadows it)."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder), *args],
        env=env, capture_output=True, text=True, cwd=folder,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the child on {src} failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(out["mnistlab"]).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"the child ran {out['mnistlab']}, not the mnistlab in {src}")
    return out


# run in the child, on whichever mnistlab PYTHONPATH names: each PNG file's reading, and which
# mnistlab read them, as JSON ("doubted": not sure for its signs; False before they were read)
READ_NUMBERS = """
import json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
import mnistlab
from mnistlab.errors import MnistlabError
from mnistlab.inference import Predictor
from mnistlab.inference.reading import read_number
predictor = Predictor.from_path(sys.argv[2])
out = {}
for f in sorted(Path(sys.argv[1]).glob("*.png")):
    try:
        r = read_number(predictor, f)
        out[f.stem] = {"number": r.number, "sure": r.sure,
                       "doubted": getattr(r, "doubt", None) is not None}
    except MnistlabError as error:  # no ink found: counted, not fatal
        out[f.stem] = {"number": "", "sure": False, "doubted": False, "error": str(error)}
print(json.dumps({"mnistlab": mnistlab.__file__, "readings": out}))
"""


def read_numbers(src: Path, folder: Path, model: str) -> dict[str, dict]:
    """Each PNG file's reading in `folder` by the mnistlab in `src` with `model`, in a fresh
    process (run_child): {file stem: {"number", "sure", "doubted"[, "error"]}}."""
    return run_child(READ_NUMBERS, src, folder, model)["readings"]
