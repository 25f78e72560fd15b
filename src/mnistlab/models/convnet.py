"""Models for accuracy and for speed (BatchNorm + ReLU convolutional networks)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mnistlab.errors import ModelConfigError
from mnistlab.models.registry import register_model, register_variant


def conv_bn(c_in: int, c_out: int, kernel: int = 3) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


@dataclass
class ConvNetConfig:
    widths: tuple[int, ...] = (32, 64, 128)  # channels of each stage; a stage halves the size
    depth: int = 2  # 3x3 conv-BN-ReLU layers per stage
    dropout: float = 0.0  # before the classifier

    def __post_init__(self) -> None:
        self.widths = tuple(self.widths)
        if not 1 <= len(self.widths) <= 4 or min(self.widths) < 1 or self.depth < 1:
            # four 2x2 pools take 28 px to 1; a fifth would leave nothing
            raise ModelConfigError("convnet needs 1 to 4 positive widths and depth >= 1")


@register_model(
    "convnet",
    ConvNetConfig,
    recipe=dict(
        optimizer="adamw",
        lr=2e-3,
        batch_size=128,
        epochs=10,
        schedule="onecycle",
        warmup=0.2,
        weight_decay=5e-4,
    ),
    description="VGG-style BatchNorm/ReLU CNN, configurable width and depth",
)
class ConvNet(nn.Module):
    """Stages of 3x3 conv-BN-ReLU, each followed by a 2x2 max-pool: 28 -> 14 -> 7 -> 3."""

    def __init__(self, config: ConvNetConfig):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for width in config.widths:
            for _ in range(config.depth):
                layers += conv_bn(c_in, width)
                c_in = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)  # (B, widths[-1], 3, 3) for three stages
        self.head = nn.Sequential(
            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Dropout(config.dropout), nn.Linear(c_in, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass
class TinyNetConfig:
    c1: int = 24  # channels of the first 5x5 conv
    c2: int = 32  # channels of the second 3x3 conv
    hidden: int = 256
    stride1: int = 1  # 2: the first conv strides instead of being max-pooled (4x fewer MACs)
    # the first conv's kernel: 6 with stride 2 sees the 6x6 window that a 5x5 conv and a 2x2
    # pool see together
    k1: int = 5
    batchnorm: bool = False
    # pixels cut from each side before the first conv: MNIST centres each digit's 20x20 box in
    # 28x28, so a thin border holds little ink and costs MACs in every layer (even, 0-4)
    crop: int = 0

    def __post_init__(self) -> None:
        if self.crop not in (0, 2, 4):
            raise ModelConfigError("tinynet's crop must be 0, 2 or 4 pixels")
        if self.k1 not in (3, 5, 6):
            raise ModelConfigError("tinynet's k1 (first kernel) must be 3, 5 or 6")


@register_model(
    "tinynet",
    TinyNetConfig,
    recipe=dict(
        optimizer="adam",
        lr=0.01,
        betas=(0.7, 0.9),
        batch_size=256,
        epochs=1,
        schedule="onecycle",
        warmup=0.2,
    ),
    description="two small convs and one hidden layer: built for time-to-99%",
)
class TinyNet(nn.Module):
    """Conv5x5(c1)-MaxPool2-ReLU-Conv3x3(c2)-MaxPool2-ReLU-FC(hidden)-ReLU-FC(10).

    With the defaults this is the shape of the fastest published MNIST trainer; the widths are
    configurable because on a CPU the cost is the convolutions' MACs per image.
    """

    def __init__(self, config: TinyNetConfig):
        super().__init__()
        k, inside = config.k1, 28 - 2 * config.crop
        if config.stride1 == 1:
            stem = [nn.Conv2d(1, config.c1, k), nn.MaxPool2d(2)]  # (B, c1, 24, 24) -> 12x12
            first = (inside - k + 1) // 2
        else:
            stem = [nn.Conv2d(1, config.c1, k, stride=config.stride1)]  # (B, c1, 12, 12)
            first = (inside - k) // config.stride1 + 1
        norm1 = nn.BatchNorm2d(config.c1) if config.batchnorm else nn.Identity()
        norm2 = nn.BatchNorm2d(config.c2) if config.batchnorm else nn.Identity()
        side = first - 2  # after the first conv and its pool (or stride), then conv 3x3
        self.crop = config.crop
        self.net = nn.Sequential(
            *stem,
            norm1,
            nn.ReLU(inplace=True),
            nn.Conv2d(config.c1, config.c2, 3),  # (B, c2, 10, 10)
            nn.MaxPool2d(2),  # (B, c2, 5, 5)
            norm2,
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(config.c2 * (side // 2) ** 2, config.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.crop:
            c = self.crop
            x = x[:, :, c:-c, c:-c]
        return self.net(x)


# Named variants, chosen by the recipes of the same name (their numbers: docs/RESULTS.md).
register_variant(
    "convnet-sota",
    "convnet",
    "the `sota` recipe's network: widths 64-128-256, two convs per stage, dropout 0.1",
    widths=(64, 128, 256),
    depth=2,
    dropout=0.1,
)
register_variant(
    "convnet-sota-cpu",
    "convnet",
    "the `sota-cpu` recipe's network: widths 16-32-64, two convs per stage, dropout 0.1",
    widths=(16, 32, 64),
    depth=2,
    dropout=0.1,
)
register_variant(
    "tinynet-fast",
    "tinynet",
    "the `fast` recipe's network on a CPU: 16 and 32 channels, 128 hidden units, the first "
    "conv on the middle 24x24 pixels with stride 2 (no first pool)",
    c1=16,
    c2=32,
    hidden=128,
    # 0.65x the FLOPs for the same validation accuracy by the target's criterion (round 4 of
    # benchmarks/fast_next.py, docs/speed-log.md); the shipped `fast` model predates it (crop 0)
    crop=2,
    # no max-pool after the first conv, whose forward and backward (a zero-filled gradient
    # scattered through int64 indices) took near a third of the CPU step (round 6); a 5x5
    # kernel at stride 2 reads pixels 2-24 of each axis (k1=6 would read 2-25)
    stride1=2,
)
register_variant(
    "tinynet-fast-cuda",
    "tinynet",
    "the `fast` recipe's network on a GPU: wider, strided first conv, BatchNorm",
    c1=32,
    c2=64,
    stride1=2,
    batchnorm=True,
)
