"""Peer MNIST trainers, re-implemented from their published recipes, for side-by-side timing.

Each runner trains one seed and returns (seconds per epoch boundary, test accuracy per epoch),
timing everything its recipe does per epoch, after the data is loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.data.splits import Split
from mnistlab.models import create_model
from mnistlab.train.engine import synchronize


@dataclass
class PeerRun:
    seconds: list[float]  # cumulative training time at the end of each epoch
    accuracy: list[float]  # test accuracy after each epoch


class ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x))))  # (B, 64, 24, 24)
        x = self.dropout1(F.max_pool2d(x, 2)).flatten(1)  # (B, 9216)
        return self.fc2(self.dropout2(F.relu(self.fc1(x))))


class TuomasoNet(nn.Module):
    """tuomaso/train_mnist_fast, final step."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 24, 5),
            nn.MaxPool2d(2),
            nn.ReLU(),  # (B, 24, 12, 12)
            nn.Conv2d(24, 32, 3),
            nn.MaxPool2d(2),
            nn.ReLU(),  # (B, 32, 5, 5)
            nn.Flatten(),
            nn.Linear(800, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _ToTensorStyle:
    """What torchvision's ToTensor does to a mode-"L" PIL image, step by step: an HWC uint8
    tensor from the image's bytes, moved to CHW, then float in 0..1."""

    def __call__(self, image) -> torch.Tensor:
        pixels = torch.from_numpy(np.array(image, np.uint8, copy=True))
        pixels = pixels.view(image.size[1], image.size[0], len(image.getbands()))
        pixels = pixels.permute((2, 0, 1)).contiguous()
        return pixels.to(dtype=torch.get_default_dtype()).div(255)


class _NormalizeStyle(nn.Module):
    """What torchvision's Normalize (a Module) does to each image when not in place: a copy,
    the statistics turned into tensors on every call, a check for a zero std, then sub/div."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.mean, self.std = (mean,), (std,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point() or x.ndim < 3:
            raise TypeError("expected a float image tensor (..., C, H, W)")
        x = x.clone()
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)
        std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device)
        if (std == 0).any():
            raise ValueError("std is zero")
        return x.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))


class PerSampleDataset(torch.utils.data.Dataset):
    """torchvision's MNIST with transform=Compose([ToTensor(), Normalize(mean, std)]), re-done
    without torchvision (which does not import beside this torch): each image becomes a PIL
    image, then goes through the two transforms one at a time, as the tutorial's loaders do.
    Without Pillow (not in the core install) the PIL step is skipped."""

    def __init__(self, split: Split, mean: float, std: float):
        self.split = split
        try:
            from PIL import Image
        except ModuleNotFoundError:
            Image = None
        self.image_module = Image
        self.transforms = [_ToTensorStyle(), _NormalizeStyle(mean, std)]

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        image, target = self.split.images[i], int(self.split.labels[i])
        if self.image_module is not None:
            image = self.image_module.fromarray(image.numpy(), mode="L")
        else:
            image = _ImageStandIn(image.numpy())
        for transform in self.transforms:
            image = transform(image)
        return image, target


class _ImageStandIn(np.ndarray):
    """Enough of a mode-"L" PIL image (size, getbands) for _ToTensorStyle, without Pillow."""

    def __new__(cls, array: np.ndarray):
        return np.asarray(array).view(cls)

    @property
    def size(self) -> tuple[int, int]:
        return self.shape[1], self.shape[0]

    def getbands(self) -> tuple[str]:
        return ("L",)


@torch.no_grad()
def _loader_accuracy(model: nn.Module, loader, device) -> float:
    model.eval()
    correct = total = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    model.train()
    return correct / total


@dataclass(frozen=True)
class LoaderRecipe:
    """A peer that feeds a per-sample DataLoader and tests after every epoch."""

    build_model: Callable[[], nn.Module]
    build_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer]
    build_scheduler: Callable[[torch.optim.Optimizer], Any] | None
    batch_size: int
    test_batch_size: int
    mean: float
    std: float


# pytorch/examples mnist/main.py: Adadelta lr 1.0, StepLR gamma 0.7, batch 64
EXAMPLES = LoaderRecipe(
    ExamplesNet,
    lambda params: torch.optim.Adadelta(params, lr=1.0),
    lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7),
    batch_size=64,
    test_batch_size=1000,
    mean=0.1307,
    std=0.3081,
)

# the tutorial: LeNet5, Adam lr 1e-3, batch 100, pixel/255/128
TUTORIAL = LoaderRecipe(
    lambda: create_model("lenet5"),
    lambda params: torch.optim.Adam(params),
    None,
    batch_size=100,
    test_batch_size=100,
    mean=0.0,
    std=128.0,
)


def run_loader_recipe(
    recipe: LoaderRecipe,
    train: Split,
    test: Split,
    seed: int,
    device: torch.device,
    epochs: int,
    max_steps: int | None = None,
) -> PeerRun:
    torch.manual_seed(seed)
    model = recipe.build_model().to(device)
    optimizer = recipe.build_optimizer(list(model.parameters()))
    scheduler = recipe.build_scheduler(optimizer) if recipe.build_scheduler else None
    train_loader = torch.utils.data.DataLoader(
        PerSampleDataset(train, recipe.mean, recipe.std), batch_size=recipe.batch_size, shuffle=True
    )
    test_loader = torch.utils.data.DataLoader(
        PerSampleDataset(test, recipe.mean, recipe.std), batch_size=recipe.test_batch_size
    )
    return _epochs(
        model,
        optimizer,
        scheduler,
        train_loader,
        test_loader,
        device,
        epochs,
        max_steps,
        F.cross_entropy,
    )


def _epochs(
    model,
    optimizer,
    scheduler,
    train_loader,
    test_loader,
    device,
    epochs,
    max_steps,
    loss_fn: Callable,
    stop_at: float | None = 0.99,
) -> PeerRun:
    seconds, accuracy, elapsed = [], [], 0.0
    for _ in range(epochs):
        synchronize(device)
        start = time.perf_counter()
        model.train()
        for step, (x, y) in enumerate(train_loader):
            if max_steps is not None and step >= max_steps:
                break
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        acc = _loader_accuracy(model, test_loader, device)
        synchronize(device)
        elapsed += time.perf_counter() - start
        seconds.append(elapsed)
        accuracy.append(acc)
        if stop_at is not None and acc >= stop_at:
            break  # the time to the target is known; later epochs cannot change it
    return PeerRun(seconds, accuracy)


def run_tuomaso(
    train: Split, test: Split, seed: int, device: torch.device, max_steps: int | None = None
) -> PeerRun:
    """Adam lr 0.01 betas (0.7, 0.9), OneCycleLR over one epoch, batch 256, data normalised
    on the device beforehand, no evaluation during the epoch."""
    torch.manual_seed(seed)
    x_all = train.images.to(device).unsqueeze(1).float().div(255).sub(0.1307).div(0.3081)
    y_all = train.labels.to(device)
    model = TuomasoNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.7, 0.9))
    batch = 256
    steps = -(-len(y_all) // batch) if max_steps is None else max_steps
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=steps)
    synchronize(device)
    start = time.perf_counter()
    order = torch.randperm(len(y_all), device=device)
    for step in range(steps):
        index = order[step * batch : (step + 1) * batch]
        optimizer.zero_grad()
        F.cross_entropy(model(x_all[index]), y_all[index]).backward()
        optimizer.step()
        scheduler.step()
    synchronize(device)
    elapsed = time.perf_counter() - start
    x_test = test.images.to(device).unsqueeze(1).float().div(255).sub(0.1307).div(0.3081)
    with torch.no_grad():
        model.eval()
        acc = float((model(x_test).argmax(1) == test.labels.to(device)).float().mean())
    return PeerRun([elapsed], [acc])
