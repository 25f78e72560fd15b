"""examples/tutorial.ipynb runs end to end (its cells assert on their own results)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tutorial.ipynb"


@pytest.mark.slow
def test_tutorial_notebook_runs_and_its_checks_pass(real_data_dir, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("MNISTLAB_DATA_DIR", str(real_data_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    start = time.monotonic()
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    seconds = time.monotonic() - start
    outputs = "".join(
        o.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.outputs
    )
    assert "the model reads a 7" in outputs
    assert "LeNet5, MNIST mean/std:" in outputs
    assert seconds < 180, f"the notebook took {seconds:.0f} s; CI allows 3 minutes"
