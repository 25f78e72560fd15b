"""The three models of the PyTorch tutorial, layer for layer, with their tutorial recipes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.models.layers import Tanh
from mnistlab.models.registry import register_model


@dataclass
class MLPConfig:
    hidden: int = 784


@register_model(
    "mlp",
    MLPConfig,
    recipe=dict(optimizer="sgd", lr=0.01, batch_size=100, epochs=10),
    description="tutorial baseline: one hidden layer of 784 ReLU units",
)
class MLP(nn.Module):
    def __init__(self, config: MLPConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),  # (B, 784)
            nn.Linear(784, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class CNNConfig:
    channels: int = 10
    hidden: int = 128
    dropout: float = 0.2


@register_model(
    "cnn",
    CNNConfig,
    recipe=dict(optimizer="adam", lr=1e-3, batch_size=100, epochs=10),
    description="tutorial simple CNN: one 5x5 conv, 2x2 max-pool with stride 1",
)
class SimpleCNN(nn.Module):
    def __init__(self, config: CNNConfig):
        super().__init__()
        c = config.channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, kernel_size=5, padding=2),  # (B, c, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=1),  # (B, c, 27, 27)
            nn.Dropout(config.dropout),
            nn.Flatten(),
            nn.Linear(27 * 27 * c, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class LeNet5Config:
    pass


@register_model(
    "lenet5",
    LeNet5Config,
    recipe=dict(optimizer="adam", lr=1e-3, batch_size=100, epochs=10),
    description="LeNet-5 (tanh, average pooling), as in the tutorial",
)
class LeNet5(nn.Module):
    def __init__(self, config: LeNet5Config | None = None):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),  # (B, 6, 28, 28)
            Tanh(),
            nn.AvgPool2d(2, 2),  # (B, 6, 14, 14)
            nn.Conv2d(6, 16, kernel_size=5),  # (B, 16, 10, 10)
            Tanh(),
            nn.AvgPool2d(2, 2),  # (B, 16, 5, 5)
            nn.Conv2d(16, 120, kernel_size=5),  # (B, 120, 1, 1)
            Tanh(),
            nn.Flatten(),
            nn.Linear(120, 84),
            Tanh(),
            nn.Linear(84, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.net[:6](x)  # (B, 16, 5, 5)
        conv3 = self.net[6]
        # conv3's 5x5 kernel covers its whole 5x5 input, so it is one matrix product; computed
        # as one, a training step on a 2-core CPU is ~10% faster than through oneDNN's
        # convolution (docs/speed-log.md). Same weights, same result up to rounding.
        out = F.linear(features.flatten(1), conv3.weight.flatten(1), conv3.bias)  # (B, 120)
        return self.net[7:](out)
