"""PyTorch against onnxruntime for serving: one forward pass, and a whole predict_pixels call.

    python -m benchmarks.backends [--models lenet5,fast,sota-cpu] [--batches 1,8,32] [--write]

One thread for both (as `mnistlab serve` runs). For each shipped model and batch size: the CPU
time of the forward pass alone (PyTorch: the module on normalised floats; onnxruntime: the graph
`mnistlab serve --backend onnx` builds, on raw pixels, which also computes the similarity to the
feature bank) and of a whole
`Predictor.predict_pixels` call (calibrated probabilities and "not sure" included), best of 5
rounds of 40 calls, interleaved. Also checks both give the same guesses and not-sure answers on
1,000 validation digits. --write puts the table into docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="lenet5,fast,sota-cpu")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--write", action="store_true")
    return parser.parse_args()


def best_ms(call, rounds: int = 5, calls: int = 40) -> float:
    call()
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            call()
        best = min(best, (time.process_time() - start) / calls)
    return 1000 * best


def timings(on_torch, on_onnx, batch: np.ndarray, normalize) -> dict[str, float]:
    floats = normalize(torch.from_numpy(batch).unsqueeze(1), on_torch.normalization)

    def torch_forward() -> None:
        with torch.inference_mode():
            on_torch.model(floats)

    return {
        "torch forward": best_ms(torch_forward),
        "onnx forward": best_ms(lambda: on_onnx.forward(batch)),
        "torch predict": best_ms(lambda: on_torch.predict_pixels(batch)),
        "onnx predict": best_ms(lambda: on_onnx.predict_pixels(batch)),
    }


def main() -> int:
    from mnistlab.data.normalize import normalize
    from mnistlab.data.splits import load_splits
    from mnistlab.inference.predictor import Predictor
    from mnistlab.system import header

    args = parse_args()
    torch.set_num_threads(1)
    digits = load_splits(download=False)["val"].images[:1000].numpy()
    rows = []
    for name in args.models.split(","):
        on_torch = Predictor.from_path(name)
        on_onnx = on_torch.on_onnx_runtime()
        a, b = on_torch.predict_pixels(digits), on_onnx.predict_pixels(digits)
        same = np.mean(
            [x.guess == y.guess and x.digit == y.digit for x, y in zip(a, b, strict=True)]
        )
        for size in (int(s) for s in args.batches.split(",")):
            times = timings(on_torch, on_onnx, digits[:size], normalize)
            rows.append(
                f"| {name} | {size} | {times['torch forward']:.3f} | {times['onnx forward']:.3f}"
                f" | {times['torch predict']:.3f} | {times['onnx predict']:.3f} | {same:.2%} |"
            )
            print(rows[-1], flush=True)
    table = "\n".join(
        [
            "| model | batch | forward, torch (ms) | forward, onnx (ms) | predict_pixels, torch "
            "(ms) | predict_pixels, onnx (ms) | same answers (1,000 val digits) |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    setup = f"`python -m benchmarks.backends --models {args.models} --batches {args.batches}`"
    print(header())
    print(setup)
    print(table)
    if args.write:
        from benchmarks._report import update_section

        update_section("backends", f"{header()}\n\n{setup}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
