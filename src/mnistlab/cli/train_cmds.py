"""`mnistlab train`, `mnistlab eval` and `mnistlab plot`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnistlab.cli.common import DEVICE_CHOICES, add_data_args, note, positive_float, positive_int
from mnistlab.errors import MnistlabError

if TYPE_CHECKING:
    from mnistlab.runs.meta import RunMeta

DEFAULT_MODEL = "lenet5"


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "train",
        help="train a model into a run folder",
        description="Train a model. Defaults come from the model's recipe (the tutorial's), "
        "then --recipe, then the flags you give.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        options=train_options,
    )


def train_options(train: argparse.ArgumentParser) -> None:
    """train's options: their choices come from the model registry and the recipes (torch)."""
    from mnistlab.data.normalize import NORMALIZATIONS
    from mnistlab.models import list_models
    from mnistlab.train.config import OPTIMIZERS, SCHEDULES
    from mnistlab.train.recipes import RECIPES

    train.epilog = train_epilog()
    train.add_argument(
        "--model", choices=list_models(), help=f"model family (default: {DEFAULT_MODEL})"
    )
    train.add_argument("--recipe", choices=sorted(RECIPES), help="a named recipe (listed below)")
    train.add_argument(
        "--epochs",
        type=positive_int,
        help="with --resume: continue the run to this many epochs in all",
    )
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
    train.add_argument(
        "--config",
        metavar="FILE",
        help="training settings from a JSON/TOML file (from --print-config, or a run's "
        "model.json); flags given too override it",
    )
    train.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved settings as JSON and exit (train from them with --config)",
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
    train.add_argument(
        "--cpu-bf16",
        action="store_true",
        default=None,
        help="bf16 autocast on a CPU with native bf16 (AVX512-BF16/AMX): ~1.4x faster steps",
    )
    train.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    train.add_argument("--out", help="run folder to create (default: runs/<model>-<date>)")
    train.add_argument(
        "--resume", metavar="DIR", help="continue an interrupted run (or extend one: --epochs)"
    )
    train.add_argument(
        "--threads",
        default="auto",
        help="CPU threads: auto (default: all cores while the machine is free, fewer when "
        "other processes need them) or a fixed count (bit-for-bit repeatable runs)",
    )
    train.add_argument(
        "--logger",
        action="append",
        choices=["tensorboard", "csv"],
        help="also track the run: tensorboard (RUN/tensorboard/, view with `tensorboard "
        "--logdir RUN`; extra [track]) or csv (RUN/steps.csv, RUN/epochs.csv); repeatable",
    )
    train.add_argument("--quiet", action="store_true", help="print only the final result")
    train.add_argument(
        "--json", action="store_true", help="print the final model.json as one JSON object"
    )
    add_data_args(train)
    train.set_defaults(func=cmd_train)


def train_epilog() -> str:
    """Each model's and recipe's one-line description and defaults, for `train --help`."""
    from mnistlab.models import get_entry, list_models, list_variants
    from mnistlab.train.recipes import get_recipe, list_recipes

    variants = list_variants()
    lines = ["models (--model; defaults: its family's tutorial recipe):"]
    for name in list_models():
        entry = get_entry(name)
        if name in variants:
            lines.append(f"  {name:17} {variants[name].description}")
            continue
        r = entry.recipe
        defaults = ", ".join(f"{k} {r[k]}" for k in ("optimizer", "lr", "epochs") if k in r)
        lines.append(f"  {name:17} {entry.description}" + (f" [{defaults}]" if defaults else ""))
    lines.append("recipes (--recipe):")
    for name, description in list_recipes().items():
        r = get_recipe(name, "cpu")
        epochs = f"{r['epochs']} epoch{'s' if r.get('epochs') != 1 else ''}" if r else ""
        what = f"{r['model']}, {epochs}, batch {r['batch_size']}" if r else ""
        lines.append(f"  {name:17} {description}" + (f" [{what}]" if what else ""))
    lines.append("pretrained models to use without training: mnistlab models")
    return "\n".join(lines)


def _train_config(args: argparse.Namespace):
    from mnistlab.system import resolve_device
    from mnistlab.train.config import build_config, read_config_file
    from mnistlab.train.recipes import get_recipe

    if args.config:
        if args.model or args.recipe:
            raise MnistlabError("--config holds the model and recipe; drop --model/--recipe")
        values = read_config_file(args.config)
        return build_config(str(values.get("model", DEFAULT_MODEL)), values, **_flag_values(args))
    device_type = resolve_device(args.device).type
    recipe = get_recipe(args.recipe, device_type) if args.recipe else {}
    if args.model and recipe.get("model") and args.model != recipe["model"]:
        raise MnistlabError(
            f"--recipe {args.recipe} trains {recipe['model']}, not "
            f"{args.model}; drop --model or --recipe"
        )
    model = args.model or recipe.get("model") or DEFAULT_MODEL
    named = {**recipe, "recipe": args.recipe} if args.recipe else None
    return build_config(model, named, **_flag_values(args))


def _flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given as flags (None: not given)."""
    return dict(
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
        cpu_bf16=args.cpu_bf16,
        dataset=args.dataset if args.dataset != "mnist" else None,
    )


def _print_result(meta: RunMeta, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps({**meta.to_dict(), "run_dir": str(meta.folder)}))
        return
    val = meta.val_acc
    val_text = f"val acc {100 * val:.2f}%, " if val is not None else ""
    print(
        f"{meta.recipe or meta.model} seed {meta.seed}: "
        f"test acc {100 * meta.test_acc:.2f}% "
        f"({val_text}{meta.train_seconds:.1f} s training) -> {meta.folder}"
    )
    calibration = meta.calibration
    if calibration is not None:
        print(
            f"calibrated on the validation split: T {calibration.temperature:.3f}, "
            f"test ECE {_ece_text(calibration.test_ece)}"
        )
    elif meta.full_train:
        print("uncalibrated: --full-train leaves no validation split to fit a temperature on")


def _ece_text(ece: list[float] | None) -> str:
    return f"{100 * ece[0]:.2f}% -> {100 * ece[1]:.2f}%" if ece else "n/a"


RESUME_KEEPS = (
    "resume",
    "logger",
    "epochs",
    "quiet",
    "json",
    "threads",
    "device",
    "data_dir",
    "mirrors",
    "dataset",
    "func",
    "command",
)


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


def loggers(args: argparse.Namespace, folder, ctx) -> list:
    """--logger tensorboard|csv: tracking written into the run folder (rank 0 only)."""
    if not args.logger or not ctx.is_main:
        return []
    from mnistlab.train.loggers import make_logger

    where = {"tensorboard": "tensorboard", "csv": "."}
    return [make_logger(name, Path(folder) / where[name]) for name in dict.fromkeys(args.logger)]


def cmd_train(args: argparse.Namespace) -> int:
    from mnistlab.system import configure_for_training
    from mnistlab.threads import parse_threads, thread_setting
    from mnistlab.train import distributed

    threads = parse_threads(args.threads)
    ctx, device = distributed.setup(args.device)
    configure_for_training(device)  # process-wide settings: here, at the entry point
    try:
        # a caller of main() gets its thread count back afterwards
        with thread_setting(threads, device.type, shared=ctx.active) as governor:
            code = _train(args, ctx, device, governor)
        # every rank reaches here before any leaves the group, so that none tears its
        # connections down while a peer is still in a collective (the abort at exit this was
        # first taken for is explained, and avoided, in distributed.setup)
        distributed.barrier(ctx)
        return code
    finally:
        distributed.teardown()


def _train(args: argparse.Namespace, ctx, device, extra_callbacks: list) -> int:
    from mnistlab.train.progress import ProgressBar
    from mnistlab.train.run import resume_config, run_training

    quiet = args.quiet or args.json or not ctx.is_main  # under torchrun only rank 0 speaks
    if args.resume:
        _check_resume_flags(args)
        from mnistlab.train.distributed import main_first

        # rank 0 reads the folder
        cfg, done = main_first(ctx, lambda: resume_config(args.resume, args.epochs))
        if done:
            if ctx.is_main:
                note(
                    f"{args.resume} is already complete ({cfg.epochs} epochs); nothing to do "
                    f"(to train it longer: --resume {args.resume} --epochs {cfg.epochs * 2})"
                )
            return 0
        progress = [
            *extra_callbacks,
            *loggers(args, Path(args.resume), ctx),
            ProgressBar(cfg.epochs, quiet=quiet),
        ]
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
            _print_result(meta, args.json)
        return 0
    cfg = _train_config(args)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    if args.seeds:
        return _train_seeds(args, cfg, ctx, device, extra_callbacks)
    out = args.out
    if out is None and args.logger:  # the loggers write into the run folder: name it now
        from mnistlab.train.distributed import broadcast
        from mnistlab.train.run import new_run_dir

        out = broadcast(ctx, str(new_run_dir(name=cfg.recipe or cfg.model)))
    if not quiet:
        ranks = f" on {ctx.world_size} processes" if ctx.world_size > 1 else ""
        recipe = f" (recipe {cfg.recipe})" if cfg.recipe else ""
        print(
            f"training {cfg.model}{recipe}{ranks}: {cfg.epochs} epochs, batch {cfg.batch_size}, "
            f"{cfg.optimizer} lr {cfg.lr}, {cfg.schedule} schedule, normalization "
            f"{cfg.normalization}, seed {cfg.seed}",
            flush=True,
        )
    meta = run_training(
        cfg,
        out,
        data_dir=args.data_dir,
        mirrors=args.mirrors,
        device=device,
        callbacks=[
            *extra_callbacks,
            *loggers(args, out, ctx),
            ProgressBar(cfg.epochs, quiet=quiet),
        ],
        ctx=ctx,
    )
    if ctx.is_main:
        _print_result(meta, args.json)
    return 0


def _train_seeds(args: argparse.Namespace, cfg, ctx, device, extra_callbacks: list) -> int:
    """One model per seed, then their ensemble (mnistlab.train.seeds)."""
    from mnistlab.train import distributed
    from mnistlab.train.progress import ProgressBar
    from mnistlab.train.run import new_run_dir
    from mnistlab.train.seeds import parse_seeds, train_seeds

    seeds = parse_seeds(args.seeds)
    base = Path(
        distributed.broadcast(
            ctx, str(Path(args.out) if args.out else new_run_dir(name=cfg.recipe or cfg.model))
        )
    )

    def callbacks(seed: int) -> list:
        quiet = args.quiet or args.json
        return [
            *extra_callbacks,
            *loggers(args, base / f"seed{seed}", ctx),
            ProgressBar(cfg.epochs, quiet=quiet, prefix=f"[seed {seed}] "),
        ]

    result = train_seeds(
        cfg,
        seeds,
        base,
        data_dir=args.data_dir,
        mirrors=args.mirrors,
        device=device,
        callbacks=callbacks,
        on_member=lambda meta: _print_result(meta, args.json),
        ctx=ctx,
    )
    if not ctx.is_main:
        return 0
    mean, std = result.mean_std
    print(f"{len(seeds)} seeds: test acc {100 * mean:.2f}% ± {100 * std:.2f} -> {base}")
    if result.ensemble:
        print(
            f"ensemble of {len(seeds)}: test acc {100 * result.ensemble['accuracy']:.2f}% -> "
            f"{base / 'ensemble'}"
        )
    return 0
