"""Progress users know: a tqdm bar per epoch (terminal or notebook), plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import torch

from mnistlab.train.engine import Callbacks


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where tqdm.auto draws a widget)."""
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return type(ip).__name__ == "ZMQInteractiveShell"


class ProgressBar(Callbacks):
    """Per epoch: a tqdm bar (rate, ETA, running loss) when `bar_file` is a terminal or this is a
    notebook; then one line with the epoch's losses, accuracy and time on `lines_file`. When
    output goes to a pipe or a file, only those lines appear, one per epoch.

    The running loss is read from the device at most every `refresh` seconds, so the bar costs
    no device waits worth measuring.
    """

    def __init__(
        self,
        epochs: int,
        *,
        quiet: bool = False,
        prefix: str = "",
        bar: bool | None = None,
        bar_file: TextIO | None = None,
        lines_file: TextIO | None = None,
        refresh: float = 0.5,
    ):
        self.epochs, self.quiet, self.prefix, self.refresh = epochs, quiet, prefix, refresh
        self.bar_file = bar_file or sys.stderr
        self.lines_file = lines_file or sys.stdout
        if bar is None:
            bar = not quiet and (self.bar_file.isatty() or in_notebook())
        self.show_bar = bar
        self._bar = None
        self._last_read = 0.0
        self._running: float | None = None

    def on_step(self, epoch: int, step: int, steps: int, loss: torch.Tensor | None = None) -> None:
        if not self.show_bar:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=steps,
                desc=f"{self.prefix}epoch {epoch + 1}/{self.epochs}",
                unit="step",
                file=self.bar_file,
                leave=False,
                dynamic_ncols=True,
            )
        self._bar.update(1)
        now = time.monotonic()
        if loss is not None and now - self._last_read >= self.refresh:
            self._last_read = now
            value = float(loss)
            self._running = value if self._running is None else 0.7 * self._running + 0.3 * value
            self._bar.set_postfix(loss=f"{self._running:.4f}", refresh=False)

    def on_epoch_end(self, metrics: dict[str, Any], state: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.quiet:
            return
        print(epoch_line(metrics, self.epochs, self.prefix), file=self.lines_file, flush=True)


def epoch_line(metrics: dict[str, Any], epochs: int, prefix: str = "") -> str:
    val = metrics.get("val_acc")
    val_text = (
        f"val loss {metrics['val_loss']:.4f}  val acc {100 * val:6.2f}%"
        if val is not None
        else "val acc    n/a"
    )
    return (
        f"{prefix}epoch {metrics['epoch']:3d}/{epochs}  train loss "
        f"{metrics['train_loss']:.4f}  {val_text}  {metrics['seconds']:6.1f} s"
    )
