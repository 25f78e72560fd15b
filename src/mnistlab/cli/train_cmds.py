"""`mnistlab train`, `mnistlab eval` and `mnistlab plot`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mnistlab.cli.common import DEVICE_CHOICES, add_data_args, positive_float, positive_int
from mnistlab.data.normalize import NORMALIZATIONS
from mnistlab.errors import MnistlabError
from mnistlab.models import list_models
from mnistlab.train.config import OPTIMIZERS, SCHEDULES
from mnistlab.train.recipes import RECIPES, list_recipes

DEFAULT_MODEL = "lenet5"


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train",
        help="train a model into a run folder",
        description="Train a model. Defaults come from the model's recipe (the tutorial's), "
        "then --recipe, then the flags you give.",
    )
    train.add_argument("--model", choices=list_models(), help=f"default: {DEFAULT_MODEL}")
    train.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        help="a named recipe: " + "; ".join(f"{k}: {v}" for k, v in list_recipes().items()),
    )
    train.add_argument("--epochs", type=positive_int)
    train.add_argument("--batch-size", type=positive_int)
    train.add_argument("--lr", type=positive_float, help="peak learning rate")
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--schedule", choices=SCHEDULES)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--label-smoothing", type=float)
    train.add_argument(
        "--normalize",
        dest="normalization",
        choices=list(NORMALIZATIONS),
        help="input scaling: mnist (mean/std, default), tutorial (pixel/255/128"
        ", the tutorial's mistake), unit (pixel/255)",
    )
    train.add_argument("--seed", type=int, help="random seed (default 0)")
    train.add_argument("--seeds", help="train one model per seed, e.g. 0-4 or 0,3,7")
    train.add_argument(
        "--full-train",
        action="store_true",
        default=None,
        help="train on all 60,000 training images (no validation split)",
    )
    train.add_argument("--compile", action="store_true", default=None, help="torch.compile")
    train.add_argument(
        "--cuda-graph",
        action="store_true",
        default=None,
        help="record each training step once as a CUDA graph and replay it (one CUDA GPU)",
    )
    train.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    train.add_argument("--out", help="run folder to create (default: runs/<model>-<date>)")
    train.add_argument("--resume", metavar="DIR", help="continue an interrupted run folder")
    train.add_argument("--quiet", action="store_true", help="print only the final result")
    add_data_args(train)
    train.set_defaults(func=cmd_train)


class ConsoleProgress:
    """Epoch lines on stdout; an in-place progress bar on stderr when it is a terminal."""

    def __init__(self, epochs: int, quiet: bool = False, prefix: str = ""):
        self.epochs, self.quiet, self.prefix = epochs, quiet, prefix
        self.bar = sys.stderr.isatty() and not quiet

    def on_step(self, epoch: int, step: int, steps: int) -> None:
        if self.bar and (step % 20 == 0 or step == steps - 1):
            done = int(30 * (step + 1) / steps)
            print(
                f"\r{self.prefix}epoch {epoch + 1}/{self.epochs} [{'#' * done}"
                f"{'.' * (30 - done)}] {step + 1}/{steps}",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def on_epoch_end(self, metrics: dict[str, Any], state: Any) -> None:
        if self.bar:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
        if not self.quiet:
            val = metrics["val_acc"]
            val_text = f"val acc {100 * val:6.2f}%" if val is not None else "val acc    n/a"
            print(
                f"{self.prefix}epoch {metrics['epoch']:3d}/{self.epochs}  train loss "
                f"{metrics['train_loss']:.4f}  {val_text}  {metrics['seconds']:6.1f} s",
                flush=True,
            )


def parse_seeds(text: str) -> list[int]:
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


def _train_config(args: argparse.Namespace):
    from mnistlab.system import resolve_device
    from mnistlab.train.config import build_config
    from mnistlab.train.recipes import get_recipe

    device_type = resolve_device(args.device).type
    recipe = get_recipe(args.recipe, device_type) if args.recipe else {}
    if args.model and recipe.get("model") and args.model != recipe["model"]:
        raise MnistlabError(
            f"--recipe {args.recipe} trains {recipe['model']}, not "
            f"{args.model}; drop --model or --recipe"
        )
    model = args.model or recipe.get("model") or DEFAULT_MODEL
    return build_config(
        model,
        {**recipe, "recipe": args.recipe} if args.recipe else None,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        schedule=args.schedule,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        normalization=args.normalization,
        seed=args.seed,
        full_train=args.full_train,
        compile=args.compile,
        cuda_graph=args.cuda_graph,
        dataset=args.dataset,
    )


def _print_result(meta: dict[str, Any]) -> None:
    val = meta["val_acc"]
    val_text = f"val acc {100 * val:.2f}%, " if val is not None else ""
    print(
        f"{meta['model']} seed {meta['seed']}: test acc {100 * meta['test_acc']:.2f}% "
        f"({val_text}{meta['train_seconds']:.1f} s training) -> {meta['run_dir']}"
    )


RESUME_KEEPS = ("resume", "quiet", "device", "data_dir", "mirrors", "dataset", "func", "command")


def _check_resume_flags(args: argparse.Namespace) -> None:
    """A resumed run continues with its recorded settings; other flags would be ignored."""
    defaults = {"dataset": "mnist", "device": "auto"}
    given = [
        k
        for k, v in vars(args).items()
        if k not in RESUME_KEEPS and v not in (None, False, defaults.get(k))
    ]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in sorted(given))
        raise MnistlabError(f"--resume continues a run with its recorded settings; remove {flags}")


def cmd_train(args: argparse.Namespace) -> int:
    from mnistlab.train import distributed

    ctx, device = distributed.setup(args.device)
    try:
        return _train(args, ctx, device)
    finally:
        distributed.teardown()


def _train(args: argparse.Namespace, ctx, device) -> int:
    from mnistlab.train.run import resume_config, run_training

    quiet = args.quiet or not ctx.is_main  # under torchrun only rank 0 speaks
    if args.resume:
        _check_resume_flags(args)
        from mnistlab.train.distributed import main_first

        cfg = main_first(ctx, lambda: resume_config(args.resume))  # rank 0 reads the folder
        progress = ConsoleProgress(cfg.epochs, quiet)
        meta = run_training(
            cfg,
            args.resume,
            data_dir=args.data_dir,
            mirrors=args.mirrors,
            device=device,
            callbacks=progress,
            resume=True,
            ctx=ctx,
        )
        if ctx.is_main:
            _print_result(meta)
        return 0
    cfg = _train_config(args)
    if args.seeds:
        return _train_seeds(args, cfg, ctx, device)
    if not quiet:
        ranks = f" on {ctx.world_size} processes" if ctx.world_size > 1 else ""
        print(
            f"training {cfg.model}{ranks}: {cfg.epochs} epochs, batch {cfg.batch_size}, "
            f"{cfg.optimizer} lr {cfg.lr}, {cfg.schedule} schedule, normalization "
            f"{cfg.normalization}, seed {cfg.seed}",
            flush=True,
        )
    meta = run_training(
        cfg,
        args.out,
        data_dir=args.data_dir,
        mirrors=args.mirrors,
        device=device,
        callbacks=ConsoleProgress(cfg.epochs, quiet),
        ctx=ctx,
    )
    if ctx.is_main:
        _print_result(meta)
    return 0


def _train_seeds(args: argparse.Namespace, cfg, ctx, device) -> int:
    """One model per seed, then their ensemble. Under torchrun the members are spread over the
    ranks (rank r trains seeds r, r + N, ...), each member alone on its rank's device."""
    import dataclasses

    from mnistlab.train import distributed
    from mnistlab.train.run import new_run_dir, run_training

    seeds = parse_seeds(args.seeds)
    base = Path(
        distributed.broadcast(
            ctx, str(Path(args.out) if args.out else new_run_dir(name=cfg.recipe or cfg.model))
        )
    )
    for seed in seeds[ctx.rank :: ctx.world_size]:
        member = dataclasses.replace(cfg, seed=seed)
        progress = ConsoleProgress(cfg.epochs, args.quiet, prefix=f"[seed {seed}] ")
        meta = run_training(
            member,
            base / f"seed{seed}",
            data_dir=args.data_dir,
            mirrors=args.mirrors,
            device=device,
            callbacks=progress,
        )
        _print_result(meta)
    distributed.barrier(ctx)
    if not ctx.is_main:
        return 0
    from mnistlab.ensemble import evaluate_ensemble
    from mnistlab.runs.folder import read_meta

    results = [read_meta(base / f"seed{s}")["test_acc"] for s in seeds]
    mean = sum(results) / len(results)
    std = (sum((r - mean) ** 2 for r in results) / max(1, len(results) - 1)) ** 0.5
    print(f"{len(results)} seeds: test acc {100 * mean:.2f}% ± {100 * std:.2f} -> {base}")
    if len(results) > 1:
        ens = evaluate_ensemble(
            [str(base / f"seed{s}") for s in seeds],
            out=str(base / "ensemble"),
            data_dir=args.data_dir,
            mirrors=args.mirrors,
            device=str(device),
        )
        print(
            f"ensemble of {len(results)}: test acc {100 * ens['accuracy']:.2f}% -> "
            f"{base / 'ensemble'}"
        )
    return 0
