"""Choose the outlier-exposure weight on validation data only.

    python -m benchmarks.outlier_exposure [--weights 0.5,1.0] [--per-kind 500] [--epochs N]

For each weight: train the sota-cpu recipe with that `outlier_exposure`, seed 0, one thread
(as scripts/train_pretrained.py trains the shipped model), into runs/oe/w<weight>; training
calibrates it on the validation split as every run is. Reported per weight: validation
accuracy, and the share of non-digits rendered from the tuning seed (0) refused at the fitted
1% validation false-reject rule, per kind. Test digits and seed-1 non-digits are not read
here; report the chosen one with `python -m benchmarks.calibration --models runs/oe/w<weight>`.
Output: benchmarks/results/outlier_exposure.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mnistlab.calibration.core import shape_counts
from mnistlab.calibration.fit import TUNING_SEED, logits_of, nondigit_pixels, rejected
from mnistlab.runs import load_model
from mnistlab.system import header
from mnistlab.train.config import build_config
from mnistlab.train.recipes import get_recipe
from mnistlab.train.run import run_training

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "outlier_exposure.json"


def tuning_rejection(folder: Path, per_kind: int) -> dict[str, float]:
    """kind -> share of seed-0 non-digits refused ("no digit found" or "not sure")."""
    model, meta = load_model(folder)
    out = {}
    for kind, (pixels, blank) in nondigit_pixels(TUNING_SEED, per_kind).items():
        logits = logits_of(model, pixels, meta.normalization)
        refused = rejected(logits, shape_counts(pixels), meta.calibration)
        out[kind] = (blank + int(refused.sum())) / per_kind
    return out


def train_one(weight: float, work: Path, epochs: int | None, data_dir: str | None) -> Path:
    recipe = get_recipe("sota-cpu", "cpu")
    options = {"seed": 0, "outlier_exposure": weight}
    if epochs:
        options["epochs"] = epochs
    cfg = build_config(recipe["model"], {**recipe, "recipe": "sota-cpu"}, **options)
    folder = work / (f"w{weight:g}" + (f"-e{epochs}" if epochs else ""))
    if not (folder / "model.json").is_file() or load_model(folder)[1].calibration is None:
        run_training(cfg, folder, data_dir=data_dir, device="cpu")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="0.5")
    parser.add_argument("--per-kind", type=int, default=500)
    parser.add_argument("--epochs", type=int, help="shorter runs, for a quick look")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "oe")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the shipped models are trained: the same bits anywhere
    line = header("cpu")
    print(line, flush=True)
    rows = json.loads(RESULTS.read_text())["rows"] if RESULTS.is_file() else []
    for weight in (float(w) for w in args.weights.split(",")):
        start = time.perf_counter()
        folder = train_one(weight, args.work, args.epochs, args.data_dir)
        meta = load_model(folder)[1]
        kinds = tuning_rejection(folder, args.per_kind)
        row = {
            "weight": weight,
            "epochs": args.epochs,
            "folder": str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder),
            "val_acc": meta.val_acc,
            "train_seconds": meta.train_seconds,
            "val_false_reject": meta.calibration.val_false_reject,
            "score": meta.calibration.score,
            "tuning_seed": TUNING_SEED,
            "per_kind": args.per_kind,
            "nondigit_reject": kinds,
            "nondigit_reject_mean": float(np.mean(list(kinds.values()))),
            "seconds": time.perf_counter() - start,
            "header": line,
        }
        rows = [r for r in rows if r["folder"] != row["folder"]] + [row]
        print(json.dumps(row), flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
