"""`mnistlab calibrate`: fit temperature scaling and the "not sure" rules for a model folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mnistlab.cli.common import add_data_args
from mnistlab.errors import MnistlabError


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "calibrate",
        help="fit a model folder's temperature and 'not sure' threshold on the validation split",
        description="Fit temperature scaling (one scalar T, minimising the validation NLL) and "
        "the rules that answer 'not sure' for non-digits (a score threshold set to reject 1%% "
        "of validation digits, and shape cues), then write them into MODEL/model.json as "
        "`calibration`. Training does this itself; use it for folders made before.",
        options=_calibrate_options,
    )


def _calibrate_options(calibrate: argparse.ArgumentParser) -> None:
    calibrate.add_argument("model", metavar="MODEL", help="a model folder (made by train)")
    calibrate.add_argument("--json", action="store_true", help="print the calibration as JSON")
    add_data_args(calibrate)
    calibrate.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from mnistlab.train.calibrate import calibrate_folder

    folder = Path(args.model)
    if not folder.is_dir():
        raise MnistlabError(
            f"{args.model}: not a model folder (shipped models come calibrated: "
            "scripts/calibrate_pretrained.py)"
        )
    cal = calibrate_folder(folder, args.data_dir, args.mirrors).calibration
    assert cal is not None
    if args.json:
        print(json.dumps(cal.to_dict()))
        return 0
    val_ece, test_ece = cal.val_ece or [0.0, 0.0], cal.test_ece
    print(f"{folder}: T {cal.temperature:.3f} (validation NLL minimised)")
    print(f"  val ECE {100 * val_ece[0]:.2f}% -> {100 * val_ece[1]:.2f}%", end="")
    if test_ece:
        print(f"; test ECE {100 * test_ece[0]:.2f}% -> {100 * test_ece[1]:.2f}%", end="")
    print()
    if cal.threshold is None:
        print("  no 'not sure' rule (only MNIST models learn to refuse non-digits)")
    else:
        rejected = cal.val_false_reject or 0.0
        rule = f"{cal.score} {cal.threshold:.4g}"
        if cal.features is not None:
            rule = (
                f"similarity {cal.features.threshold:.4g} to the nearest of "
                f"{cal.features.rows:,} training digits ({cal.features.file}; {rule} without it)"
            )
        print(
            f"  not sure below {rule}, or more than {cal.max_marks} "
            f"marks or {cal.max_loops} loops: {100 * rejected:.2f}% of validation digits"
        )
    if cal.reading is not None:
        print(f"  read numbers: the string rule fitted again ({cal.reading.fitted_on})")
    print(f"  wrote {folder / 'model.json'}")
    return 0
