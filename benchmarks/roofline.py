"""Where a training step's time goes, against this CPU's peak: FLOPs per step and per epoch,
achieved FLOP/s, and the split between batch preparation (gather, augmentation), the network's
forward and backward, and the rest (optimizer, EMA), for the `fast` and `sota-cpu` recipes.

    python -m benchmarks.roofline [--steps 40] [--threads 2] [--write]

Real MNIST batches through the engine's own loader and step. FLOPs are counted by torch's
FlopCounterMode (convolutions and matrix products, forward and backward; elementwise work is
not counted, which is part of the point). The peak is cores x clock x FP32 FLOPs per cycle from
the CPU's flags (AVX-512: 2 FMA units x 16 lanes x 2; AVX2: 2 x 8 x 2), an upper bound: on a VM
the two "cores" may be two hyperthreads of one physical core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks._report import update_section
from mnistlab.data.splits import load_splits
from mnistlab.system import configure_for_training, cpu_has_native_bf16, header
from mnistlab.train.config import build_config
from mnistlab.train.engine import build_state, build_train_loader, step_runner
from mnistlab.train.recipes import get_recipe


def cpu_peak_gflops(threads: int) -> tuple[float, str]:
    flags, mhz = set(), 0.0
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":", 1)[1])
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = 2 * lanes * 2  # two FMA units, an FMA is two FLOPs
    isa = "AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE"
    return (
        threads * mhz / 1000 * per_cycle,
        f"{threads} x {mhz / 1000:.2f} GHz x {per_cycle} ({isa})",
    )


def timed(fn, steps: int) -> float:
    """Median seconds of `fn()` over `steps` calls, after 5 warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, splits, steps: int, bf16: bool = False) -> dict:
    recipe = get_recipe(name, "cpu")
    cfg = build_config(recipe["model"], {**recipe, "recipe": name}, cpu_bf16=bf16)
    split = splits["train"] if not cfg.full_train else splits["train+val"]
    device = torch.device("cpu")
    loader = build_train_loader(cfg, split, device)
    state = build_state(cfg, device, len(loader))
    run_step = step_runner(cfg, device, state, state.model, loader)
    order = loader.order(0)
    index = order[: cfg.batch_size]
    x, y = loader.batch(index)

    def forward_backward() -> None:
        state.model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(state.model(x), y, label_smoothing=cfg.label_smoothing)
        loss.backward()

    with FlopCounterMode(display=False) as counter:
        forward_backward()
    flops = counter.get_total_flops()
    step = timed(lambda: run_step(index), steps)
    batch = timed(lambda: loader.batch(index), steps)
    net = timed(forward_backward, steps)
    return {
        "recipe": name,
        "model": f"{cfg.model} {cfg.model_config}",
        "batch": cfg.batch_size,
        "steps_per_epoch": len(loader),
        "gflop_per_step": flops / 1e9,
        "gflop_per_epoch": flops * len(loader) / 1e9,
        "ms_step": 1000 * step,
        "ms_batch": 1000 * batch,
        "ms_net": 1000 * net,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir")
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # explicit, at the entry point
    configure_for_training("cpu")
    splits = load_splits("mnist", args.data_dir, download=False)
    splits["train+val"] = load_splits("mnist", args.data_dir, full_train=True, download=False)[
        "train"
    ]
    peak, how = cpu_peak_gflops(args.threads)
    lines = [
        f"`python -m benchmarks.roofline {' '.join(sys.argv[1:])}`; {header('cpu')}",
        "",
        f"Peak FP32: {peak:.0f} GFLOP/s ({how}).",
        "",
        "| recipe | GFLOP/step | GFLOP/epoch | ms/step | achieved GFLOP/s | % of peak "
        "| batch prep ms | fwd+bwd ms (GFLOP/s) | rest ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    variants = [(name, False) for name in ("fast", "sota-cpu")]
    if cpu_has_native_bf16():  # AVX512-BF16/AMX: the same steps under bf16 autocast
        variants += [(name, True) for name in ("fast", "sota-cpu")]
    for name, bf16 in variants:
        r = measure(name, splits, args.steps, bf16)
        achieved = r["gflop_per_step"] / (r["ms_step"] / 1000)
        net_rate = r["gflop_per_step"] / (r["ms_net"] / 1000)
        rest = r["ms_step"] - r["ms_batch"] - r["ms_net"]
        lines.append(
            f"| {name}{' (bf16 autocast)' if bf16 else ''} | {r['gflop_per_step']:.3f} "
            f"| {r['gflop_per_epoch']:.0f} "
            f"| {r['ms_step']:.1f} | {achieved:.1f} | {100 * achieved / peak:.1f}% "
            f"| {r['ms_batch']:.1f} | {r['ms_net']:.1f} ({net_rate:.1f}) | {rest:.1f} |"
        )
        print(r, flush=True)
    table = "\n".join(lines)
    print(table)
    if args.write:
        update_section("roofline", "### Where a CPU training step goes (roofline)\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
