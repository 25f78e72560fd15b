"""The next factor for the `fast` recipe (issue 24): fewer FLOPs per useful step, on validation.

    python -m benchmarks.fast_next [--seeds 0-4] [--only crop2,share0.8] [--isa-note TEXT]

Every candidate is the `fast` recipe as this process picks it (bf16 where the CPU has it) with
the network it had before this search (no crop; the row "fast"), changed as the candidate says,
trained on the 50,000 training images of the train/validation split; the 10,000 validation
images judge it (the test split is not read here). Per candidate: its validation accuracy (mean,
std, min over the seeds), its FLOPs per run relative to the recipe's (convolutions and matrix
products, forward and backward, as torch's FlopCounterMode counts them, times the examples it
trains on) and its training seconds as a ratio to the recipe's, run seed by seed in turn in this
process. The seconds are only evidence when nothing else runs on the machine; the claim is the
T@99 of `mnistlab bench speed`, on the test split, after a candidate is adopted.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks._report import mean_std
from mnistlab.data.normalize import normalize
from mnistlab.data.splits import load_splits
from mnistlab.models.registry import create_model
from mnistlab.system import configure_for_training, header
from mnistlab.train.config import build_config
from mnistlab.train.engine import train_epochs
from mnistlab.train.recipes import get_recipe
from mnistlab.train.seeds import parse_seeds

# tinynet-fast as it was before this search (round 4 adopted crop 2): every row starts here
FAST_NET = {"c1": 16, "c2": 32, "hidden": 128, "crop": 0, "stride1": 1, "k1": 5}

# name -> overrides of the fast recipe ("model_config" replaces the network's options)
CANDIDATES: dict[str, dict[str, Any]] = {
    "fast": {},
    # a budget of examples: the first share of each epoch's permutation
    "share0.8": {"epoch_share": 0.8},
    "share0.7": {"epoch_share": 0.7},
    # the first conv skips MNIST's mostly empty 2-pixel border: 0.64x the network's MACs
    "crop2": {"model_config": {**FAST_NET, "crop": 2}},
    "crop2-share0.8": {"model_config": {**FAST_NET, "crop": 2}, "epoch_share": 0.8},
    "crop2-share0.7": {"model_config": {**FAST_NET, "crop": 2}, "epoch_share": 0.7},
    "crop4": {"model_config": {**FAST_NET, "crop": 4}},
    "crop4-share0.8": {"model_config": {**FAST_NET, "crop": 4}, "epoch_share": 0.8},
    # round 2: twice the updates per example (a CPU step costs per image, not per step)
    "b128": {"batch_size": 128},
    "b128-share0.8": {"batch_size": 128, "epoch_share": 0.8},
    "b128-share0.7": {"batch_size": 128, "epoch_share": 0.7},
    "crop2-b128": {"model_config": {**FAST_NET, "crop": 2}, "batch_size": 128},
    "crop2-b128-lr0.007": {"model_config": {**FAST_NET, "crop": 2}, "batch_size": 128, "lr": 0.007},
    # round 3: a fixed, data-derived first conv (patch whitening)
    "whiten": {"whiten": True},
    "whiten-crop2": {"whiten": True, "model_config": {**FAST_NET, "crop": 2}},
    "whiten-share0.8": {"whiten": True, "epoch_share": 0.8},
    "whiten-crop2-share0.8": {
        "whiten": True,
        "model_config": {**FAST_NET, "crop": 2},
        "epoch_share": 0.8,
    },
    "crop2-b128-share0.8": {
        "model_config": {**FAST_NET, "crop": 2},
        "batch_size": 128,
        "epoch_share": 0.8,
    },
    # round 5: the adopted crop with a budget just under a whole epoch
    "crop2-share0.9": {"model_config": {**FAST_NET, "crop": 2}, "epoch_share": 0.9},
    "crop2-share0.85": {"model_config": {**FAST_NET, "crop": 2}, "epoch_share": 0.85},
    # round 6: the first conv strides by 2 instead of being max-pooled (the profile of
    # 2026-12-06 put the first pool, forward and backward with its zero-filled gradient, near a
    # third of the step); k1=6 sees the 6x6 window a 5x5 conv and a 2x2 pool see together
    "crop2-s2": {"model_config": {**FAST_NET, "crop": 2, "stride1": 2}},
    "crop2-s2-b128": {"model_config": {**FAST_NET, "crop": 2, "stride1": 2}, "batch_size": 128},
    "crop2-s2-k6": {"model_config": {**FAST_NET, "crop": 2, "stride1": 2, "k1": 6}},
    "crop2-s2-c24": {"model_config": {**FAST_NET, "crop": 2, "stride1": 2, "c1": 24}},
    "crop2-s2-k6-c24": {"model_config": {**FAST_NET, "crop": 2, "stride1": 2, "k1": 6, "c1": 24}},
    # round 7: fewer steps (each costs ~1.5 ms whatever its batch) or faster learning per step
    "crop2-s2-b192": {"model_config": {**FAST_NET, "crop": 2, "stride1": 2}, "batch_size": 192},
    "crop2-s2-k6-b192": {
        "model_config": {**FAST_NET, "crop": 2, "stride1": 2, "k1": 6},
        "batch_size": 192,
    },
    "crop2-s2-lr0.015": {"model_config": {**FAST_NET, "crop": 2, "stride1": 2}, "lr": 0.015},
    "crop2-s2-k6-lr0.015": {
        "model_config": {**FAST_NET, "crop": 2, "stride1": 2, "k1": 6},
        "lr": 0.015,
    },
    # round 8: fewer FLOPs where the AVX2 step spends them (the second conv 1.9 ms, the hidden
    # layer 0.6 ms of a ~3.6 ms step at batch 128), on the adopted network and batch
    "crop2-s2-b128-h64": {
        "model_config": {**FAST_NET, "crop": 2, "stride1": 2, "hidden": 64},
        "batch_size": 128,
    },
    "crop2-s2-b128-c24": {
        "model_config": {**FAST_NET, "crop": 2, "stride1": 2, "c2": 24},
        "batch_size": 128,
    },
}


def whitened_tinynet(cfg, images: torch.Tensor, seed: int) -> torch.nn.Module:
    """tinynet with its first conv fixed to whiten 5x5 patches (airbench's idea): the top
    c1/2 eigenvectors of the training patches' covariance, each scaled by 1/sqrt(its
    eigenvalue), with both signs so the ReLU keeps either side; the bias still learns."""
    torch.manual_seed(seed)
    model = create_model(cfg.model, **cfg.model_config)
    conv = model.net[0]
    x = normalize(images[:10_000].unsqueeze(1), cfg.normalization)
    patches = torch.nn.functional.unfold(x, 5).transpose(1, 2).reshape(-1, 25).double()
    patches = patches - patches.mean(0)
    values, vectors = torch.linalg.eigh(patches.T @ patches / len(patches))
    half = conv.out_channels // 2
    top = vectors[:, -half:].T / (values[-half:, None] + 1e-2).sqrt()
    with torch.no_grad():
        conv.weight.copy_(torch.cat([top, -top]).view_as(conv.weight).float())
        conv.bias.zero_()
    conv.weight.requires_grad_(False)
    return model


def flops_per_example(model_name: str, model_config: dict[str, Any], fixed_first: bool) -> float:
    """Forward and backward FLOPs of one training image through the network (none for the
    first conv's weights when they are fixed)."""
    model = create_model(model_name, **model_config)
    model.net[0].weight.requires_grad_(not fixed_first)
    x = torch.zeros(64, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops() / 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--only", help="comma-separated candidate names (fast always runs)")
    parser.add_argument("--data-dir")
    parser.add_argument(
        "--threads", type=int, help="torch threads (1 beside other work: no barrier waits)"
    )
    args = parser.parse_args()
    configure_for_training("cpu")  # process-wide, at the entry point
    if args.threads:
        torch.set_num_threads(args.threads)
    print(header("cpu"), flush=True)
    splits = load_splits("mnist", args.data_dir, download=False)  # 50,000 train, 10,000 val
    names = ["fast", *(n for n in (args.only or ",".join(CANDIDATES)).split(",") if n != "fast")]
    # the recipe as it was before this search: batch 256 (round 6 adopted 128 with its stride)
    base = {**get_recipe("fast", "cpu"), "batch_size": 256}
    # each candidate's recipe, less "whiten" (not a training option: whitened_tinynet)
    configs = {
        name: {
            **base,
            "model_config": FAST_NET,
            "full_train": False,
            **{k: v for k, v in CANDIDATES[name].items() if k != "whiten"},
        }
        for name in names
    }
    whitened = {name for name in names if CANDIDATES[name].get("whiten")}
    accs: dict[str, list[float]] = {n: [] for n in names}
    secs: dict[str, list[float]] = {n: [] for n in names}
    for seed in parse_seeds(args.seeds):  # interleaved: each seed runs every candidate in turn
        for name in names:
            cfg = build_config(configs[name]["model"], configs[name], seed=seed)
            model = (
                whitened_tinynet(cfg, splits["train"].images, seed) if name in whitened else None
            )
            state = train_epochs(cfg, splits, torch.device("cpu"), model=model)
            accs[name].append(state.metrics[-1]["val_acc"])
            secs[name].append(state.train_seconds)
            print(f"  seed {seed} {name}: val {100 * accs[name][-1]:.2f}%, "
                  f"{secs[name][-1]:.2f} s", flush=True)  # fmt: skip
    ref = build_config(configs["fast"]["model"], configs["fast"])
    ref_flops = flops_per_example(ref.model, ref.model_config, False) * ref.epoch_share
    print(f"\nrecipe: fast ({'bf16' if base.get('cpu_bf16') else 'fp32'}), seeds {args.seeds}")
    print("| candidate | val acc % (mean ± std) | min | FLOPs vs fast | seconds vs fast |")
    print("|---|---|---|---|---|")
    for name in names:
        cfg = build_config(configs[name]["model"], configs[name])
        flops = flops_per_example(cfg.model, cfg.model_config, name in whitened) * cfg.epoch_share
        (acc, std), ratio = (
            mean_std(accs[name]),
            statistics.fmean(s / r for s, r in zip(secs[name], secs["fast"], strict=True)),
        )
        print(f"| {name} | {100 * acc:.2f} ± {100 * std:.2f} | {100 * min(accs[name]):.2f} | "
              f"{flops / ref_flops:.2f}x | {ratio:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
