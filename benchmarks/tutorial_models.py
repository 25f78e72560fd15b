"""The tutorial's three models with their tutorial recipes, and the tutorial's pipeline speed.

    python -m benchmarks.tutorial_models [--seeds 0,1,2] [--epochs 10] [--write]

Part 1 times one LeNet5 epoch in this process, interleaved: the tutorial's pipeline (a
per-sample Dataset that converts each image through PIL, ToTensor-style scaling and a per-image
Normalize, a DataLoader with batch 100, the model in the default memory format, evaluation with
autograd on), and mnistlab's (uint8 data in memory, batched normalisation, channels_last,
evaluation under inference_mode). The tutorial's epoch is timed twice: as written (train on the
60,000 training images, then evaluate on its `test` loader, which is the training set again:
`MNIST(train=True)`), and doing mnistlab's work (train 55,000, evaluate the 5,000 validation
images).
Part 2 trains each model for every seed and reports the real test accuracy (test set touched
once per run, at the end).  `--write` puts the tables into docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks._report import mean_std, pct, update_section
from mnistlab.bench.peers import PerSampleDataset
from mnistlab.data.splits import load_splits
from mnistlab.models import create_model
from mnistlab.system import configure_for_training, header
from mnistlab.train.config import build_config
from mnistlab.train.engine import train_epochs
from mnistlab.train.run import run_training

TUTORIAL_PRINTED = {"mlp": 91.96, "cnn": 88.75, "lenet5": 98.22}


def tutorial_epoch(train_split, eval_split, seed: int) -> float:
    """One epoch of the tutorial's LeNet5 loop: train through the per-sample DataLoader, then
    evaluate through it with autograd on, as the tutorial does."""
    torch.manual_seed(seed)
    model = create_model("lenet5")
    optimizer = torch.optim.Adam(model.parameters())
    train = torch.utils.data.DataLoader(
        PerSampleDataset(train_split, 0.0, 128.0), shuffle=True, batch_size=100
    )
    held_out = torch.utils.data.DataLoader(
        PerSampleDataset(eval_split, 0.0, 128.0), shuffle=True, batch_size=100
    )
    start = time.perf_counter()
    model.train()
    for x, y in train:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    correct = 0
    for x, y in held_out:
        correct += int((model(x).argmax(1) == y).sum())
    return time.perf_counter() - start


def mnistlab_epoch(splits, seed: int) -> float:
    cfg = build_config("lenet5", epochs=1, seed=seed)
    state = train_epochs(cfg, splits, torch.device("cpu"))
    return state.train_seconds


def speed(splits, official, repeats: int) -> list[str]:
    mnistlab_epoch(splits, 99)  # warm-up: first-call allocations and kernel selection
    as_written, same_work, ours = [], [], []
    for r in range(repeats):  # interleaved, so a slow patch of the machine hits all three
        # the tutorial's `test` is MNIST(train=True): it evaluates on the 60,000 it trained on
        as_written.append(tutorial_epoch(official["train"], official["train"], r))
        same_work.append(tutorial_epoch(splits["train"], splits["val"], r))
        ours.append(mnistlab_epoch(splits, r))
        print(
            f"  repeat {r}: tutorial as written {as_written[-1]:.1f} s, tutorial pipeline on "
            f"55k+5k {same_work[-1]:.1f} s, mnistlab {ours[-1]:.1f} s",
            flush=True,
        )
    o_mean, o_std = mean_std(ours)

    def row(name, times):
        mean, std = mean_std(times)
        return f"| {name} | {mean:.1f} ± {std:.1f} | {o_mean / mean:.3f} ({mean / o_mean:.1f}x) |"

    return [
        "| LeNet5, one epoch, batch 100, 2 CPU cores | seconds | mnistlab / this |",
        "|---|---|---|",
        row(
            "tutorial's pipeline as written: train 60k, then evaluate its `test` loader, "
            "which is the 60k training set again; per-sample DataLoader, autograd on in "
            "evaluation",
            as_written,
        ),
        row("the same pipeline on mnistlab's work: train 55k, evaluate the 5k val", same_work),
        f"| mnistlab: train 55k + validate 5k (uint8 on the device, batched normalisation, "
        f"channels_last, inference_mode) | {o_mean:.1f} ± {o_std:.1f} | 1 |",
    ]


def accuracy(models, seeds, epochs, data_dir, work: Path) -> list[str]:
    rows = [
        "| model | normalization | tutorial prints (train set!) | mnistlab test acc, % "
        "(mean ± std) | val acc, % | s/epoch | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    runs = [(m, "mnist") for m in models] + ([("cnn", "tutorial")] if "cnn" in models else [])
    for model, norm in runs:
        tests, vals, secs = [], [], []
        for seed in seeds:
            cfg = build_config(model, epochs=epochs, seed=seed, normalization=norm)
            meta = run_training(
                cfg, work / f"{model}-{norm}-{seed}", data_dir=data_dir, device="cpu"
            )
            tests.append(meta.test_acc)
            vals.append(meta.val_acc)
            secs.append(meta.train_seconds / epochs)
            print(
                f"  {model} ({norm}) seed {seed}: test {100 * tests[-1]:.2f}%, "
                f"{secs[-1]:.1f} s/epoch",
                flush=True,
            )
        rows.append(
            f"| {model} | {norm} | {TUTORIAL_PRINTED[model]:.2f} | {pct(tests)} | "
            f"{pct(vals)} | {mean_std(secs)[0]:.1f} | {','.join(map(str, seeds))} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--models", default="mlp,cnn,lenet5")
    parser.add_argument("--speed-repeats", type=int, default=2)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--data-dir")
    parser.add_argument("--work", default="runs/bench-tutorial")
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args()
    configure_for_training("cpu")  # process-wide, at the entry point
    seeds = [int(s) for s in args.seeds.split(",")]
    command = "python -m benchmarks.tutorial_models " + " ".join(sys.argv[1:])
    print(header("cpu"), flush=True)
    splits = load_splits("mnist", args.data_dir, download=False)
    heading = [f"Command: `{command}`  ", header("cpu"), ""]
    sections = {}
    if not args.skip_speed:
        official = load_splits("mnist", args.data_dir, download=False, full_train=True)
        sections["tutorial_speed"] = [*heading, *speed(splits, official, args.speed_repeats)]
    if not args.skip_accuracy:
        sections["tutorial_models"] = [
            *heading,
            f"{args.epochs} epochs, tutorial recipes (mlp: SGD lr 0.01; cnn, lenet5: "
            "Adam lr 1e-3; batch 100), real test set:",
            "",
            *accuracy(args.models.split(","), seeds, args.epochs, args.data_dir, Path(args.work)),
        ]
    for name, lines in sections.items():
        text = "\n".join(lines)
        print(text)
        if args.write:
            update_section(name, text)


if __name__ == "__main__":
    main()
