"""Leave one family out, for the "not sure" thresholds (issue 22).

    python -m benchmarks.lofo_thresholds [--model sota-cpu] [--count 200] [--seed 1] [--write]

The shipped calibration fits its thresholds on validation digits pooled with validation digits
drawn in every kind of the fit families (mnistlab.train.calibrate.drawn_in_fit_kinds), so a fit
family's own numbers are in-sample for the thresholds. Here each fit family F but the reference
is left out of that pool in turn: the model is calibrated again exactly as
`mnistlab calibrate` does (the same detector, bank, tuning non-digits), without F's drawn
digits, and both calibrations answer validation digits drawn in F's kinds from --seed (some
of them digits the pool drew too, all of them other renders). The difference is what having F
in the fit is worth; the numbers "without F" are what a family no fit saw can expect from the
thresholds. The digit detector itself was trained on all fit families' kinds
(docs/calibration.md): it is not left out here. The validation split only; the test split is
not read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks._report import update_section
from mnistlab.bench.outcomes import Tally
from mnistlab.bench.robustness import run_digits
from mnistlab.data.splits import load_splits
from mnistlab.errors import MnistlabError
from mnistlab.inference.predictor import Predictor
from mnistlab.runs import folder as run_folder
from mnistlab.runs import resolve_model
from mnistlab.synth.families import ALWAYS_FIT, FAMILIES, HELD_OUT_FAMILIES
from mnistlab.system import header
from mnistlab.train.calibrate import calibrate_model

OUT = Path(__file__).parent / "results" / "lofo_thresholds.json"


def calibrated_copy(source: Path, into: Path, splits, leave_out: tuple[str, ...]) -> Predictor:
    """A copy of the model folder `source`, calibrated without the drawn digits of `leave_out`."""
    shutil.copytree(source, into)
    model, meta = run_folder.load_model(into)
    cal = calibrate_model(model, meta, splits, bank_to=into, leave_out=leave_out)
    run_folder.save_meta(into, dataclasses.replace(meta, calibration=cal))
    return Predictor.from_path(into)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="sota-cpu", help="a shipped model's name")
    parser.add_argument("--count", type=int, default=200, help="validation digits per kind")
    parser.add_argument("--seed", type=int, default=1, help="renders the digits answered")
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)  # explicit, at the entry point
    if args.count < 1:
        parser.error("--count must be at least 1")
    try:
        source = resolve_model(args.model)
    except MnistlabError as error:
        parser.error(str(error))
    splits = load_splits("mnist", download=False)
    families = [f for f in FAMILIES if f not in HELD_OUT_FAMILIES and f not in ALWAYS_FIT]
    started = time.time()
    print(f"{header('cpu')}; model {args.model}; {args.count} validation digits per kind, "
          f"seed {args.seed}", flush=True)  # fmt: skip
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        pooled = calibrated_copy(source, Path(tmp) / "all", splits, ())
        for family in families:
            kinds = FAMILIES[family]
            without = calibrated_copy(source, Path(tmp) / family, splits, kinds)
            row = {}
            for name, predictor in (("with", pooled), ("without", without)):
                report = run_digits(
                    predictor, splits["val"], args.count, args.seed, kinds=kinds, nondigits=0
                )
                total = sum((k.tally for k in report.kinds), Tally())
                row[name] = {
                    side: total.share(getattr(total, side))
                    for side in ("right", "wrong", "wasted", "saved")
                }
                row[name]["images"] = total.images
            rows[family] = row
            print(f"{family}: {json.dumps(row)} ({time.time() - started:.0f} s)", flush=True)
    lines = [
        f"`python -m benchmarks.lofo_thresholds --model {args.model} --count {args.count} "
        f"--seed {args.seed}`; {header('cpu')}. Each fit family left out of the thresholds' "
        "pool in turn (the model calibrated again without its drawn digits), and validation "
        "digits drawn in its kinds from another seed answered with it in the pool and without. "
        "The digit detector was trained on every fit family and is not left out.",
        "",
        "| family left out | digits | wasted: in the pool / left out | saved | wrong |",
        "|---|---|---|---|---|",
    ]
    for family, row in rows.items():
        w, o = row["with"], row["without"]
        lines.append(
            f"| {family} | {w['images']} | {100 * w['wasted']:.2f}% / {100 * o['wasted']:.2f}% "
            f"| {100 * w['saved']:.2f}% / {100 * o['saved']:.2f}% "
            f"| {100 * w['wrong']:.2f}% / {100 * o['wrong']:.2f}% |"
        )
    print("\n".join(lines))
    OUT.write_text(json.dumps({"header": lines[0], "rows": rows}, indent=1) + "\n")
    if args.write:
        update_section("lofo_thresholds", "### Leaving one family out of the thresholds' pool "
                       "(issue 22)\n\n" + "\n".join(lines))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
