"""Which saliency method explains the shipped models' answers faithfully, and what explaining
costs.

    python -m benchmarks.saliency [--models lenet5,sota-cpu,fast] [--digits 500] [--seeds 0,1,2]
                                  [--time] [--device cpu]

Faithfulness (deletion curves, Petsiuk et al. 2018): for each of the first --digits MNIST test
digits, its pixels are set to black (MNIST's background) a few at a time, the most salient
first, and the model's probability of its answer is read after each step; the area under that
curve (its mean) is lower when the map found the pixels the answer rests on. Each method is
compared with two orders that know nothing: random over all pixels, and random over the ink
(a fairer floor: any map that ranks ink first beats the first). Methods: integrated gradients
and occlusion (mnistlab.inference.saliency), for each model.

--time also measures, on one thread as `mnistlab serve` runs, the CPU time per explained digit
(Predictor.explain_pixels for one digit, with the prediction given, as the server calls it;
and JSON with its PNGs, as the server answers), and the nearest-digit search alone (features and
the bank product), median and spread over --repeats after a warm-up. Run it alone on the
machine: timings taken beside other work say nothing.

Output: a header (hardware, versions, date, seeds), a table, and
benchmarks/results/saliency.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from mnistlab.data.normalize import normalize
from mnistlab.data.splits import load_splits
from mnistlab.inference.explain import nearest
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.saliency import METHODS, deletion_curve, most_salient_first, saliency
from mnistlab.system import header

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "saliency.json"
CHUNK = 100  # digits per saliency call


def random_orders(pixels: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """The two orders that know nothing: random over all pixels, random over the ink first."""
    generator = torch.Generator().manual_seed(seed)
    flat = pixels.reshape(len(pixels), -1)
    noise = torch.rand(flat.shape, generator=generator)
    ink = (flat > 0).float()
    return {"random": torch.argsort(noise, dim=1), "random_ink": torch.argsort(-(ink + noise), 1)}


def deletion_areas(predictor: Predictor, pixels: torch.Tensor, seeds: list[int], device: str):
    """method or baseline -> (N,) area under its deletion curve, per digit (random orders:
    the mean over the seeds)."""
    model, normalization = predictor.model.to(device), predictor.normalization
    x = normalize(pixels.unsqueeze(1).to(device), normalization)
    with torch.inference_mode():
        target = model(x).argmax(1)
    areas = {}
    for method in METHODS:
        maps = torch.cat(
            [
                saliency(model, x[i : i + CHUNK], target[i : i + CHUNK], normalization, method)
                for i in range(0, len(x), CHUNK)
            ]
        )
        order = most_salient_first(maps)
        areas[method] = deletion_curve(model, pixels, order, target, normalization).mean(1)
    for seed in seeds:
        for name, order in random_orders(pixels, seed).items():
            area = deletion_curve(model, pixels, order, target, normalization).mean(1)
            areas[name] = areas.get(name, 0) + area / len(seeds)
    return areas


def timed(fn, repeats: int) -> dict[str, float]:
    """Median and spread (ms) of fn's thread CPU time over `repeats` calls, after 5 warm-ups."""
    for _ in range(5):
        fn()
    ms = []
    for _ in range(repeats):
        start = time.thread_time()
        fn()
        ms.append(1000 * (time.thread_time() - start))
    ms.sort()
    return {
        "median_ms": statistics.median(ms),
        "p10_ms": ms[len(ms) // 10],
        "p90_ms": ms[-max(1, len(ms) // 10)],
    }


def timings(predictor: Predictor, pixels: np.ndarray, repeats: int) -> dict[str, dict]:
    """CPU ms per explained digit (as the server explains one), and for the nearest digits."""
    out = {}
    digits = [pixels[i : i + 1] for i in range(repeats)]
    predictions = [predictor.predict_pixels(d) for d in digits]
    for method in METHODS:
        calls = iter(range(10**9))

        def explain_one(method=method, calls=calls) -> None:
            i = next(calls) % repeats
            found = predictor.explain_pixels(digits[i], method=method, predictions=predictions[i])
            found[0].to_dict()

        out[f"explain+json {method}"] = timed(explain_one, repeats)
    x = normalize(torch.from_numpy(pixels[:1]).unsqueeze(1), predictor.normalization)
    out["nearest digits"] = timed(lambda: nearest(predictor.model, x, 5), repeats)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet5,sota-cpu,fast")
    parser.add_argument("--digits", type=int, default=500)
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the random orders")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--time", action="store_true", help="also time explaining (run alone)")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as `mnistlab serve` runs; and the same bits on any machine
    seeds = [int(s) for s in args.seeds.split(",")]
    test = load_splits("mnist", args.data_dir, download=False)["test"]
    pixels = test.images[: args.digits]
    line = header(args.device)
    print(f"{line} | digits: first {len(pixels)} of test | seeds: {seeds}")
    record = {"header": line, "digits": len(pixels), "seeds": seeds, "models": {}}
    for name in args.models.split(","):
        predictor = Predictor.from_path(name)
        areas = deletion_areas(predictor, pixels, seeds, args.device)
        row = {
            k: {"mean": float(v.mean()), "std": float(v.std()), "beats_random_ink": None}
            for k, v in areas.items()
        }
        for method in METHODS:
            wins = (areas[method] < areas["random_ink"]).float().mean()
            row[method]["beats_random_ink"] = float(wins)
        best = min(METHODS, key=lambda m: row[m]["mean"])
        entry = {"deletion_area": row, "most_faithful": best}
        if args.time:
            predictor.model.to("cpu")
            entry["cpu_time"] = timings(predictor, test.images.numpy(), args.repeats)
        record["models"][name] = entry
        cells = ", ".join(f"{k} {v['mean']:.4f}" for k, v in row.items())
        print(f"{name}: deletion area (lower is more faithful): {cells}; most faithful: {best}")
        for what, t in entry.get("cpu_time", {}).items():
            spread = f"p10 {t['p10_ms']:.2f}, p90 {t['p90_ms']:.2f}"
            print(f"  {what}: {t['median_ms']:.2f} ms CPU ({spread})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
