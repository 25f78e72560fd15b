"""A personal model: a trained model adapted to one person's digits (a few dozen) in seconds.

The person's digits are mixed with replayed MNIST training digits in every batch and the
model is trained a few dozen steps at a small learning rate by the ordinary engine
(train_epochs), so it learns the person's slant, pen and habits without forgetting MNIST.
Before any training the person's folder is split, by class and a fixed seed, into digits to
fit and digits held out, and the report gives accuracy on the held-out ones before and after.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.evaluate import accuracy
from mnistlab.runs.meta import RunMeta
from mnistlab.train.config import TrainConfig, check_fields
from mnistlab.train.engine import train_epochs

LAYERS = ("all", "norms_head")


@dataclass(frozen=True)
class FinetuneConfig:
    """How a model is adapted; `from_dict` rejects unknown keys by name."""

    steps: int = 60  # optimizer steps in all
    batch_size: int = 128  # digits per step, the person's and MNIST's together
    # of each batch: the person's digits (augmented), the rest MNIST; benchmarks/personal_tune.py
    # found nothing better within the MNIST budget
    person_share: float = 0.25
    lr: float = 5e-4  # Adam: small, so MNIST is not forgotten
    held_out: float = 0.3  # of a folder's digits, per class, kept out of fitting to report on
    seed: int = 0  # the split of the folder, the replayed digits, the batches
    # the person's few digits seen many times: small random moves keep them from being learnt
    # pixel by pixel (and the replayed MNIST digits get the same)
    augment: dict[str, Any] = field(
        default_factory=lambda: {"rotate": 8.0, "scale": 0.1, "shear": 6.0, "translate": 2.0}
    )
    # "fast": temperature and the logits rule refitted (seconds); "full": the whole calibration
    # of a training run, feature bank included (~20 s more)
    calibration: str = "fast"
    # L2-SP (Li et al. 2018): (anchor / 2) * ||w - w_base||^2 added to the loss, so the
    # weights move only as far from the base model's as the person's digits are worth
    anchor: float = 0.0
    # WiSE-FT (Wortsman et al. 2022): the weights kept are w_base + interpolate * (w - w_base)
    interpolate: float = 1.0
    # which weights move: "all", or "norms_head" (BatchNorm/LayerNorm affine and the last
    # Linear layer; the convolutions stay the base model's)
    layers: str = "all"

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2:
            raise MnistlabError("finetune: need steps >= 1 and batch_size >= 2")
        if not 0 < self.person_share < 1 or not 0 < self.held_out < 1:
            raise MnistlabError("finetune: person_share and held_out must be in (0, 1)")
        if not self.lr > 0:
            raise MnistlabError(f"finetune: learning rate must be positive, got {self.lr}")
        if self.calibration not in ("fast", "full", "none"):
            raise MnistlabError("finetune: calibration is one of fast, full, none")
        if not self.anchor >= 0 or not 0 < self.interpolate <= 1:
            raise MnistlabError("finetune: need anchor >= 0 and interpolate in (0, 1]")
        if self.layers not in LAYERS:
            raise MnistlabError(f"finetune: layers is one of {', '.join(LAYERS)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        check_fields(cls, data, "finetune config")
        return cls(**data)


@dataclass
class Adapted:
    """A model adapted in memory, and how it does."""

    model: nn.Module  # eval mode, CPU
    train: TrainConfig  # what the engine ran
    fit_digits: int
    held_out_before: float | None  # accuracy on the held-out digits (None: none held out)
    held_out_after: float | None
    seconds: float


def train_config(meta: RunMeta, cfg: FinetuneConfig) -> TrainConfig:
    """The engine's config: the base model's network and normalisation, one pass over the
    mixed set (mixed_split: cfg.steps batches), constant small Adam steps, no EMA."""
    base = meta.train or {}
    return TrainConfig(
        model=meta.model,
        model_config=dict(meta.config),
        dataset=meta.dataset,
        epochs=1,
        batch_size=cfg.batch_size,
        optimizer="adam",
        lr=cfg.lr,
        label_smoothing=float(base.get("label_smoothing", 0.0)),
        normalization=meta.normalization,
        augment=dict(cfg.augment) or None,
        seed=cfg.seed,
        channels_last=bool(base.get("channels_last", True)),
        amp=False,
        recipe="finetune",
    )


def mixed_split(person: Split, mnist: Split, cfg: FinetuneConfig) -> Split:
    """The person's digits repeated, and replayed MNIST digits, in the shares of cfg: one epoch
    of it is cfg.steps batches."""
    total = cfg.steps * cfg.batch_size
    mine = round(total * cfg.person_share)
    repeat = torch.arange(mine) % len(person)
    generator = torch.Generator().manual_seed(cfg.seed)
    replay = torch.randperm(len(mnist), generator=generator)[: total - mine]
    images = torch.cat([person.images[repeat], mnist.images[replay]])
    labels = torch.cat([person.labels[repeat], mnist.labels[replay]])
    return Split(images, labels)


def adapt(
    model: nn.Module,
    meta: RunMeta,
    fit: Split,
    mnist_train: Split,
    held_out: Split | None = None,
    cfg: FinetuneConfig | None = None,
) -> Adapted:
    """Fine-tune a copy of `model` (its record `meta`) on the person's `fit` digits mixed with
    `mnist_train`; accuracy on `held_out` before and after. `model` itself is left as it was."""
    import copy

    cfg = cfg or FinetuneConfig()
    if meta.is_ensemble:
        raise MnistlabError("finetune adapts a single model, not an ensemble; give one member")
    if not len(fit):
        raise MnistlabError("finetune: no digits to fit")
    device = torch.device("cpu")
    before = _accuracy(model, held_out, meta.normalization)
    mixed = mixed_split(fit, mnist_train, cfg)
    train = train_config(meta, cfg)
    empty = Split(torch.empty(0, 28, 28, dtype=torch.uint8), torch.empty(0, dtype=torch.int64))
    start = time.perf_counter()
    net = copy.deepcopy(model)
    base = {name: p.detach().clone() for name, p in net.named_parameters()}
    freeze_all_but(net, cfg.layers)
    hooks = anchor_to(net, base, cfg.anchor)
    state = train_epochs(train, {"train": mixed, "val": empty}, device, model=FrozenNorms(net))
    for hook in hooks:
        hook.remove()
    tuned = state.model.net.eval()
    interpolate_to(tuned, base, cfg.interpolate)
    tuned.requires_grad_(True)  # as the base model's, whatever `layers` froze
    seconds = time.perf_counter() - start
    after = _accuracy(tuned, held_out, meta.normalization)
    return Adapted(tuned, train, len(fit), before, after, seconds)


class FrozenNorms(nn.Module):
    """`net` training with its BatchNorm layers kept in eval mode: their running statistics,
    gathered on all of MNIST, are not moved by a few dozen mixed batches (which cost MNIST
    accuracy when they were)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def train(self, mode: bool = True) -> FrozenNorms:
        super().train(mode)
        for module in self.net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


def freeze_all_but(net: nn.Module, layers: str) -> None:
    """Keep the weights that `layers` ("all", "norms_head") does not name out of training."""
    if layers == "all":
        return
    net.requires_grad_(False)
    norms = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    for module in net.modules():
        if isinstance(module, norms) or (linears and module is linears[-1]):
            module.requires_grad_(True)


def anchor_to(
    net: nn.Module, base: dict[str, torch.Tensor], strength: float
) -> list[torch.utils.hooks.RemovableHandle]:
    """L2-SP's gradient, strength * (w - w_base), added to each trained weight's gradient
    (hooks, so the engine's loss stays its own); remove the handles after training."""
    if not strength:
        return []
    hooks = []
    for name, param in net.named_parameters():
        if param.requires_grad:
            anchor = base[name]
            pull = lambda grad, p=param, a=anchor: grad + strength * (p.detach() - a)  # noqa: E731
            hooks.append(param.register_hook(pull))
    return hooks


@torch.no_grad()
def interpolate_to(net: nn.Module, base: dict[str, torch.Tensor], share: float) -> None:
    """WiSE-FT: each weight moved back to base + share * (weight - base)."""
    if share == 1:
        return
    for name, param in net.named_parameters():
        param.copy_(torch.lerp(base[name].to(param.dtype), param, share))


def _accuracy(model: nn.Module, split: Split | None, normalization: str) -> float | None:
    if split is None or not len(split):
        return None
    return accuracy(model, split, normalization, "cpu")


__all__ = [
    "Adapted",
    "FinetuneConfig",
    "FrozenNorms",
    "adapt",
    "anchor_to",
    "freeze_all_but",
    "interpolate_to",
    "mixed_split",
    "train_config",
]
