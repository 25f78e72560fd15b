"""`mnistlab train`, `mnistlab eval` and `mnistlab plot`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mnistlab.cli.common import add_data_args, positive_float, positive_int
from mnistlab.data.normalize import NORMALIZATIONS
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
    train.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    train.add_argument("--out", help="run folder to create (default: runs/<model>-<date>)")
    train.add_argument("--resume", metavar="DIR", help="continue an interrupted run folder")
    train.add_argument("--quiet", action="store_true", help="print only the final result")
    add_data_args(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("eval", help="evaluate a run folder on the test or val split")
    evaluate.add_argument("run", help="run (or ensemble) folder")
    evaluate.add_argument("--split", choices=["test", "val"], default="test")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--tta", action="store_true", help="test-time augmentation: average over one-pixel shifts"
    )
    evaluate.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    add_data_args(evaluate)
    evaluate.set_defaults(func=cmd_eval)

    plot = sub.add_parser("plot", help="training curves, confusion matrix, misclassified digits")
    plot.add_argument("run", help="run folder")
    plot.add_argument("--out", help="folder for the PNG files (default: the run folder)")
    plot.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    add_data_args(plot)
    plot.set_defaults(func=cmd_plot)


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
    from mnistlab.errors import MnistlabError

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
        dataset=args.dataset,
    )


def _print_result(meta: dict[str, Any]) -> None:
    val = meta["val_acc"]
    val_text = f"val acc {100 * val:.2f}%, " if val is not None else ""
    print(
        f"{meta['model']} seed {meta['seed']}: test acc {100 * meta['test_acc']:.2f}% "
        f"({val_text}{meta['train_seconds']:.1f} s training) -> {meta['run_dir']}"
    )


def cmd_train(args: argparse.Namespace) -> int:
    from mnistlab.train.run import resume_config, run_training

    if args.resume:
        cfg = resume_config(args.resume)
        progress = ConsoleProgress(cfg.epochs, args.quiet)
        meta = run_training(
            cfg,
            args.resume,
            data_dir=args.data_dir,
            mirrors=args.mirrors,
            device=args.device,
            callbacks=progress,
            resume=True,
        )
        _print_result(meta)
        return 0
    cfg = _train_config(args)
    if args.seeds:
        return _train_seeds(args, cfg)
    if not args.quiet:
        print(
            f"training {cfg.model}: {cfg.epochs} epochs, batch {cfg.batch_size}, "
            f"{cfg.optimizer} lr {cfg.lr}, {cfg.schedule} schedule, normalization "
            f"{cfg.normalization}, seed {cfg.seed}",
            flush=True,
        )
    meta = run_training(
        cfg,
        args.out,
        data_dir=args.data_dir,
        mirrors=args.mirrors,
        device=args.device,
        callbacks=ConsoleProgress(cfg.epochs, args.quiet),
    )
    _print_result(meta)
    return 0


def _train_seeds(args: argparse.Namespace, cfg) -> int:
    import dataclasses

    from mnistlab.train.run import new_run_dir, run_training

    base = Path(args.out) if args.out else new_run_dir(name=cfg.recipe or cfg.model)
    results = []
    seeds = parse_seeds(args.seeds)
    for seed in seeds:
        member = dataclasses.replace(cfg, seed=seed)
        progress = ConsoleProgress(cfg.epochs, args.quiet, prefix=f"[seed {seed}] ")
        meta = run_training(
            member,
            base / f"seed{seed}",
            data_dir=args.data_dir,
            mirrors=args.mirrors,
            device=args.device,
            callbacks=progress,
        )
        _print_result(meta)
        results.append(meta["test_acc"])
    mean = sum(results) / len(results)
    std = (sum((r - mean) ** 2 for r in results) / max(1, len(results) - 1)) ** 0.5
    print(f"{len(results)} seeds: test acc {100 * mean:.2f}% ± {100 * std:.2f} -> {base}")
    if len(results) > 1:
        from mnistlab.cli.ensemble_cmds import evaluate_ensemble

        ens = evaluate_ensemble(
            [str(base / f"seed{s}") for s in seeds],
            out=str(base / "ensemble"),
            data_dir=args.data_dir,
            mirrors=args.mirrors,
            device=args.device,
        )
        print(
            f"ensemble of {len(results)}: test acc {100 * ens['accuracy']:.2f}% -> "
            f"{base / 'ensemble'}"
        )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from mnistlab.data.datasets import get_dataset
    from mnistlab.data.splits import load_splits
    from mnistlab.evaluate import predict_proba, report
    from mnistlab.system import resolve_device
    from mnistlab.train.checkpoint import load_model

    model, meta = load_model(args.run)
    device = resolve_device(args.device)
    dataset = meta.get("dataset", args.dataset)
    split = load_splits(dataset, args.data_dir, mirrors=args.mirrors)[args.split]
    probs = predict_proba(model.to(device), split, meta["normalization"], device, tta=args.tta)
    result = report(probs.argmax(1), split.labels, list(get_dataset(dataset).classes))
    if args.json:
        print(
            json.dumps(
                {"run": str(args.run), "split": args.split, "tta": args.tta, **result.to_dict()}
            )
        )
        return 0
    print(
        f"{args.run}: {meta['model']} on {dataset} {args.split}: accuracy "
        f"{100 * result.accuracy:.2f}% ({result.errors} errors in {result.n})"
    )
    print("class  precision  recall     f1  support")
    for row in result.per_class:
        print(
            f"{row['class'][:5]:>5}  {row['precision']:9.4f}  {row['recall']:6.4f}  "
            f"{row['f1']:.4f}  {row['support']:7d}"
        )
    print("confusion matrix (rows: true, columns: predicted)")
    for row in result.confusion:
        print(" ".join(f"{v:5d}" for v in row))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from mnistlab import plots
    from mnistlab.data.datasets import get_dataset
    from mnistlab.data.splits import load_splits
    from mnistlab.errors import MnistlabError
    from mnistlab.evaluate import predict_logits, report
    from mnistlab.system import resolve_device
    from mnistlab.train.checkpoint import load_model, read_metrics

    model, meta = load_model(args.run)
    out = Path(args.out) if args.out else Path(args.run)
    if out.exists() and not out.is_dir():
        raise MnistlabError(f"--out {out}: not a folder")
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    dataset = meta.get("dataset", args.dataset)
    classes = list(get_dataset(dataset).classes)
    written = []
    metrics = read_metrics(args.run)
    if metrics:
        written.append(
            plots.save_training_curves(
                metrics, out / "curves.png", title=f"{meta['model']} (seed {meta['seed']})"
            )
        )
    split = load_splits(dataset, args.data_dir, mirrors=args.mirrors)["test"]
    probs = predict_logits(model.to(device), split, meta["normalization"], device).softmax(1)
    confidence, predicted = probs.max(1)
    result = report(predicted, split.labels, classes)
    import numpy as np

    written.append(
        plots.save_confusion_matrix(
            np.array(result.confusion),
            classes,
            out / "confusion.png",
            title=f"test confusion matrix: {100 * result.accuracy:.2f}% accuracy",
        )
    )
    wrong = (predicted != split.labels).nonzero().flatten()
    wrong = wrong[confidence[wrong].argsort(descending=True)][:100]  # most confident first
    written.append(
        plots.save_error_gallery(
            split.images[wrong].numpy(),
            split.labels[wrong].tolist(),
            predicted[wrong].tolist(),
            confidence[wrong].tolist(),
            out / "errors.png",
            classes,
            title=f"{result.errors} misclassified test digits (showing {len(wrong)}, most "
            "confident first): true→predicted",
        )
    )
    for path in written:
        print(f"wrote {path}")
    return 0
