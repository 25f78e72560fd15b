"""A personal model: a trained model adapted to one person's digits (a few dozen) in seconds.

The person's digits are mixed with replayed MNIST training digits in every batch and the
model is trained a few dozen steps at a small learning rate by the ordinary engine
(train_epochs), so it learns the person's slant, pen and habits without forgetting MNIST.
Before any training the person's folder is split, by class and a fixed seed, into digits to
fit and digits held out, and the report gives accuracy on the held-out ones before and after.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.data.augment import AugmentConfig, random_affine
from mnistlab.data.normalize import NORMALIZATIONS
from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.evaluate import accuracy
from mnistlab.runs.meta import RunMeta
from mnistlab.train.config import TrainConfig, check_fields
from mnistlab.train.engine import Callbacks, train_epochs
from mnistlab.train.style import HandStyle, in_style, measure_style

LAYERS = ("all", "norms_head")
SCHEDULES = ("constant", "cosine")
# mixed_split marks each replayed MNIST digit by adding this to its label, so that the
# objective can tell the person's digits from MNIST's after the loader has shuffled them
REPLAYED = 10


@dataclass(frozen=True)
class FinetuneConfig:
    """How a model is adapted; `from_dict` rejects unknown keys by name."""

    # optimizer steps in all: 120 distilled steps on a cosine schedule, chosen by
    # benchmarks/personal_tune.py (set "distill", 40 simulated people: error after / before 0.62x
    # against 0.64x for 60 plain steps at 5e-4, largest MNIST drop 0.12 points against 0.20)
    steps: int = 120
    batch_size: int = 128  # digits per step, the person's and MNIST's together
    # of each batch: the person's digits (augmented), the rest MNIST; benchmarks/personal_tune.py
    # found nothing better within the MNIST budget
    person_share: float = 0.25
    # Adam: small, so MNIST is not forgotten; 3e-4 beside restyling (set "gentle": restyled at
    # 5e-4, the largest MNIST drop was 0.20-0.24 points over two sets of 40 people)
    lr: float = 3e-4
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
    # the learning rate over the steps: "constant", or "cosine" (down to 0: the last steps,
    # small, leave less noise in the weights); a TrainConfig schedule
    schedule: str = "cosine"
    # Replayed MNIST digits fitted to the base model's answers instead of their labels
    # (knowledge distillation, Hinton et al. 2015, as in Learning without Forgetting, Li and
    # Hoiem 2016): weight of the distillation term (0: the labels alone, 1: the base model's
    # answers alone) and its temperature. The base model's whole answer, not only its class,
    # is what keeps the rest of MNIST as it was.
    distill: float = 1.0
    temperature: float = 2.0
    # the person's digits, each seen ~100 times, are also warped elastically by up to this
    # many pixels (0: off) on top of `augment`, so that the few shapes are not learnt by heart
    elastic: float = 0.0
    # of the replayed MNIST digits, the share redrawn in the person's style (train.style: lean,
    # width and height measured from their digits' moments), each fitted to the base model's
    # answer (or label) for the digit as it was: the person's lean learnt on thousands of shapes.
    # 0.5 at lr 3e-4, chosen by benchmarks/personal_tune.py (set "gentle", 40 simulated people):
    # error after / before 0.59x against 0.72x without, largest MNIST drop 0.16 against 0.12
    restyle: float = 0.5

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
        if self.schedule not in SCHEDULES:
            raise MnistlabError(f"finetune: schedule is one of {', '.join(SCHEDULES)}")
        if not 0 <= self.distill <= 1 or not self.temperature > 0 or not self.elastic >= 0:
            raise MnistlabError(
                "finetune: need distill in [0, 1], temperature > 0 and elastic >= 0"
            )
        if not 0 <= self.restyle <= 1:
            raise MnistlabError(f"finetune: restyle must be in [0, 1], got {self.restyle}")

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
    style: HandStyle | None = None  # the person's, measured when cfg.restyle


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
        schedule=cfg.schedule,
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
    of it is cfg.steps batches. A replayed digit's label is its class + REPLAYED."""
    total = cfg.steps * cfg.batch_size
    mine = round(total * cfg.person_share)
    repeat = torch.arange(mine) % len(person)
    generator = torch.Generator().manual_seed(cfg.seed)
    replay = torch.randperm(len(mnist), generator=generator)[: total - mine]
    images = torch.cat([person.images[repeat], mnist.images[replay]])
    labels = torch.cat([person.labels[repeat], mnist.labels[replay] + REPLAYED])
    return Split(images, labels)


def adapt(
    model: nn.Module,
    meta: RunMeta,
    fit: Split,
    mnist_train: Split,
    held_out: Split | None = None,
    cfg: FinetuneConfig | None = None,
    callbacks: Callbacks | Sequence[Callbacks] | None = None,
) -> Adapted:
    """Fine-tune a copy of `model` (its record `meta`) on the person's `fit` digits mixed with
    `mnist_train`; accuracy on `held_out` before and after. `model` itself is left as it was.
    `callbacks` see the engine's steps (a progress bar)."""
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
    teacher = copy.deepcopy(model).eval().requires_grad_(False) if cfg.distill else None
    style = measure_style(fit, mnist_train, cfg.seed) if cfg.restyle else None
    objective = PersonalObjective(teacher, cfg, meta.normalization, style)
    state = train_epochs(
        train,
        {"train": mixed, "val": empty},
        device,
        callbacks,
        model=FrozenNorms(net),
        objective=objective,
    )
    for hook in hooks:
        hook.remove()
    tuned = state.model.net.eval()
    interpolate_to(tuned, base, cfg.interpolate)
    tuned.requires_grad_(True)  # as the base model's, whatever `layers` froze
    seconds = time.perf_counter() - start
    after = _accuracy(tuned, held_out, meta.normalization)
    return Adapted(tuned, train, len(fit), before, after, seconds, style)


class PersonalObjective:
    """A fine-tune batch's loss, the engine's `objective`: cross-entropy on the person's digits
    (warped again elastically when cfg.elastic), and on the replayed MNIST digits (labels +
    REPLAYED) a mix of cross-entropy and distillation from `teacher`, the base model, as cfg
    says; cfg.restyle of the replayed digits are redrawn in `style` for the model, while the
    teacher answers for them as they were. Averaged over the batch's digits, so the shares of
    the batch weigh as before."""

    def __init__(
        self,
        teacher: nn.Module | None,
        cfg: FinetuneConfig,
        normalization: str,
        style: HandStyle | None = None,
    ):
        if cfg.distill and teacher is None:
            raise MnistlabError("finetune: distilling needs the base model as the teacher")
        if cfg.restyle and style is None:
            raise MnistlabError("finetune: restyling needs the person's measured style")
        self.teacher = teacher
        self.style = style
        self.cfg = cfg
        self.scale, self.shift = NORMALIZATIONS[normalization]
        self.warp = AugmentConfig(elastic=cfg.elastic) if cfg.elastic else None

    def __call__(
        self, forward: nn.Module, x: torch.Tensor, y: torch.Tensor, smoothing: float
    ) -> torch.Tensor:
        replayed = y >= REPLAYED
        labels = torch.where(replayed, y - REPLAYED, y)
        plain = x  # what the teacher sees: the restyled digits as they were
        if self.warp is not None and not bool(replayed.all()):
            x = self._warped(x, ~replayed)
        if self.style is not None and self.cfg.restyle and bool(replayed.any()):
            # the first `restyle` share of the replayed rows (the loader shuffled them)
            count = round(self.cfg.restyle * int(replayed.sum()))
            restyled = replayed & (replayed.cumsum(0) <= count)
            x = self._pixelwise(x, restyled, lambda pixels: in_style(pixels, self.style))
        logits = forward(x)
        rows = F.cross_entropy(logits, labels, label_smoothing=smoothing, reduction="none")
        if self.teacher is not None and self.cfg.distill and bool(replayed.any()):
            t = self.cfg.temperature
            with torch.no_grad():
                target = F.softmax(self.teacher(plain[replayed]) / t, dim=1)
            distilled = F.kl_div(
                F.log_softmax(logits[replayed] / t, dim=1), target, reduction="none"
            ).sum(1) * (t * t)  # t^2 keeps its gradients' size as t changes (Hinton et al.)
            mixed = (1 - self.cfg.distill) * rows[replayed] + self.cfg.distill * distilled
            rows = rows.masked_scatter(replayed, mixed)
        return rows.mean()

    def _warped(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self._pixelwise(x, rows, lambda pixels: random_affine(pixels, self.warp))

    def _pixelwise(self, x: torch.Tensor, rows: torch.Tensor, change) -> torch.Tensor:
        """x with the chosen rows changed by `change` in pixel space, 0..1 (warps fill with 0,
        which is paper only before normalisation)."""
        pixels = (x[rows] - self.shift) / (self.scale * 255.0)
        changed = change(pixels) * (self.scale * 255.0) + self.shift
        out = x.clone()
        out[rows] = changed.to(out.dtype)
        return out


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
    "PersonalObjective",
    "adapt",
    "anchor_to",
    "freeze_all_but",
    "interpolate_to",
    "mixed_split",
    "train_config",
]
