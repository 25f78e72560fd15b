"""`mnistlab ensemble DIR...`: average members' softmax outputs, optionally save the result."""

from __future__ import annotations

import argparse
import json

from mnistlab.cli.common import DEVICE_CHOICES, add_data_args


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "ensemble",
        help="average several run folders' predictions",
        description="Average the softmax outputs of several trained models. "
        "The test split is evaluated once; --out saves an "
        "ensemble folder that eval, predict and serve accept.",
        options=_ensemble_options,
    )


def _ensemble_options(ens: argparse.ArgumentParser) -> None:
    ens.add_argument("members", nargs="+", metavar="DIR", help="run folders")
    ens.add_argument("--out", help="save the ensemble as a folder")
    ens.add_argument("--json", action="store_true", help="print one JSON object")
    ens.add_argument(
        "--tta",
        action="store_true",
        help="also report test-time augmentation (one-pixel shifts), separately",
    )
    ens.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    add_data_args(ens)
    ens.set_defaults(func=cmd_ensemble)


def cmd_ensemble(args: argparse.Namespace) -> int:
    from mnistlab.ensemble import evaluate_ensemble

    result = evaluate_ensemble(
        args.members,
        out=args.out,
        tta=args.tta,
        data_dir=args.data_dir,
        mirrors=args.mirrors,
        device=args.device,
    )
    if args.json:
        print(json.dumps(result))
        return 0
    members = ", ".join(f"{100 * a:.2f}%" for a in result["member_test_acc"] if a is not None)
    print(
        f"ensemble of {result['members']}: test acc {100 * result['accuracy']:.2f}% "
        f"(members: {members})"
    )
    if result["val_acc"] is None:
        print(
            "no validation accuracy: a member was trained on all 60,000 training images "
            "(--full-train), validation split included"
        )
    if "accuracy_tta" in result:
        print(f"with test-time augmentation: {100 * result['accuracy_tta']:.2f}%")
    if args.out:
        print(f"saved -> {args.out}")
    return 0
