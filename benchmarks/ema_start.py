"""Validation accuracy of the EMA weights, bias-corrected (mnistlab's) against start-weighted.

    python -m benchmarks.ema_start [--recipe sota-cpu] [--epochs 4] [--seeds 0,1]

Start-weighted is torch's AveragedModel with an EMA: it begins at the first step's weights and
keeps a share decay^(n-1) of them. mnistlab's WeightEMA gives them none (docs/speed-log.md).
Both train the same recipe, seeds and batches; only the EMA differs. Per epoch, the validation
accuracy of the EMA weights (BatchNorm statistics refreshed after the last epoch only, as in
training). The test set is not read.
"""

from __future__ import annotations

import argparse
import sys

from benchmarks._report import pct
from mnistlab.data.splits import load_splits
from mnistlab.system import configure_for_training, header, resolve_device
from mnistlab.train.config import build_config
from mnistlab.train.ema import WeightEMA
from mnistlab.train.engine import train_epochs
from mnistlab.train.recipes import get_recipe
from mnistlab.train.seeds import parse_seeds


class StartWeightedEMA(WeightEMA):
    """The update of torch's AveragedModel with an EMA: a fixed share 1 - decay."""

    def count_update(self) -> None:
        super().count_update()
        self.share.fill_(1 - self.decay)  # the first update copies whatever the share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="sota-cpu")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    device = resolve_device(args.device)
    configure_for_training(device)  # process-wide, at the entry point
    splits = load_splits("mnist", args.data_dir, download=False)
    recipe = get_recipe(args.recipe, device.type)
    seeds = parse_seeds(args.seeds)
    print(f"Command: `python -m benchmarks.ema_start {' '.join(sys.argv[1:])}`  ")
    print(header(device), flush=True)
    print(f"\nRecipe `{args.recipe}` cut to {args.epochs} epochs; val acc %, per epoch:\n")
    print("| EMA | seed | " + " | ".join(f"epoch {e + 1}" for e in range(args.epochs)) + " |")
    print("|---|---|" + "---|" * args.epochs, flush=True)
    finals = {}
    for label, ema_class in [("bias-corrected", WeightEMA), ("start-weighted", StartWeightedEMA)]:
        for seed in seeds:
            cfg = build_config(recipe["model"], recipe, seed=seed, epochs=args.epochs)
            state = train_epochs(cfg, splits, device, make_ema=ema_class)
            vals = [m["val_acc"] for m in state.metrics]
            finals.setdefault(label, []).append(vals[-1])
            cells = " | ".join(f"{100 * v:.2f}" for v in vals)
            print(f"| {label} | {seed} | {cells} |", flush=True)
    print()
    for label, vals in finals.items():
        print(f"- {label}: final val {pct(vals)}%")


if __name__ == "__main__":
    main()
