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


CONV3 = 6  # LeNet5.net's index of conv3, whose input is (B, 16, 5, 5)


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
        # A loop, not self.net[:6] and self.net[7:]: slicing builds two new Sequentials per
        # call, which cost more than the whole forward pass of one served digit.
        for index, layer in enumerate(self.net):
            if index == CONV3:
                # conv3's 5x5 kernel covers its whole 5x5 input, so it is one matrix product;
                # computed as one, a training step on a 2-core CPU is ~10% faster than through
                # oneDNN's convolution (docs/speed-log.md). Same weights, same result up to
                # rounding.
                x = F.linear(x.flatten(1), layer.weight.flatten(1), layer.bias)  # (B, 120)
            else:
                x = layer(x)
        return x


# The tutorial's attribute names -> ours, per model (its layers, in its own order).
TUTORIAL_KEYS: dict[str, dict[str, str]] = {
    "mlp": {"layer1": "net.1", "layer2": "net.3"},
    "cnn": {"conv": "net.0", "fc": "net.5", "output": "net.7"},
    "lenet5": {
        "conv1": "net.0",
        "conv2": "net.3",
        "conv3": "net.6",
        "fc1": "net.9",
        "fc2": "net.11",
    },
}
# What each tutorial model was trained on: the MLP on pixel/255, the CNNs on pixel/255/128.
TUTORIAL_NORMALIZATION = {"mlp": "unit", "cnn": "tutorial", "lenet5": "tutorial"}


def from_tutorial_state_dict(state_dict: dict[str, torch.Tensor], name: str | None = None):
    """(model, normalization) from a state_dict saved from the tutorial's own classes
    (`conv1.weight`, ..., `fc2.bias`); `name` (mlp, cnn, lenet5) is found from the keys if None.

    The normalization is the one the tutorial trained with; pass it to evaluation or to
    `Predictor(model, {"normalization": ...})`.
    """
    from mnistlab.errors import MnistlabError
    from mnistlab.models.registry import create_model

    prefixes = {key.split(".", 1)[0] for key in state_dict}
    if name is None:
        matches = [n for n, keys in TUTORIAL_KEYS.items() if set(keys) == prefixes]
        if len(matches) != 1:
            raise MnistlabError(
                f"not a tutorial state_dict (layers {', '.join(sorted(prefixes))}); the tutorial's "
                "are " + "; ".join(f"{n}: {', '.join(k)}" for n, k in TUTORIAL_KEYS.items())
            )
        name = matches[0]
    mapping = TUTORIAL_KEYS[name]
    unknown = prefixes - set(mapping)
    if unknown:
        raise MnistlabError(f"{name}: unexpected layers {', '.join(sorted(unknown))}")
    renamed = {
        mapping[k.split(".", 1)[0]] + "." + k.split(".", 1)[1]: v for k, v in state_dict.items()
    }
    model = create_model(name)
    model.load_state_dict(renamed, strict=True)
    return model.eval(), TUTORIAL_NORMALIZATION[name]
