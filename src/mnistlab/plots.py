"""All figures (the only module that imports matplotlib, always with the Agg backend)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mnistlab.errors import MnistlabError


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise MnistlabError("plots need matplotlib: pip install 'mnistlab[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise MnistlabError(f"{path}: plots are PNG files; give a name ending in .png")
    if not path.parent.is_dir():
        raise MnistlabError(f"{path.parent}: folder does not exist")
    tmp = path.with_name(f".{path.name}.part")
    try:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        fig.canvas.figure.clf()
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def _grid_shape(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def save_sample_grid(
    images: np.ndarray, labels: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Images (N, 28, 28) in a near-square grid (4x4 for 16), each titled with its label."""
    plt = _pyplot()
    rows, cols = _grid_shape(len(images))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            ax.set_title(str(labels[i]), fontsize=10)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def save_training_curves(metrics: list[dict], path: str | Path, title: str = "") -> Path:
    """Train loss and validation accuracy per epoch."""
    plt = _pyplot()
    epochs = [m["epoch"] for m in metrics]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [m["train_loss"] for m in metrics], marker="o")
    left.set(xlabel="epoch", ylabel="train loss", title="training loss")
    val = [(m["epoch"], 100 * m["val_acc"]) for m in metrics if m.get("val_acc") is not None]
    if val:
        right.plot(*zip(*val, strict=True), marker="o", color="tab:green")
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="validation accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def save_confusion_matrix(
    confusion: np.ndarray, classes: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Heatmap of counts: rows are true classes, columns predictions."""
    plt = _pyplot()
    n = len(classes)
    fig, ax = plt.subplots(figsize=(7, 6))
    shown = np.log1p(confusion)  # the diagonal would otherwise wash out every error
    image = ax.imshow(shown, cmap="Blues")
    for i in range(n):
        for j in range(n):
            value = int(confusion[i, j])
            color = "white" if shown[i, j] > shown.max() / 2 else "black"
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(n), classes, rotation=45 if n and len(classes[0]) > 2 else 0)
    ax.set_yticks(range(n), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    return _save(fig, path)


def save_error_gallery(
    images: np.ndarray,
    true: Sequence[int],
    predicted: Sequence[int],
    confidence: Sequence[float],
    path: str | Path,
    classes: Sequence[str],
    title: str = "",
) -> Path:
    """Misclassified images with true label, prediction and confidence."""
    plt = _pyplot()
    n = max(len(images), 1)
    cols = min(10, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.8 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            ax.set_title(
                f"{classes[true[i]]}→{classes[predicted[i]]}\n{confidence[i]:.0%}",
                fontsize=8,
                color="tab:red",
            )
    fig.suptitle(title or f"{len(images)} misclassified (true→predicted, confidence)")
    return _save(fig, path)
