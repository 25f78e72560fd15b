"""Metrics: accuracy, confusion matrix, per-class precision / recall / F1."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.data.loader import DeviceLoader
from mnistlab.data.splits import Split

EVAL_BATCH = 500  # measured: on a 2-core CPU, 500 runs 1.6x faster than 1000 (cache)


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    split: Split,
    normalization: str,
    device: torch.device | str = "cpu",
    batch_size: int = EVAL_BATCH,
    channels_last: bool = False,
) -> torch.Tensor:
    """Logits (N, 10) on the CPU, in the split's order; every image exactly once."""
    loader = DeviceLoader(
        split, batch_size, device=device, normalization=normalization, channels_last=channels_last
    )
    was_training = model.training
    model.eval()
    outputs = [model(x).float() for x, _ in loader]
    model.train(was_training)
    if not outputs:
        return torch.empty(0, 10)
    return torch.cat(outputs).cpu()


TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def shift_images(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Move uint8 images (N, H, W) by whole pixels, filling with background (0)."""
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
    h, w = images.shape[-2:]
    return padded[:, 1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w].contiguous()


@torch.inference_mode()
def predict_proba(
    model: nn.Module,
    split: Split,
    normalization: str,
    device: torch.device | str = "cpu",
    tta: bool = False,
) -> torch.Tensor:
    """Class probabilities (N, 10); with `tta`, averaged over one-pixel shifts."""
    if not tta:
        return predict_logits(model, split, normalization, device).softmax(1)
    total = torch.zeros(len(split), 10)
    for dy, dx in TTA_SHIFTS:
        moved = Split(shift_images(split.images, dy, dx), split.labels)
        total += predict_logits(model, moved, normalization, device).softmax(1)
    return total / len(TTA_SHIFTS)


def predictions(
    model: nn.Module,
    split: Split,
    normalization: str,
    device: torch.device | str = "cpu",
    tta: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted class, its probability), each (N,), for every image of a split in order.
    Without TTA the class is the argmax of the logits, the same as in training."""
    if tta:
        probs = predict_proba(model, split, normalization, device, tta=True)
        confidence, predicted = probs.max(1)
        return predicted, confidence
    logits = predict_logits(model, split, normalization, device)
    return logits.argmax(1), logits.softmax(1).amax(1)


def accuracy(
    model: nn.Module,
    split: Split,
    normalization: str,
    device: torch.device | str = "cpu",
    tta: bool = False,
) -> float | None:
    """Fraction of the split classified correctly (None for an empty split). This one function
    gives `test_acc` in model.json, `mnistlab eval`, ensembles and benchmarks."""
    if not len(split):
        return None
    predicted, _ = predictions(model, split, normalization, device, tta)
    return (predicted == split.labels).sum().item() / len(split)


@torch.inference_mode()
def correct_and_loss(model: nn.Module, loader: DeviceLoader) -> torch.Tensor:
    """[correct, total, summed cross-entropy] over a loader as one float64 device tensor, so
    ranks can sum it and the caller reads it with one sync."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=loader.device)
    for x, y in loader:
        logits = model(x).float()
        sums[0] += (logits.argmax(1) == y).sum()
        sums[1] += len(y)
        sums[2] += F.cross_entropy(logits, y, reduction="sum").double()
    model.train(was_training)
    return sums


@torch.inference_mode()
def count_correct(model: nn.Module, loader: DeviceLoader) -> tuple[int, int]:
    """(correct, total) over a loader, summed on the device with one sync at the end."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=loader.device)
    total = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum()
        total += len(y)
    model.train(was_training)
    return int(correct), total


@dataclass
class EvalReport:
    accuracy: float  # fraction 0-1
    n: int
    errors: int
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    per_class: list[dict[str, Any]]
    classes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "n": self.n,
            "errors": self.errors,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "classes": self.classes,
        }


def confusion_matrix(
    labels: torch.Tensor, predicted: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    index = labels.to(torch.int64) * num_classes + predicted.to(torch.int64)
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def report(predicted: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> EvalReport:
    """Metrics of predicted class indices against true labels."""
    k = len(classes)
    confusion = confusion_matrix(labels, predicted, k)
    n = int(labels.numel())
    correct = int(confusion.diag().sum())
    per_class = []
    for c in range(k):
        tp = int(confusion[c, c])
        predicted_c, actual_c = int(confusion[:, c].sum()), int(confusion[c].sum())
        precision = tp / predicted_c if predicted_c else 0.0
        recall = tp / actual_c if actual_c else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(
            {
                "class": classes[c],
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": actual_c,
            }
        )
    return EvalReport(
        accuracy=correct / n if n else 0.0,
        n=n,
        errors=n - correct,
        confusion=confusion.tolist(),
        per_class=per_class,
        classes=list(classes),
    )
