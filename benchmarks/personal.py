"""Personal models on simulated writers: error on a writer's digits before and after adapting.

    python -m benchmarks.personal [--model sota-cpu] [--writers 20] [--fit 30] [--test 300]
                                  [--seed 0] [--threads 2]
    python -m benchmarks.personal --folder DIR --writer 4   # a writer's folder, to time
                                                             # `mnistlab finetune MODEL DIR`

Each writer (mnistlab.synth.writers.Writer.random(seed + i)) writes `--fit` digits of the
validation split (the same number per class, chosen by the seed) and `--test` digits of the
test split (writer i: test digits 300 i ... 300 i + 299, so no two writers share one). The
model is adapted on the fit digits alone (mnistlab.train.personal.adapt, the default
FinetuneConfig) and measured on the writer's test digits and on MNIST's 10,000 test digits.
No base model was trained on any writer's style (tests/personal/test_writers.py).
Targets (issue 25): the error at least halved on average over the writers whose error before
is at least 2%; MNIST test accuracy within 0.2 points. Output: benchmarks/results/personal.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from mnistlab.data.splits import Split, load_splits
from mnistlab.evaluate import accuracy
from mnistlab.runs import load_model
from mnistlab.synth.writers import Writer, write_digits
from mnistlab.system import header, now_iso, versions
from mnistlab.train.personal import FinetuneConfig, adapt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "personal.json"
HARD = 0.02  # writers whose error before is at least this count for the target


def per_class(labels: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """`count` indices drawn evenly over the classes (by `seed`), sorted."""
    generator = torch.Generator().manual_seed(seed)
    each = [(labels == c).nonzero().flatten() for c in range(10)]
    chosen = [
        index[torch.randperm(len(index), generator=generator)[: count // 10 + (c < count % 10)]]
        for c, index in enumerate(each)
    ]
    return torch.cat(chosen).sort().values


def writer_digits(writer: Writer, split: Split, index: torch.Tensor, seed: int) -> Split:
    pixels = write_digits(writer, split.images[index].numpy(), split.labels[index].numpy(), seed)
    return Split(torch.from_numpy(pixels), split.labels[index])


def one_writer(i: int, args, splits, model, meta, cfg: FinetuneConfig) -> dict:
    writer = Writer.random(args.seed + i)
    fit = writer_digits(writer, splits["val"], per_class(splits["val"].labels, args.fit, i), i)
    test_index = torch.arange(args.test * i, args.test * (i + 1)) % len(splits["test"])
    test = writer_digits(writer, splits["test"], test_index, 10_000 + i)
    adapted = adapt(model, meta, fit, splits["train"], test, cfg)
    return {
        "writer": i,
        "style": writer.to_dict(),
        "error_before": 1 - adapted.held_out_before,
        "error_after": 1 - adapted.held_out_after,
        "mnist_test_acc_after": accuracy(adapted.model, splits["test"], meta.normalization),
        "train_seconds": adapted.seconds,
    }


def summary(rows: list[dict], base_acc: float) -> dict:
    def stats(values: list[float]) -> dict:
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return {
            "mean": statistics.fmean(values),
            "std": spread,
            "min": min(values),
            "max": max(values),
        }

    hard = [r for r in rows if r["error_before"] >= HARD]
    mnist = [r["mnist_test_acc_after"] for r in rows]
    out = {
        "error_before": stats([r["error_before"] for r in rows]),
        "error_after": stats([r["error_after"] for r in rows]),
        "hard_writers": len(hard),
        "mnist_test_acc_before": base_acc,
        "mnist_test_acc_after": stats(mnist),
        "largest_mnist_drop_points": 100 * (base_acc - min(mnist)),
    }
    if hard:
        before = statistics.fmean(r["error_before"] for r in hard)
        after = statistics.fmean(r["error_after"] for r in hard)
        out |= {"hard_error_before": before, "hard_error_after": after}
        out["target_error_halved"] = after <= before / 2
    out["target_mnist_within_0.2"] = out["largest_mnist_drop_points"] <= 0.2
    return out


def write_folder(folder: Path, writer_index: int, args, splits) -> None:
    """A writer's digits as DIR/<label>/<name>.png: the --fit digits plus held-out ones, for
    timing the CLI on a realistic folder."""
    writer = Writer.random(args.seed + writer_index)
    count = args.fit + args.fit // 2  # finetune holds 30% out
    write_writer_folder(folder, writer, splits["val"], count, 0)
    print(f"wrote {count} digits of writer {writer_index} to {folder}")


def write_writer_folder(folder: Path, writer: Writer, split: Split, count: int, seed: int) -> None:
    """`count` digits of `split` drawn evenly over the classes, in `writer`'s style, as
    DIR/<label>/<n>.png (3x MNIST's size, dark on white), the layout `mnistlab finetune`
    reads."""
    from PIL import Image

    digits = writer_digits(writer, split, per_class(split.labels, count, seed), seed)
    for n, (pixels, label) in enumerate(
        zip(digits.images.numpy(), digits.labels.tolist(), strict=True)
    ):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(255 - pixels).resize((84, 84), Image.BILINEAR)
        image.save(folder / str(label) / f"{n:03d}.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="sota-cpu")
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--fit", type=int, default=30)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--folder", help="only write one writer's folder here and stop")
    parser.add_argument("--writer", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    splits = load_splits("mnist", args.data_dir, download=False)
    if args.folder:
        write_folder(Path(args.folder), args.writer, args, splits)
        return 0
    model, meta = load_model(args.model)
    cfg = FinetuneConfig()
    base_acc = accuracy(model, splits["test"], meta.normalization)
    print(header("cpu"), file=sys.stderr)
    rows = []
    for i in range(args.writers):
        rows.append(one_writer(i, args, splits, model, meta, cfg))
        r = rows[-1]
        print(
            f"writer {i:2d}: error {100 * r['error_before']:5.2f}% -> "
            f"{100 * r['error_after']:5.2f}%"
            f"  MNIST test {100 * r['mnist_test_acc_after']:.2f}%  ({r['train_seconds']:.1f} s)",
            flush=True,
        )
    result = {
        "benchmark": "personal",
        "command": "python -m benchmarks.personal " + " ".join(argv or sys.argv[1:]),
        "model": args.model,
        "writers": args.writers,
        "fit_digits": args.fit,
        "test_digits": args.test,
        "seeds": {
            "writers": list(range(args.seed, args.seed + args.writers)),
            "finetune": cfg.seed,
        },
        "finetune": asdict(cfg),
        "hardware": header("cpu"),
        "threads": args.threads,
        "versions": versions(),
        "date": now_iso(),
        "summary": summary(rows, base_acc),
        "per_writer": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
