"""Training steps replayed as a CUDA graph against eager steps: same results, ms per step.

    python -m benchmarks.graph_step [--device cuda] [--steps 200] [--repeats 3] [--json-out F]

For the `sota` and `fast` recipes (their variants for the device), on real MNIST batches:
1. Agreement: from one seed, 40 eager steps and 40 steps through `GraphedSteps` (3 eager, then
   replays), with augmentation and dropout off so that both see the same numbers. It prints the
   largest loss and weight differences; bf16 and cuDNN's non-deterministic kernels make them
   small, not zero.
   It exits with status 1 if a loss differs by more than MAX_LOSS_DIFF: the recording is wrong.
2. Speed: milliseconds per step (the whole step: batch gather, augmentation, forward, backward,
   optimizer, EMA, and the scheduler's step on the host, as in the engine's loop), eager and
   replayed, interleaved, median of the repeats. On a device without CUDA only the eager steps
   run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from mnistlab.data.splits import Split, load_splits
from mnistlab.system import configure_for_training, header, resolve_device
from mnistlab.train.config import build_config
from mnistlab.train.engine import (
    TrainState,
    build_state,
    build_train_loader,
    step_runner,
    synchronize,
)
from mnistlab.train.recipes import get_recipe

MAX_LOSS_DIFF = 0.05  # cross-entropy with label smoothing is ~0.5-2.3 over these steps


def make_runner(
    recipe_name: str, device: torch.device, splits: dict[str, Split], graph: bool, plain=False
) -> tuple[Callable[[torch.Tensor], torch.Tensor], list[torch.Tensor], TrainState]:
    """A step as the engine's loop takes it (the step, then the scheduler's), the full-size
    batches of an epoch, and the training state."""
    recipe = get_recipe(recipe_name, device.type)
    extra = {}
    if plain:  # deterministic inputs and network, to compare eager with replayed
        extra = {"augment": None, "model_config": dict(recipe["model_config"])}
        if "dropout" in extra["model_config"]:
            extra["model_config"]["dropout"] = 0.0
    cfg = build_config(recipe["model"], {**recipe, **extra}, seed=0, cuda_graph=graph or None)
    loader = build_train_loader(cfg, splits["train"], device)
    state = build_state(cfg, device, len(loader))
    runner = step_runner(cfg, device, state, state.model, loader)

    def one_step(index: torch.Tensor) -> torch.Tensor:
        loss = runner(index)
        state.scheduler.step()
        return loss

    full = [i for i in loader.batch_indices() if len(i) == cfg.batch_size]
    return one_step, full, state


def agreement(
    recipe_name: str, device: torch.device, splits: dict[str, Split], steps: int = 40
) -> dict[str, float]:
    """Largest differences between `steps` eager steps and as many through GraphedSteps."""
    results = []
    for graph in (False, True):
        one_step, batches, state = make_runner(recipe_name, device, splits, graph, plain=True)
        losses = [one_step(batches[i]) for i in range(steps)]
        synchronize(device)
        weights = torch.cat([p.detach().flatten().float() for p in state.model.parameters()])
        results.append((torch.stack(losses).float().cpu(), weights.cpu()))
    (loss_e, w_e), (loss_g, w_g) = results
    return {
        "max_loss_diff": float((loss_e - loss_g).abs().max()),
        "first_loss": float(loss_e[0]),
        "final_loss_eager": float(loss_e[-1]),
        "final_loss_graph": float(loss_g[-1]),
        "max_weight_diff": float((w_e - w_g).abs().max()),
        "weight_scale": float(w_e.abs().max()),
    }


def time_steps(
    one_step: Callable[[torch.Tensor], torch.Tensor],
    batches: list[torch.Tensor],
    steps: int,
    device: torch.device,
) -> float:
    """ms per step over `steps` steps, after the first 10 (warm-up, capture)."""
    for i in range(10):
        one_step(batches[i])
    synchronize(device)
    start = time.perf_counter()
    for i in range(steps):
        one_step(batches[(10 + i) % len(batches)])
    synchronize(device)
    return 1000 * (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--recipes", default="sota,fast")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    device = resolve_device(args.device)
    configure_for_training(device)
    splits = load_splits("mnist", args.data_dir, download=False)
    can_graph = device.type == "cuda"
    print(f"Command: `python -m benchmarks.graph_step {' '.join(sys.argv[1:])}`  ")
    print(header(device), flush=True)
    record = {"header": header(device), "recipes": {}}
    for name in args.recipes.split(","):
        row = {}
        if can_graph:
            row["agreement"] = agreement(name, device, splits)
            print(f"{name}: eager vs replayed, 40 steps: {row['agreement']}", flush=True)
        kinds = [False, True] if can_graph else [False]
        times = {k: [] for k in kinds}
        for _ in range(args.repeats):
            for graph in kinds:  # interleaved, so drift hits both alike
                one_step, batches, _ = make_runner(name, device, splits, graph)
                times[graph].append(time_steps(one_step, batches, args.steps, device))
        row["eager_ms"] = statistics.median(times[False])
        line = f"{name}: eager {row['eager_ms']:.2f} ms/step"
        if can_graph:
            row["graph_ms"] = statistics.median(times[True])
            row["ratio"] = row["graph_ms"] / row["eager_ms"]
            line += f", replayed {row['graph_ms']:.2f} ms/step ({row['ratio']:.2f} of eager)"
        row["all_ms"] = {("graph" if k else "eager"): v for k, v in times.items()}
        print(line + f" (median of {args.repeats} x {args.steps} steps)", flush=True)
        record["recipes"][name] = row
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(record, indent=1))
    bad = [
        n
        for n, r in record["recipes"].items()
        if "agreement" in r and r["agreement"]["max_loss_diff"] > MAX_LOSS_DIFF
    ]
    if bad:
        print(f"DISAGREE: replayed steps differ from eager ones for {', '.join(bad)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
