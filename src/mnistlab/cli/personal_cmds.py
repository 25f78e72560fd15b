"""`mnistlab finetune`: a personal model from a folder of a person's labelled digits."""

from __future__ import annotations

import argparse
import json
import sys

from mnistlab.cli.common import add_model_arg, positive_float, positive_int

FINETUNE_EPILOG = """\
DIR holds the person's digits as DIR/<label>/<name>.png (what `serve --collect DIR` writes;
photos and scans of any size work: they are brought to MNIST's form as predict does). Before
training, a share of each class is held out (fixed seed) and accuracy on it is reported before
and after. The personal model mixes the person's digits with replayed MNIST training digits,
so its MNIST accuracy stays close to the model it started from; the person's lean and
proportions are measured from their digits (printed) and half the replayed digits are redrawn
in them, so the lean is learnt on thousands of shapes. Its calibration and "not sure" are
refitted on the person's fit digits plus the validation split. Serve it with
`mnistlab serve OUT`."""


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "finetune",
        help="adapt a model to a person's handwriting (a few dozen labelled digits)",
        description="Adapt MODEL (a model folder or a pretrained name) to the labelled digits "
        "in DIR and write the personal model to --out.",
        epilog=FINETUNE_EPILOG,
        options=_finetune_options,
    )


def _finetune_options(parser: argparse.ArgumentParser) -> None:
    add_model_arg(parser)
    parser.add_argument("images", metavar="DIR", help="DIR/<label>/<name>.png")
    parser.add_argument("--out", required=True, help="the personal model's folder (runs/me)")
    parser.add_argument("--steps", type=positive_int, help="optimizer steps (default 120)")
    parser.add_argument("--lr", type=positive_float, help="peak Adam learning rate (default 3e-4)")
    parser.add_argument(
        "--held-out", type=positive_float, help="share of each class held out (default 0.3)"
    )
    parser.add_argument(
        "--restyle",
        type=float,
        metavar="SHARE",
        help="share of the replayed MNIST digits redrawn in your measured lean and proportions "
        "(default 0.5; 0: off; docs/personal.md)",
    )
    parser.add_argument("--seed", type=int, help="the split and the batches (default 0)")
    parser.add_argument(
        "--calibration",
        choices=("fast", "full", "none"),
        help="fast (default): temperature and logits rule refitted; full: also the feature "
        "bank (about 20 s more); none: uncalibrated",
    )
    parser.add_argument("--data-dir", help="where MNIST is (default: the cache)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=cmd_finetune)


def cmd_finetune(args: argparse.Namespace) -> int:
    from mnistlab.train.personal_run import finetune

    options = {
        "steps": args.steps,
        "lr": args.lr,
        "held_out": args.held_out,
        "restyle": args.restyle,
        "seed": args.seed,
        "calibration": args.calibration,
    }
    config = {k: v for k, v in options.items() if v is not None}
    result = finetune(args.model, args.images, args.out, config, data_dir=args.data_dir)
    for path, reason in result.skipped:
        print(f"mnistlab: skipped {path}: {reason.removeprefix(str(path) + ': ')}", file=sys.stderr)
    meta = result.meta
    card = meta.adapted
    if args.json:
        print(json.dumps({"out": str(result.run_dir), **meta.to_dict()}))
        return 0

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    print(
        f"adapted {card.base} on {card.fit_digits} digits of {args.images} "
        f"({result.adapted.seconds:.1f} s of training)"
    )
    print(
        f"held-out digits ({card.held_out_digits}): accuracy {pct(card.held_out_acc_before)} "
        f"before, {pct(card.held_out_acc_after)} after"
    )
    if card.style:
        print(f"your hand: {card.style}")
    print(f"MNIST test accuracy: {pct(card.base_test_acc)} before, {pct(meta.test_acc)} after")
    print(f"wrote {result.run_dir} (serve it: mnistlab serve {result.run_dir})")
    return 0
