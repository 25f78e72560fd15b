"""`mnistlab ensemble DIR...`: average members' softmax outputs, optionally save the result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mnistlab.cli.common import add_data_args


def register(sub: argparse._SubParsersAction) -> None:
    ens = sub.add_parser(
        "ensemble",
        help="average several run folders' predictions",
        description="Average the softmax outputs of several trained models. "
        "The test split is evaluated once; --out saves an "
        "ensemble folder that eval, predict and serve accept.",
    )
    ens.add_argument("members", nargs="+", metavar="DIR", help="run folders")
    ens.add_argument("--out", help="save the ensemble as a folder")
    ens.add_argument("--json", action="store_true", help="print one JSON object")
    ens.add_argument(
        "--tta",
        action="store_true",
        help="also report test-time augmentation (one-pixel shifts), separately",
    )
    ens.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    add_data_args(ens)
    ens.set_defaults(func=cmd_ensemble)


def evaluate_ensemble(
    members: list[str],
    *,
    out: str | None = None,
    tta: bool = False,
    data_dir=None,
    mirrors=None,
    device: str = "auto",
) -> dict:
    from mnistlab.data.splits import load_splits
    from mnistlab.ensemble import Ensemble, load_members, save_ensemble
    from mnistlab.evaluate import predict_proba
    from mnistlab.system import resolve_device

    models, metas = load_members(members)
    dev = resolve_device(device)
    model = Ensemble(models).to(dev).eval()
    norm = metas[0]["normalization"]
    splits = load_splits(metas[0].get("dataset", "mnist"), data_dir, mirrors=mirrors)

    def acc(split, with_tta=False):
        if not len(split):
            return None
        probs = predict_proba(model, split, norm, dev, tta=with_tta)
        return (probs.argmax(1) == split.labels).sum().item() / len(split)

    result = {
        "members": len(models),
        "val_acc": acc(splits["val"]),
        "accuracy": acc(splits["test"]),
        "member_test_acc": [m.get("test_acc") for m in metas],
    }
    if tta:
        result["accuracy_tta"] = acc(splits["test"], with_tta=True)
    if out:
        save_ensemble(Path(out), members, metas, result["val_acc"], result["accuracy"])
        result["out"] = out
    return result


def cmd_ensemble(args: argparse.Namespace) -> int:
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
    if "accuracy_tta" in result:
        print(f"with test-time augmentation: {100 * result['accuracy_tta']:.2f}%")
    if args.out:
        print(f"saved -> {args.out}")
    return 0
