"""Milliseconds per LeNet5 training step (batch 100, Adam) on the CPU, one change at a time.

    python -m benchmarks.lenet5_step [--steps 150] [--repeats 3]

Each change of docs/speed-log.md's LeNet5 table is added to the one before. The variants run
interleaved in each of two child processes: one with glibc's default malloc settings, one with
`keep_freed_memory()` (which cannot be undone inside a process). Inputs are random, of MNIST's
shape; only the step is timed (forward, loss, backward, optimizer), after 10 warm-up steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.models import create_model
from mnistlab.system import header, keep_freed_memory

VARIANTS = [
    # label, conv3 as a matrix product, tanh through sigmoid, fused Adam
    ("stock modules (conv3 a convolution, torch.tanh), foreach Adam", False, False, False),
    ("+ conv3 as a matrix product", True, False, False),
    ("+ tanh through sigmoid", True, True, False),
    ("+ fused Adam (mnistlab's lenet5)", True, True, True),
]


def build(conv3_as_product: bool, sigmoid_tanh: bool) -> nn.Module:
    model = create_model("lenet5")
    if not sigmoid_tanh:
        for i, layer in enumerate(model.net):
            if isinstance(layer, nn.Tanh):
                model.net[i] = nn.Tanh()  # the stock module, torch.tanh in training too
    if not conv3_as_product:
        model.forward = model.net.forward  # every layer through its own module
    return model.to(memory_format=torch.channels_last)


def time_variant(conv3: bool, sigmoid_tanh: bool, fused: bool, steps: int) -> float:
    torch.manual_seed(0)
    model = build(conv3, sigmoid_tanh)
    options = {"fused": True} if fused else {"foreach": True}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **options)
    x = torch.randn(100, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (100,))
    for i in range(steps + 10):
        if i == 10:
            start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps * 1000


def child(args) -> None:
    if args.keep_freed_memory:
        keep_freed_memory()
    times: dict[str, list[float]] = {label: [] for label, *_ in VARIANTS}
    for _ in range(args.repeats):  # interleaved: a slow patch of the machine hits every variant
        for label, *flags in VARIANTS:
            times[label].append(time_variant(*flags, args.steps))
    print(json.dumps(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep-freed-memory", type=int, choices=(0, 1), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keep_freed_memory is not None:
        child(args)
        return
    print(f"Command: `python -m benchmarks.lenet5_step {' '.join(sys.argv[1:])}`  ")
    print(header("cpu"))
    print()
    print("| variant | glibc malloc defaults: ms/step, median (min) | keep_freed_memory() |")
    print("|---|---|---|")
    results = []
    for keep in (0, 1):
        command = [sys.executable, "-m", "benchmarks.lenet5_step", "--keep-freed-memory", str(keep)]
        command += ["--steps", str(args.steps), "--repeats", str(args.repeats)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    for label, *_ in VARIANTS:
        cells = [f"{statistics.median(r[label]):.1f} ({min(r[label]):.1f})" for r in results]
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    print()
    print("| forward, (100, 6, 28, 28) float32, channels_last | microseconds, median of 5 |")
    print("|---|---|")
    x = torch.randn(100, 6, 28, 28).contiguous(memory_format=torch.channels_last)
    for name, fn in (("torch.tanh", torch.tanh), ("torch.sigmoid", torch.sigmoid)):
        print(f"| {name} | {kernel_microseconds(fn, x):.0f} |")


def kernel_microseconds(fn, x: torch.Tensor, calls: int = 200) -> float:
    runs = []
    for _ in range(5):
        fn(x)
        start = time.perf_counter()
        for _ in range(calls):
            fn(x)
        runs.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(runs)


if __name__ == "__main__":
    main()
