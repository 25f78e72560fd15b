"""Search for the fast recipe: candidate networks and schedules, selected on the validation split.

    python -m benchmarks.fast_search [--seeds 0,1] [--threads 1] [--epochs 1]

Prints, per candidate, its milliseconds per step and the validation accuracy after training (the
test split is not touched here). Every candidate starts from tinynet's registered recipe (Adam
lr 0.01, betas (0.7, 0.9), batch 256, one-cycle, one epoch). The chosen candidate becomes the
`fast` recipe; its T@99 on the test set comes from `mnistlab bench speed`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch

from benchmarks._report import mean_std
from mnistlab.data.splits import load_splits
from mnistlab.system import configure_for_training, header
from mnistlab.train.config import build_config
from mnistlab.train.engine import train_epochs

CANDIDATES = {
    "tuomaso-shape": {},
    "c16-h128": {"model_config": {"c1": 16, "c2": 32, "hidden": 128}},
    "c16": {"model_config": {"c1": 16}},
    "c16-c48-h128": {"model_config": {"c1": 16, "c2": 48, "hidden": 128}},
    "stride2": {"model_config": {"stride1": 2}},
    "stride2-wide": {"model_config": {"stride1": 2, "c1": 32, "c2": 48}},
    "stride2-bn": {"model_config": {"stride1": 2, "batchnorm": True}},
    "stride2-bn-wide": {"model_config": {"stride1": 2, "c1": 32, "c2": 64, "batchnorm": True}},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--only", help="comma-separated candidate names")
    parser.add_argument("--extra", default="{}", help="JSON overrides applied to all")
    args = parser.parse_args()
    configure_for_training("cpu")  # process-wide, at the entry point
    if args.threads:
        torch.set_num_threads(args.threads)
    print(header("cpu"), flush=True)
    splits = load_splits("mnist", download=False)
    names = args.only.split(",") if args.only else list(CANDIDATES)
    extra = json.loads(args.extra)
    for name in names:
        accs, secs = [], []
        for seed in map(int, args.seeds.split(",")):
            values = {**CANDIDATES[name], **extra, "seed": seed}
            cfg = build_config("tinynet", **{k: v for k, v in values.items() if k != "model"})
            cfg = dataclasses.replace(cfg, model_config=values.get("model_config", {}))
            state = train_epochs(cfg, splits, torch.device("cpu"))
            accs.append(state.metrics[-1]["val_acc"])
            secs.append(state.train_seconds)
        (acc, acc_std), (sec, _) = mean_std(accs), mean_std(secs)
        print(
            f"{name:16} {json.dumps(extra)} val {100 * acc:.2f} ± {100 * acc_std:.2f}  "
            f"min {100 * min(accs):.2f}  {sec:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
