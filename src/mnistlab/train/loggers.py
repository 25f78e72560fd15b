"""Experiment tracking as training callbacks: TensorBoard (torch's SummaryWriter) and CSV.

Both write from the rows the engine already keeps (state.steps every LOG_EVERY steps, and the
epoch's metrics), at the end of each epoch, so tracking adds no device waits to the steps.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from mnistlab.errors import MnistlabError
from mnistlab.train.engine import Callbacks

EPOCH_FIELDS = ("epoch", "train_loss", "val_loss", "val_acc", "lr", "seconds", "threads")


class TensorBoardLogger(Callbacks):
    """Scalars train/loss and train/lr per logged step; val/loss, val/acc, epoch/seconds per
    epoch. View with `tensorboard --logdir DIR`."""

    def __init__(self, log_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MnistlabError(
                "--logger tensorboard needs the tensorboard package: pip install 'mnistlab[track]'"
            ) from None
        self.make_writer = lambda: SummaryWriter(str(log_dir))
        self.writer = None  # made at the first epoch's end: the run folder must start empty
        self.written = 0  # rows of state.steps already written

    def on_epoch_end(self, metrics: dict[str, Any], state: Any) -> None:
        if self.writer is None:
            self.writer = self.make_writer()
        for row in state.steps[self.written :]:
            self.writer.add_scalar("train/loss", row["loss"], row["step"])
            self.writer.add_scalar("train/lr", row["lr"], row["step"])
        self.written = len(state.steps)
        step = state.steps[-1]["step"] if state.steps else metrics["epoch"]
        self.writer.add_scalar("train/epoch_loss", metrics["train_loss"], step)
        if metrics.get("val_acc") is not None:
            self.writer.add_scalar("val/acc", metrics["val_acc"], step)
            self.writer.add_scalar("val/loss", metrics["val_loss"], step)
        self.writer.add_scalar("epoch/seconds", metrics["seconds"], step)
        self.writer.flush()


class CsvLogger(Callbacks):
    """DIR/steps.csv (step, epoch, loss, lr) and DIR/epochs.csv, appended after each epoch."""

    def __init__(self, log_dir: str | Path):
        self.dir = Path(log_dir)
        self.written = 0

    def on_epoch_end(self, metrics: dict[str, Any], state: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._append("steps.csv", ("step", "epoch", "loss", "lr"), state.steps[self.written :])
        self.written = len(state.steps)
        self._append("epochs.csv", EPOCH_FIELDS, [metrics])

    def _append(self, name: str, fields: tuple[str, ...], rows: list[dict]) -> None:
        path = self.dir / name
        new = not path.exists()
        with path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerows(rows)


LOGGERS = {"tensorboard": TensorBoardLogger, "csv": CsvLogger}


def make_logger(name: str, log_dir: str | Path) -> Callbacks:
    if name not in LOGGERS:
        raise MnistlabError(f"unknown logger {name!r}; choose from {', '.join(LOGGERS)}")
    return LOGGERS[name](log_dir)
