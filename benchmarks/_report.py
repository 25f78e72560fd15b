"""Shared by the benchmark scripts: statistics and writing a section of docs/RESULTS.md.

Each script owns one section, fenced by HTML comments, and rewrites only that section.
"""

from __future__ import annotations

import re
import statistics
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
