"""Shared by the benchmark scripts: statistics and writing a section of docs/RESULTS.md.

Each script owns one section, fenced by HTML comments, and rewrites only that section.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "RESULTS.md"


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
