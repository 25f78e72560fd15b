"""Train the models shipped inside the package, each from a fixed seed, and write their cards.

    python scripts/train_pretrained.py [NAME ...] [--data-dir DIR] [--work runs/pretrained]

For each NAME (default: all of lenet5, fast, sota-cpu) this trains the model exactly as the
`mnistlab train` command in its card does, on the CPU with one thread (one thread gives the same
bits on any machine, whatever else runs on it), evaluates it once on the test set, and writes
src/mnistlab/weights/NAME/ with model.safetensors, model.json, metrics.jsonl, card.json and
CARD.md. The card records the command, commit, seed, data MD5s, validation and test accuracy,
per-class test accuracy, parameter count, file size, SHA-256 and licence.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from calibrate_pretrained import card_facts, card_line, with_line  # beside this script

from mnistlab.data.datasets import get_dataset
from mnistlab.data.splits import load_splits
from mnistlab.evaluate import predictions, report
from mnistlab.runs import folder as run_folder
from mnistlab.runs.names import FEATURES
from mnistlab.system import header, now_iso
from mnistlab.train.config import build_config
from mnistlab.train.recipes import get_recipe
from mnistlab.train.run import run_training

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "src" / "mnistlab" / "weights"
SEED = 0
LICENCE = (
    "Weights: MIT, as mnistlab. Trained on MNIST (Y. LeCun, C. Cortes, C. Burges), "
    "distributed under CC BY-SA 3.0."
)

# name -> (mnistlab train flags, what the model is for)
SHIPPED = {
    "lenet5": (
        ["--model", "lenet5"],
        "the tutorial's LeNet5 trained with its recipe (Adam 1e-3, batch 100, 10 epochs), "
        "with mnistlab's fixes",
    ),
    "fast": (["--recipe", "fast"], "the `fast` recipe's tinynet: one epoch, seconds on a CPU"),
    "sota-cpu": (
        ["--recipe", "sota-cpu"],
        "the most accurate CPU recipe: BN/ReLU convnet, augmentation, EMA (its epochs and "
        "precision: model.json's train settings)",
    ),
}


def commit() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "scripts"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def config_for(flags: list[str]):
    recipe_name = flags[1] if flags[0] == "--recipe" else None
    recipe = get_recipe(recipe_name, "cpu") if recipe_name else {}
    model = flags[1] if flags[0] == "--model" else recipe["model"]
    named = {**recipe, "recipe": recipe_name} if recipe_name else None
    return build_config(model, named, seed=SEED)


def train_one(name: str, work: Path, data_dir: str | None, code_commit: str) -> None:
    flags, purpose = SHIPPED[name]
    cfg = config_for(flags)
    run_dir = work / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    print(f"[{name}] training {cfg.model} ({' '.join(flags)}, seed {SEED})", flush=True)
    meta = run_training(cfg, run_dir, data_dir=data_dir, device="cpu")
    model, meta = run_folder.load_model(run_dir)
    spec = get_dataset(cfg.dataset)
    test = load_splits(cfg.dataset, data_dir, download=False)["test"]
    predicted, _ = predictions(model, test, meta["normalization"], torch.device("cpu"))
    result = report(predicted, test.labels, list(spec.classes))
    assert result.accuracy == meta["test_acc"], "eval disagrees with the run's test accuracy"

    target = WEIGHTS / name
    staging = WEIGHTS / f".{name}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for file in (run_folder.WEIGHTS, run_folder.META, run_folder.METRICS):
        shutil.copy2(run_dir / file, staging / file)
    bank = run_dir / FEATURES  # the calibration's feature bank, when it adopted one
    if bank.is_file():
        shutil.copy2(bank, staging / FEATURES)
    weights = (staging / run_folder.WEIGHTS).read_bytes()
    command = " ".join(
        ["mnistlab", "train", *flags, "--seed", str(SEED), "--device", "cpu", "--threads", "1"]
    )
    card = {
        "name": name,
        "purpose": purpose,
        "model": meta["model"],
        "config": meta["config"],
        "recipe": cfg.recipe,
        "command": command,
        "script": "python scripts/train_pretrained.py " + name,
        "commit": code_commit,
        "seed": SEED,
        "dataset": cfg.dataset,
        "data_md5": {f.name: f.md5 for f in spec.files},
        "trained_on": "all 60,000 training images" if cfg.full_train else "the 55,000 train split",
        "val_acc": meta["val_acc"],
        "test_acc": meta["test_acc"],
        "test_errors": result.errors,
        "per_class_test_acc": {row["class"]: row["recall"] for row in result.per_class},
        "parameters": sum(p.numel() for p in model.parameters()),
        "file_bytes": len(weights),
        "sha256": {run_folder.WEIGHTS: hashlib.sha256(weights).hexdigest()},
        "train_seconds": meta["train_seconds"],
        "hardware": header("cpu"),
        "date": now_iso(),
        "licence": LICENCE,
    }
    markdown = card_markdown(card)
    if meta.calibration is not None:  # training fitted it on the validation split
        card["calibration"] = card_facts(meta.calibration)
        if meta.calibration.features is not None:
            card["sha256"][FEATURES] = meta.calibration.features.sha256
        markdown = with_line(markdown, card_line(card["calibration"]))
    (staging / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (staging / "CARD.md").write_text(markdown, encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    print(f"[{name}] test acc {100 * card['test_acc']:.2f}% -> {target}", flush=True)


def card_markdown(card: dict) -> str:
    val = f"{100 * card['val_acc']:.2f}%" if card["val_acc"] is not None else "n/a (no val split)"
    per_class = " | ".join(f"{k}: {100 * v:.2f}%" for k, v in card["per_class_test_acc"].items())
    md5s = "\n".join(f"  - `{k}`: `{v}`" for k, v in card["data_md5"].items())
    return f"""# Pretrained model `{card["name"]}`

{card["purpose"]}.

- Use: `mnistlab predict {card["name"]} IMAGE`, `mnistlab.create_model("{card["name"]}",
  pretrained=True)`, `mnistlab.load("{card["name"]}")`.
- Model: `{card["model"]}` {json.dumps(card["config"])}, {card["parameters"]:,} parameters,
  weights {card["file_bytes"]:,} bytes (SHA-256 `{card["sha256"]["model.safetensors"]}`).
- Trained with: `{card["command"]}` (through `{card["script"]}`), seed {card["seed"]},
  commit `{card["commit"]}`, on {card["trained_on"]}; {card["train_seconds"]:.0f} s of
  training ({card["hardware"]}).
- Data: MNIST, files checked against these MD5s (uncompressed):
{md5s}
- Validation accuracy: {val}. Test accuracy (read once): **{100 * card["test_acc"]:.2f}%**
  ({card["test_errors"]} errors in 10,000).
- Per-class test accuracy: {per_class}.
- Licence: {card["licence"]}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(SHIPPED))
    parser.add_argument("--data-dir")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "pretrained")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # explicit, at the entry point: the same bits on any machine
    unknown = [n for n in args.names if n not in SHIPPED]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(SHIPPED)}")
    code_commit = commit()  # the code that trains, read before anything can change it
    for name in args.names or list(SHIPPED):
        train_one(name, args.work, args.data_dir, code_commit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
