"""FinetuneConfig's anchor (L2-SP), interpolate (WiSE-FT) and layers, on short real fine-tunes."""

from __future__ import annotations

import pytest
import torch

from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.runs import load_model
from mnistlab.synth.writers import Writer, write_digits
from mnistlab.train.personal import FinetuneConfig, adapt

# a writer far from MNIST's hand, so a few steps move the weights
WRITER = Writer(slant=-0.5, width=0.6, pen=3, top=0.7, habits=("one_flag", "seven_bar"))
SHORT = {"steps": 12, "batch_size": 64, "person_share": 0.5, "lr": 2e-3}


@pytest.fixture(scope="module")
def base():
    return load_model("sota-cpu")


@pytest.fixture(scope="module")
def fit(splits):
    val = splits["val"]
    index = torch.cat([(val.labels == c).nonzero().flatten()[:3] for c in range(10)])
    pixels = write_digits(WRITER, val.images[index].numpy(), val.labels[index].numpy(), 0)
    return Split(torch.from_numpy(pixels), val.labels[index])


def moves(base, fit, splits, **options) -> dict[str, float]:
    """How far each weight moved (L2 norm of the difference) in a short fine-tune."""
    model, meta = base
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    adapted = adapt(model, meta, fit, splits["train"], cfg=FinetuneConfig(**SHORT, **options))
    for name, p in model.named_parameters():  # the base model is left as it was
        assert torch.equal(p, before[name]), name
    return {
        name: float((p.detach() - before[name]).norm())
        for name, p in adapted.model.named_parameters()
    }


def total(move: dict[str, float]) -> float:
    return sum(v**2 for v in move.values()) ** 0.5


@pytest.fixture(scope="module")
def free(base, fit, splits):
    return moves(base, fit, splits)


def test_the_anchor_keeps_the_weights_nearer_the_base_model(base, fit, splits, free):
    anchored = moves(base, fit, splits, anchor=20.0)
    assert total(free) > 0
    assert total(anchored) < 0.8 * total(free)


def test_interpolate_keeps_that_share_of_the_move(base, fit, splits, free):
    half = moves(base, fit, splits, interpolate=0.5)
    assert total(half) == pytest.approx(0.5 * total(free), rel=1e-3)


def test_norms_head_moves_only_the_norms_and_the_last_layer(base, fit, splits):
    moved = moves(base, fit, splits, layers="norms_head")
    model, _ = base
    kinds = {name: type(model.get_submodule(name.rsplit(".", 1)[0])) for name in moved}
    convs = [name for name, kind in kinds.items() if kind is torch.nn.Conv2d]
    norms = [name for name, kind in kinds.items() if issubclass(kind, torch.nn.BatchNorm2d)]
    assert convs and norms
    assert all(moved[name] == 0 for name in convs)
    assert all(moved[name] > 0 for name in norms) and moved["head.3.weight"] > 0


@pytest.mark.parametrize(
    "options", [{"anchor": -1.0}, {"interpolate": 0.0}, {"interpolate": 1.5}, {"layers": "convs"}]
)
def test_bad_options_are_one_line_errors(options):
    with pytest.raises(MnistlabError, match="finetune: "):
        FinetuneConfig.from_dict(options)
