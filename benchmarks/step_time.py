"""Milliseconds per training step of tinynet variants on this machine (for docs/speed-log.md).

    python -m benchmarks.step_time [--threads N] [--steps 30]

Synthetic inputs of MNIST's shape; only the step is timed (forward, loss, backward, Adam), after
5 warm-up steps. Each line: variant, batch size, ms per step, seconds per 60,000-image epoch.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from mnistlab.models import create_model
from mnistlab.system import header

FAST = {"c1": 16, "c2": 32, "hidden": 128}
VARIANTS = [  # (label, model config, batch, channels_last, compile, fused Adam)
    ("tuomaso shape, default memory format", {}, 256, False, False, False),
    ("tuomaso shape, channels_last", {}, 256, True, False, False),
    ("c1=16", {"c1": 16}, 256, True, False, False),
    ("c1=16 hidden=128 (fast recipe)", FAST, 256, True, False, False),
    ("fast recipe net, batch 512", FAST, 512, True, False, False),
    ("fast recipe net, fused Adam", FAST, 256, True, False, True),
    ("fast recipe net, torch.compile", FAST, 256, True, True, False),
    ("stride-2 first conv", {"stride1": 2}, 256, True, False, False),
    ("with BatchNorm", {"batchnorm": True}, 256, True, False, False),
]


def time_variant(config, batch, channels_last, compiled, fused, steps) -> tuple[float, float]:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))
    model = create_model("tinynet", **config).to(memory_format=fmt)
    opt = torch.optim.Adam(
        model.parameters(), 0.01, **({"fused": True} if fused else {"foreach": True})
    )
    forward = torch.compile(model) if compiled else model

    def step():
        loss = F.cross_entropy(forward(x), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    start = time.perf_counter()
    for _ in range(5):
        step()
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps, warmup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(header("cpu"))
    print("| variant | batch | ms/step | s per 60k epoch | warm-up s |")
    print("|---|---|---|---|---|")
    for label, config, batch, cl, compiled, fused in VARIANTS:
        per_step, warmup = time_variant(config, batch, cl, compiled, fused, args.steps)
        print(
            f"| {label} | {batch} | {1000 * per_step:.1f} | {per_step * 60000 / batch:.2f} | "
            f"{warmup:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
