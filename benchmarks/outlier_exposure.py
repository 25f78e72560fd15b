"""Choose outlier exposure on validation data only.

    python -m benchmarks.outlier_exposure [--weights 0.5,1.0] [--recipe sota-cpu]
        [--outliers '{"path": "photo", ...}'] [--per-kind 500] [--epochs N]
    python -m benchmarks.outlier_exposure --measure sota-cpu,runs/oe-photo/r1

For each weight: train `--recipe` (sota-cpu) with that `outlier_exposure` and `--outliers`,
seed 0, one thread (as scripts/train_pretrained.py trains the shipped model), into
runs/oe/w<weight> (with `--name`: runs/oe/<name>); training calibrates it on the validation
split as every run is. `--measure` only measures the model folders (or shipped names) given.

Reported per model, all on tuning data: validation accuracy; the share of non-digits rendered
from the tuning seed (0) refused per kind; and the validation digits drawn as photos
(mnistlab.synth's "clean" family, then the real preprocessing): the share refused and the
share read right. Refused means by the rule the model's Predictor applies (the feature rule
when the folder has its bank). Test digits and seed-1 non-digits are not read here; report
the chosen one once with `python -m benchmarks.calibration --models sota-cpu,<folder>`.
Output: benchmarks/results/outlier_exposure.json (rows before the feature rule were measured
with the logits rule, the only one then).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.calibration import refusals
from mnistlab.data.splits import load_splits
from mnistlab.runs import load_model
from mnistlab.system import header
from mnistlab.train.calibrate import TUNING_SEED, nondigit_pixels, photographed
from mnistlab.train.config import build_config
from mnistlab.train.recipes import get_recipe
from mnistlab.train.run import run_training

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "outlier_exposure.json"


def tuning_rejection(folder: str | Path, per_kind: int) -> dict[str, float]:
    """kind -> share of seed-0 non-digits refused ("no digit found" or "not sure")."""
    model, meta = load_model(folder)
    out = {}
    for kind, (pixels, blank) in nondigit_pixels(TUNING_SEED, per_kind).items():
        out[kind] = (blank + int(refusals(model, meta, pixels)[1].sum())) / per_kind
    return out


@functools.lru_cache(maxsize=1)
def photographed_val(data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 validation digits drawn as photos (seed 0; the first 500 are the ones the
    calibration checks the feature rule with) and their labels."""
    val = load_splits("mnist", data_dir, download=False)["val"]
    return photographed(val.images.numpy(), TUNING_SEED), val.labels.numpy()


def photo_rates(folder: str | Path, data_dir: str | None) -> dict[str, float]:
    """Photographed validation digits: the share refused, and the share read right."""
    model, meta = load_model(folder)
    pixels, labels = photographed_val(data_dir)
    logits, refused = refusals(model, meta, pixels)
    return {
        "refused": float(refused.mean()),
        "accuracy": float((logits.argmax(1).numpy() == labels).mean()),
    }


def train_one(
    weight: float,
    work: Path,
    epochs: int | None,
    data_dir: str | None,
    recipe_name: str = "sota-cpu",
    outliers: dict | None = None,
    name: str | None = None,
) -> Path:
    recipe = get_recipe(recipe_name, "cpu")
    options = {"seed": 0, "outlier_exposure": weight, "outliers": outliers}
    if epochs:
        options["epochs"] = epochs
    cfg = build_config(recipe["model"], {**recipe, "recipe": recipe_name}, **options)
    folder = work / (name or (f"w{weight:g}" + (f"-e{epochs}" if epochs else "")))
    if not (folder / "model.json").is_file() or load_model(folder)[1].calibration is None:
        run_training(cfg, folder, data_dir=data_dir, device="cpu")
    return folder


@torch.no_grad()
def mixed_batchnorm(folder: Path, data_dir: str | None, batches: int = 78) -> Path:
    """A copy of a run trained with outliers in the digits' BatchNorm batch, its BatchNorm
    statistics recomputed (cumulative average, no augmentation) on batches mixed as in
    training: raw and photographed train digits and outliers in the config's shares, where
    the training run recomputed them on raw digits alone. Weights otherwise unchanged;
    validation accuracy and calibration fitted again. Into <folder>-mixedbn."""
    import dataclasses
    import shutil

    from mnistlab.data.normalize import normalize
    from mnistlab.evaluate import accuracy
    from mnistlab.runs import folder as run_folder
    from mnistlab.train.calibrate import calibrate_folder
    from mnistlab.train.config import TrainConfig
    from mnistlab.train.outliers import make_outliers, make_photo_digits

    out = folder.with_name(folder.name + "-mixedbn")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("resume.pt", "features.*"))
    model, meta = load_model(out)
    cfg = TrainConfig.from_dict(meta.train)
    options = cfg.outlier_config
    photo_n = int(options.photo_share * cfg.batch_size)
    small = {**(cfg.outliers or {}), "count": 64 * batches, "photo_digits": photo_n * batches}
    small_cfg = dataclasses.replace(cfg, outliers=small)
    splits = load_splits("mnist", data_dir, download=False)
    outliers = make_outliers(small_cfg, splits["train"])
    photos = make_photo_digits(small_cfg, splits["train"])
    raw = splits["train"].images
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    keep = cfg.batch_size - photo_n
    for i in range(batches):
        parts = [
            raw[i * keep : (i + 1) * keep],
            photos.images[i * photo_n : (i + 1) * photo_n],
            outliers[i * 64 : (i + 1) * 64],
        ]
        model(normalize(torch.cat(parts).unsqueeze(1), meta.normalization))
    model.eval()
    for m in norms:
        m.momentum = 0.1
    run_folder.save_weights(out, model)
    val_acc = accuracy(model, splits["val"], meta.normalization, "cpu")
    meta = dataclasses.replace(meta, val_acc=val_acc, calibration=None)
    if hasattr(meta, "test_acc"):
        meta = dataclasses.replace(meta, test_acc=None)  # not measured for this copy
    run_folder.save_meta(out, meta)
    calibrate_folder(out, data_dir)
    return out


def measure(folder: str | Path, per_kind: int, data_dir: str | None) -> dict:
    """The row of one model folder (or shipped name)."""
    start = time.perf_counter()
    meta = load_model(folder)[1]
    kinds = tuning_rejection(folder, per_kind)
    train = meta.train if isinstance(meta.train, dict) else {}
    path = Path(folder)
    return {
        "weight": train.get("outlier_exposure", 0.0),
        "outliers": train.get("outliers"),
        "epochs": train.get("epochs"),
        "folder": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(folder),
        "val_acc": meta.val_acc,
        "train_seconds": meta.train_seconds,
        "val_false_reject": meta.calibration.val_false_reject,
        "score": "knn" if meta.calibration.features is not None else meta.calibration.score,
        "tuning_seed": TUNING_SEED,
        "per_kind": per_kind,
        "nondigit_reject": kinds,
        "nondigit_reject_mean": float(np.mean(list(kinds.values()))),
        "photographed_val": photo_rates(folder, data_dir),
        "measure_seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="0.5")
    parser.add_argument("--recipe", default="sota-cpu")
    parser.add_argument("--outliers", type=json.loads, help="OutlierConfig options, as JSON")
    parser.add_argument("--name", help="the run folder's name under --work")
    parser.add_argument("--measure", help="only measure these folders or shipped names")
    parser.add_argument("--mixed-bn", type=Path, help="see mixed_batchnorm; then measure it")
    parser.add_argument("--per-kind", type=int, default=500)
    parser.add_argument("--epochs", type=int, help="shorter runs, for a quick look")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "oe")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the shipped models are trained: the same bits anywhere
    line = header("cpu")
    print(line, flush=True)
    if args.mixed_bn:
        folders = [mixed_batchnorm(args.mixed_bn, args.data_dir)]
    elif args.measure:
        folders = args.measure.split(",")
    else:
        folders = [
            train_one(
                float(w),
                args.work,
                args.epochs,
                args.data_dir,
                args.recipe,
                args.outliers,
                args.name,
            )
            for w in args.weights.split(",")
        ]
    rows = json.loads(RESULTS.read_text())["rows"] if RESULTS.is_file() else []
    for folder in folders:
        row = {**measure(folder, args.per_kind, args.data_dir), "header": line}
        rows = [r for r in rows if r["folder"] != row["folder"]] + [row]
        print(json.dumps(row), flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
