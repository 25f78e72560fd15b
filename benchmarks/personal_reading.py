"""How a personal model reads numbers with the base model's string rule kept (issues 25, 26).

    python -m benchmarks.personal_reading [--writers 3] [--seed 3000] [--numbers 100]

`mnistlab finetune` refits a personal model's digit calibration in seconds but cannot refit the
string rule (a fit reads 900 numbers: minutes), so it keeps the base model's
(train.personal_run.with_base_reading). This measures that choice. Per writer (simulated,
mnistlab.synth.writers; seeds from --seed, none of the writers benchmarks.personal reports), the
default personal model of sota-cpu is made through `mnistlab.finetune` from a folder of the
writer's 45 digits (validation split), then reads --numbers numbers per kind written with the
writer's style on validation digits (seed 2601, the string rule's check seed), three ways: the
base model with its rule, the personal model without a string rule (as before the rule was
kept), and the personal model with the kept rule. Counts as the fit's check prints them:
right (sure and right), wrong (sure and wrong), wasted (refused, best reading right), saved
(refused, best reading wrong). The test split is not read.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks.personal import write_writer_folder, writer_digits
from mnistlab.api import finetune
from mnistlab.data.splits import load_splits
from mnistlab.inference.predictor import Predictor
from mnistlab.synth.numbers import FIT_NUMBER_KINDS, HELD_OUT_NUMBER_KINDS
from mnistlab.synth.writers import Writer
from mnistlab.system import header
from mnistlab.train.calibrate_reading import OUTCOMES, judge, observe

CHECK_SEED = 2601
FIT, HELD = 30, 15  # the folder's digits: finetune holds 30% out


def shares(counts: dict[str, dict[str, int]], kinds: tuple[str, ...]) -> str:
    total = {k: sum(counts[kind][k] for kind in kinds) for k in OUTCOMES}
    n = max(total["numbers"], 1)
    return (
        f"sure and right {100 * total['right'] / n:.1f}%, sure and wrong "
        f"{100 * total['wrong'] / n:.1f}%, wasted {100 * total['wasted'] / n:.1f}%, saved "
        f"{100 * total['saved'] / n:.1f}% ({n} numbers)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=3000)
    parser.add_argument("--numbers", type=int, default=100, help="numbers per kind and writer")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(header("cpu"))
    val = load_splits(data_dir=args.data_dir, download=False)["val"]
    base = Predictor.from_path("sota-cpu")
    kinds = (*FIT_NUMBER_KINDS, *HELD_OUT_NUMBER_KINDS)
    totals: dict[str, dict[str, dict[str, int]]] = {}
    for i in range(args.writers):
        writer = Writer.random(args.seed + i)
        styled = writer_digits(writer, val, torch.arange(len(val)), 20_000 + i)
        with tempfile.TemporaryDirectory() as work:
            folder, out = Path(work) / "digits", Path(work) / "me"
            write_writer_folder(folder, writer, val, FIT + HELD, i)
            finetune("sota-cpu", folder, out, data_dir=args.data_dir)
            personal = Predictor.from_path(out)
        kept = personal.meta.calibration.reading
        # observe() reads without a string rule, so each model's numbers are read once and
        # judged by each rule
        read_base = observe(base, styled, kinds, args.numbers, CHECK_SEED)
        read_personal = observe(personal, styled, kinds, args.numbers, CHECK_SEED)
        ways = {
            "base model, its rule": (read_base, base.meta.calibration.reading),
            "personal model, no string rule": (read_personal, None),
            "personal model, the base's rule kept": (read_personal, kept),
        }
        for way, (seen, rule) in ways.items():
            counts = judge(seen, rule)
            into = totals.setdefault(way, {})
            for kind, c in counts.items():
                into.setdefault(kind, dict.fromkeys(OUTCOMES, 0))
                for k, v in c.items():
                    into[kind][k] += v
            print(f"writer {args.seed + i}, {way}: fit kinds {shares(counts, FIT_NUMBER_KINDS)}; "
                  f"held out {shares(counts, HELD_OUT_NUMBER_KINDS)}", flush=True)  # fmt: skip
    print(f"\nall {args.writers} writers, {args.numbers} numbers per kind each:")
    for way, counts in totals.items():
        print(f"- {way}: fit kinds {shares(counts, FIT_NUMBER_KINDS)}; held out "
              f"{shares(counts, HELD_OUT_NUMBER_KINDS)}")  # fmt: skip


if __name__ == "__main__":
    main()
