"""Whole-number reading on numbers drawn from VALIDATION digits (never the test split): the
share of strings read right per kind and seed, for tuning the reader without touching the test
numbers that benchmarks.robustness reports.

    python -m benchmarks.reading_val --seeds 200,201,202,203 --numbers 200
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
import torch

from mnistlab.data.splits import load_splits
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.reading import read_number
from mnistlab.synth import NUMBER_KINDS
from mnistlab.synth.numbers import draw_numbers


def validation_numbers(split, kind: str, count: int, seed: int):
    """(truth, image) for `count` numbers of 2-8 digits, as benchmarks.robustness draws them
    but from the given split and seed (synth.numbers.draw_numbers)."""
    return draw_numbers(split.images.numpy(), split.labels.numpy(), kind, count, seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100")
    parser.add_argument("--numbers", type=int, default=200)
    parser.add_argument("--kinds", default=",".join(NUMBER_KINDS))
    parser.add_argument("--model", default=None, help="model folder or shipped name")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    predictor = Predictor.from_path(args.model)
    split = load_splits(download=False)["val"]
    for kind in args.kinds.split(","):
        shares = []
        for seed in (int(s) for s in args.seeds.split(",")):
            outcomes: collections.Counter[str] = collections.Counter()
            for truth, image in validation_numbers(split, kind, args.numbers, seed):
                read = read_number(predictor, image).number
                if read == truth:
                    outcomes["right"] += 1
                    continue
                if args.show_errors:
                    print(f"  {kind} seed {seed}: {truth} read {read}")
                outcomes[
                    "more"
                    if len(read) > len(truth)
                    else "fewer"
                    if len(read) < len(truth)
                    else "wrong"
                ] += 1
            shares.append(outcomes["right"] / args.numbers)
            print(f"{kind} seed {seed}: {shares[-1]:.1%} right {dict(outcomes)}", flush=True)
        print(f"{kind}: mean {np.mean(shares):.1%} over seeds {args.seeds}", flush=True)


if __name__ == "__main__":
    main()
