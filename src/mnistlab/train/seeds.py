"""Several seeds of one config, then their ensemble: what `train --seeds` and benchmarks run."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mnistlab.errors import MnistlabError
from mnistlab.runs.meta import RunMeta
from mnistlab.train import distributed
from mnistlab.train.config import TrainConfig
from mnistlab.train.distributed import SINGLE, DistContext
from mnistlab.train.engine import Callbacks
from mnistlab.train.run import run_training


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,3,7' -> [0, 3, 7]; ranges and lists combine."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = part.split("-", 1)
                seeds.extend(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise MnistlabError(f"--seeds {text!r}: expected e.g. 0-4 or 0,3,7") from None
    if not seeds:
        raise MnistlabError(f"--seeds {text!r}: no seeds")
    return seeds


@dataclass
class SeedsResult:
    folder: Path
    members: list[RunMeta]  # each member's final model.json (this rank's, under torchrun)
    test_accs: list[float]  # every seed's, in seed order (rank 0)
    ensemble: dict[str, Any] | None  # evaluate_ensemble's result, for two or more seeds

    @property
    def mean_std(self) -> tuple[float, float]:
        accs = self.test_accs
        mean = sum(accs) / len(accs)
        return mean, (sum((a - mean) ** 2 for a in accs) / max(1, len(accs) - 1)) ** 0.5


def train_seeds(
    cfg: TrainConfig,
    seeds: Sequence[int],
    folder: str | Path,
    *,
    data_dir: str | Path | None = None,
    mirrors: list[str] | None = None,
    device: torch.device | str = "auto",
    callbacks: Callable[[int], Sequence[Callbacks]] | None = None,
    on_member: Callable[[RunMeta], None] | None = None,
    ctx: DistContext = SINGLE,
) -> SeedsResult:
    """Train `cfg` once per seed into folder/seed<N>, then (rank 0, two or more seeds) their
    ensemble into folder/ensemble. Under torchrun the members are spread over the ranks (rank r
    trains seeds r, r + N, ...), each member alone on its rank's device.

    `callbacks(seed)` gives each member's callbacks; `on_member(meta)` hears of each one done.
    """
    folder = Path(folder)
    members = []
    for seed in list(seeds)[ctx.rank :: ctx.world_size]:
        member = dataclasses.replace(cfg, seed=seed)
        meta = run_training(
            member,
            folder / f"seed{seed}",
            data_dir=data_dir,
            mirrors=mirrors,
            device=device,
            callbacks=callbacks(seed) if callbacks else None,
        )
        members.append(meta)
        if on_member:
            on_member(meta)
    distributed.barrier(ctx)
    if not ctx.is_main:
        return SeedsResult(folder, members, [], None)
    from mnistlab.ensemble import evaluate_ensemble
    from mnistlab.runs.folder import read_meta

    accs = [read_meta(folder / f"seed{s}").test_acc for s in seeds]
    ensemble = None
    if len(seeds) > 1:
        ensemble = evaluate_ensemble(
            [str(folder / f"seed{s}") for s in seeds],
            out=str(folder / "ensemble"),
            data_dir=data_dir,
            mirrors=mirrors,
            device=str(device),
        )
    return SeedsResult(folder, members, accs, ensemble)
