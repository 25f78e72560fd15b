"""Write the images and labels of the shipped models' feature-bank digits (runs.bank_digits).

    python scripts/make_bank_digits.py [--data-dir DIR]

Every shipped model's bank (features.safetensors) holds the features of 6,000 training digits:
the first 4,800 of its train split as MNIST has them and the next 1,200 drawn as photos and
preprocessed (train.calibrate.feature_bank). This script rebuilds those digits from the TRAIN
split only (never validation or test), checks that each model's features of them are the bank
it ships, row for row, and writes src/mnistlab/weights/bank/digits.safetensors: each distinct
digit once, with a row index per bank. It prints the file's SHA-256 for runs/bank_digits.py.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

from mnistlab.data.splits import load_splits
from mnistlab.runs import list_pretrained, load_model
from mnistlab.runs.bank_digits import DIGITS_FILE, digits_bytes, to_levels
from mnistlab.runs.features import bank_of
from mnistlab.train.calibrate import (
    BANK_PHOTOGRAPHED,
    BANK_RAW,
    BANK_SEED,
    features_of,
    photographed,
    quantize,
)

ROWS = BANK_RAW + BANK_PHOTOGRAPHED


def bank_digits(images: np.ndarray) -> np.ndarray:
    """(ROWS, 28, 28) uint8: the digits a bank is built from, as feature_bank builds it."""
    photos = photographed(images[BANK_RAW:ROWS], BANK_SEED)
    return np.concatenate([images[:BANK_RAW], photos])


def matching_split(model, normalization: str, bank: torch.Tensor, candidates: dict) -> str:
    """The name of the candidate train split whose digits give exactly `bank`'s int8 rows."""
    stored = quantize(bank)
    for name, (digits, _) in candidates.items():
        features, _ = features_of(model, digits, normalization)
        built = quantize(torch.nn.functional.normalize(features, dim=1))
        off = (built.int() - stored.int()).abs()
        # at most one int8 step anywhere: float rounding between machines, not other digits
        if off.max() <= 1 and (off > 0).float().mean() < 0.001:
            return name
    raise SystemExit("no train split rebuilds this bank: were the banks made another way?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    candidates = {}
    for full in (False, True):  # a --full-train model's train split is all 60,000
        train = load_splits("mnist", args.data_dir, full_train=full, download=False)["train"]
        candidates[f"full_train={full}"] = (
            bank_digits(train.images.numpy()),
            train.labels.numpy()[:ROWS],
        )
    distinct: dict[tuple[bytes, int], int] = {}
    rows: dict[str, np.ndarray] = {}
    for name in list_pretrained():
        model, meta = load_model(name)
        rule = meta.calibration.features if meta.calibration else None
        if rule is None or bank_of(model) is None:
            continue
        split = matching_split(model, meta.normalization, bank_of(model), candidates)
        digits, labels = candidates[split]
        levels = to_levels(digits)
        keys = [(d.tobytes(), int(y)) for d, y in zip(levels, labels, strict=True)]
        index = [distinct.setdefault(key, len(distinct)) for key in keys]
        rows[rule.sha256] = np.array(index, np.int16)
        print(f"{name}: bank rebuilt from the {split} train split, {ROWS} rows", file=sys.stderr)
    images = np.stack([np.frombuffer(k, np.uint8).reshape(28, 28) for k, _ in distinct])
    labels = np.array([y for _, y in distinct], np.uint8)
    data = digits_bytes(images, labels, rows)
    DIGITS_FILE.parent.mkdir(parents=True, exist_ok=True)
    Path(DIGITS_FILE).write_bytes(data)
    print(f"wrote {DIGITS_FILE}: {len(images)} digits, {len(data):,} bytes", file=sys.stderr)
    print(hashlib.sha256(data).hexdigest())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
