"""Named training recipes: `mnistlab train --recipe NAME`.

A recipe is a set of TrainConfig values; it may differ per device type (`by_device`), because
what is fastest on a 2-core CPU (few MACs per image) is not what is fastest on a GPU (few
kernel launches per image). Numbers behind each choice: docs/RESULTS.md and docs/speed-log.md.
"""

from __future__ import annotations

from typing import Any

from mnistlab.errors import MnistlabError
from mnistlab.system import cpu_has_native_bf16

AFFINE = {"rotate": 10.0, "scale": 0.1, "shear": 8.0, "translate": 2.5}

SOTA: dict[str, Any] = {
    "description": "state of the art on a GPU: wide BN/ReLU CNN, affine augmentation, label "
    "smoothing, one-cycle, EMA, bf16",
    "model": "convnet-sota",
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 5e-4,
    "batch_size": 256,
    "epochs": 30,
    "schedule": "onecycle",
    "warmup": 0.15,
    "label_smoothing": 0.1,
    "augment": AFFINE,
    "ema_decay": 0.999,
}

SOTA_CPU: dict[str, Any] = {
    **SOTA,
    "description": "state of the art within 30 minutes on a 2-core CPU: the same recipe "
    "with a narrower network and a smaller batch",
    "model": "convnet-sota-cpu",
    "batch_size": 128,
    # Epochs fixed by time budgets before any run (docs/speed-log.md): in fp32, 12, within 30x
    # tuomaso's epoch capped to AVX2, where an fp32 epoch takes ~2.2 of tuomaso's (AMD EPYC:
    # 99.67 +- 0.04% over 5 seeds in 28.8x; 20 fp32 epochs gave 99.67 +- 0.01%).
    "epochs": 12,
    "by_device": {
        # On a CPU with native bf16 (AVX512-BF16/AMX): bf16 autocast, ~1.45x a step, and 10
        # epochs, within 20x tuomaso's epoch where bf16 has no AMX (AMD EPYC with AVX512-BF16:
        # 14.1 s an epoch against 7.55 s): 99.67 +- 0.04% test, val 99.64%, over 5 seeds in
        # 19.8x (12 epochs: 99.69 +- 0.02%, val 99.62%, 22.4x; on an AMX Xeon 99.68% in 18-20x)
        "cpu-bf16": {"cpu_bf16": True, "epochs": 10},
    },
}

RECIPES: dict[str, dict[str, Any]] = {
    "tutorial": {
        "description": "the model's own tutorial recipe (the default)",
    },
    "sota": SOTA,
    "sota-cpu": SOTA_CPU,
    "sota-cpu-oe": {
        **SOTA_CPU,
        "description": "sota-cpu with outlier exposure: non-digits made from training digits "
        "and stroke code are pushed towards 'no class' (docs/calibration.md)",
        "outlier_exposure": 0.5,
        "by_device": {"cpu-bf16": {"cpu_bf16": True}},  # 12 epochs, as it was measured
    },
    "sota-cpu-oe-photo": {
        **SOTA_CPU,
        "description": "experimental: sota-cpu with outlier exposure without the shortcut: "
        "outliers and a quarter of each batch of digits drawn as photos and run through the "
        "same preprocessing (docs/calibration.md)",
        "outlier_exposure": 0.5,
        "outliers": {"path": "photo", "photo_digits": 12_000, "photo_share": 0.25},
        "by_device": {"cpu-bf16": {"cpu_bf16": True}},  # 12 epochs, as it was measured
    },
    "fast": {
        "description": "shortest time to 99% test accuracy on the chosen device",
        # chosen on the validation split by benchmarks/fast_search.py and, for the 2-pixel
        # crop and strided first conv of tinynet-fast, and lr 0.015, benchmarks/fast_next.py
        # rounds 4, 6 and 9 (docs/speed-log.md); it then trains on all 60,000 images, since
        # nothing is selected during the run
        "model": "tinynet-fast",
        "optimizer": "adam",
        # the strided network at batch 256 needs the larger step to keep its accuracy (round
        # 9: validation 99.00% over ten seeds, batch 128 at lr 0.01 99.02%, in 0.82x the time)
        "lr": 0.015,
        "betas": (0.7, 0.9),
        "batch_size": 256,
        "epochs": 1,
        "schedule": "onecycle",
        "warmup": 0.2,
        "label_smoothing": 0.1,
        "full_train": True,
        # A GPU runs these small networks launch-bound: the cost is steps, not MACs. So on
        # CUDA, half the steps (batch 512) with a wider BatchNorm net that still converges in
        # one epoch: validation 99.15 +- 0.01% over 3 seeds on the CPU (speed-log.md), where
        # the CPU net at batch 512 fell to 98.76%.
        "by_device": {
            "cuda": {
                "model": "tinynet-fast-cuda",
                "batch_size": 512,
                "lr": 0.01,  # as measured on the H100; the CPU's 0.015 came later
            },
            # On a CPU with native bf16 (AVX512-BF16/AMX), bf16 autocast: T@99 1.66 s against
            # 2.31 s in fp32, 10/10 seeds at 99% both (docs/speed-log.md).
            "cpu-bf16": {"cpu_bf16": True},
        },
    },
}


# What each recipe reaches, as measured by benchmarks/ and recorded in docs/RESULTS.md.
EXPECTED: dict[str, str] = {
    "tutorial": "lenet5 98.8%, cnn 98.7%, mlp 95.6% test in 10 epochs (~1-2 min on 2 CPU cores)",
    "fast": "99% test in 1.4 s (native bf16) to 1.8 s (AVX2, fp32) on 2 CPU cores, 0.18-0.21x "
    "tuomaso's epoch (mean of 10 seeds); 0.46 s on an H100 (its own network)",
    "sota-cpu": "99.67% test over 5 seeds in 10 epochs of native bf16 (19.8x tuomaso's one "
    "epoch, 2.4 min on 2 cores) or 12 of fp32 (28.8x, 4.2 min capped to AVX2; docs/RESULTS.md)",
    "sota-cpu-oe": "99.59% test (seed 0, native bf16, 12 epochs; sota-cpu's seed 0: 99.73%); "
    "experimental: it also refuses 93% of photographed digits (a shortcut; docs/calibration.md)",
    "sota-cpu-oe-photo": "experimental, not adopted: validation 99.48% (sota-cpu 99.58%), "
    "seed-0 non-digits refused 74% (sota-cpu 78%), photographed validation digits 1.9% "
    "refused (seed 0, native bf16, 12 epochs; docs/calibration.md)",
    "sota": "99.75 ± 0.03% test over 8 seeds, ~46 s per model on an H100",
}


def list_recipes() -> dict[str, str]:
    return {name: r.get("description", "") for name, r in RECIPES.items()}


def get_recipe(name: str, device_type: str = "cpu") -> dict[str, Any]:
    """TrainConfig values of a recipe for a device type ('cpu', 'cuda', 'mps')."""
    try:
        recipe = dict(RECIPES[name])
    except KeyError:
        known = ", ".join(sorted(RECIPES))
        raise MnistlabError(f"unknown recipe {name!r}; known recipes: {known}") from None
    recipe.pop("description", None)
    by_device = recipe.pop("by_device", {})
    recipe.update(by_device.get(device_type, {}))
    if device_type == "cpu" and cpu_has_native_bf16():
        recipe.update(by_device.get("cpu-bf16", {}))
    return recipe
