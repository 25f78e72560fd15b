"""FinetuneConfig's anchor (L2-SP), interpolate (WiSE-FT), layers, distill, elastic and restyle,
on short real fine-tunes and on the fine-tune's objective itself."""

from __future__ import annotations

import pytest
import torch

from mnistlab.data.normalize import NORMALIZATIONS, normalize
from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.runs import load_model
from mnistlab.synth.writers import Writer, write_digits
from mnistlab.train.personal import REPLAYED, FinetuneConfig, PersonalObjective, adapt
from mnistlab.train.style import HandStyle, in_style

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


def base_disagreement(base, adapted, digits: Split) -> float:
    """KL(base || adapted) over `digits`, in nats per digit: how far the answers moved."""
    model, meta = base
    x = normalize(digits.images.unsqueeze(1), meta.normalization)
    with torch.no_grad():
        p = model(x).log_softmax(1)
        q = adapted(x).log_softmax(1)
    return float((p.exp() * (p - q)).sum(1).mean())


def test_distilling_the_replayed_digits_keeps_mnist_answers_nearer_the_base(base, fit, splits):
    model, meta = base
    mnist = Split(splits["val"].images[-1000:], splits["val"].labels[-1000:])
    moved = {}
    for distill in (0.0, 1.0):
        cfg = FinetuneConfig(**SHORT, distill=distill)
        adapted = adapt(model, meta, fit, splits["train"], cfg=cfg).model
        moved[distill] = base_disagreement(base, adapted, mnist)
    assert moved[0.0] > 0
    assert moved[1.0] < 0.8 * moved[0.0]


class Recorder:
    """A stand-in network: remembers its input and answers with fixed logits."""

    def __init__(self, logits: torch.Tensor):
        self.logits = logits
        self.seen: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return self.logits[: len(x)].clone().requires_grad_(True)


def test_the_objective_warps_only_the_persons_digits_and_distils_only_replayed_ones(splits):
    images = splits["val"].images[:8].unsqueeze(1)
    x = normalize(images, "mnist")
    labels = splits["val"].labels[:8]
    y = labels + torch.tensor([0, 0, 0, 0, REPLAYED, REPLAYED, REPLAYED, REPLAYED])
    logits = torch.randn(8, 10)
    teacher = Recorder(logits[4:])  # the base model answers the replayed digits as the student
    cfg = FinetuneConfig(elastic=2.0, distill=1.0, restyle=0.0)
    student = Recorder(logits)
    loss = PersonalObjective(teacher, cfg, "mnist")(student, x, y, 0.0)
    seen = student.seen[0]
    assert torch.equal(seen[4:], x[4:])  # replayed rows as the loader gave them
    assert all(not torch.equal(seen[i], x[i]) for i in range(4))  # each person's row warped
    assert torch.equal(teacher.seen[0], x[4:])
    # replayed rows fully distilled from a teacher that agrees add nothing: the loss is the
    # person's rows' cross-entropy alone, averaged over all eight rows
    person = torch.nn.functional.cross_entropy(logits[:4], labels[:4], reduction="sum")
    assert float(loss.detach()) == pytest.approx(float(person) / 8, rel=1e-5)


def test_the_objective_restyles_a_share_of_the_replayed_digits_and_the_teacher_sees_them_plain(
    splits,
):
    x = normalize(splits["val"].images[:8].unsqueeze(1), "mnist")
    y = splits["val"].labels[:8] + torch.tensor(
        [0, REPLAYED, 0, REPLAYED, REPLAYED, 0, REPLAYED, 0]
    )
    logits = torch.randn(8, 10)
    teacher, student = Recorder(logits[:4]), Recorder(logits)
    style = HandStyle(lean=0.4, width=0.7, height=1.0)
    cfg = FinetuneConfig(restyle=0.5, distill=1.0)
    PersonalObjective(teacher, cfg, "mnist", style)(student, x, y, 0.0)
    seen = student.seen[0]
    replayed = [1, 3, 4, 6]
    assert torch.equal(teacher.seen[0], x[replayed])  # the teacher answers for the plain digits
    for row in (0, 2, 5, 7, 4, 6):  # the person's rows, and the second half of the replayed
        assert torch.equal(seen[row], x[row])
    for row in (1, 3):  # the first half of the replayed rows, redrawn in the style
        scale, shift = NORMALIZATIONS["mnist"]
        pixels = (x[row : row + 1] - shift) / (scale * 255.0)
        expected = normalize(in_style(pixels, style) * 255.0, "mnist")
        assert torch.allclose(seen[row], expected[0], atol=1e-4)


def test_restyling_needs_the_persons_style():
    with pytest.raises(MnistlabError, match="style"):
        PersonalObjective(None, FinetuneConfig(restyle=0.5, distill=0.0), "mnist")


def test_adapt_measures_the_persons_style_when_restyling(base, fit, splits):
    model, meta = base
    cfg = FinetuneConfig(**SHORT, restyle=0.5)
    adapted = adapt(model, meta, fit, splits["train"], cfg=cfg)
    assert adapted.style is not None
    assert adapted.style.lean < -0.2 and adapted.style.width < 0.85  # WRITER: left, narrow
    plain = adapt(model, meta, fit, splits["train"], cfg=FinetuneConfig(**SHORT, restyle=0.0))
    assert plain.style is None


@pytest.mark.parametrize(
    "options",
    [
        {"anchor": -1.0},
        {"interpolate": 0.0},
        {"interpolate": 1.5},
        {"layers": "convs"},
        {"distill": 1.5},
        {"temperature": 0.0},
        {"elastic": -1.0},
        {"schedule": "onecycle"},
        {"restyle": 1.5},
        {"restyle": -0.1},
    ],
)
def test_bad_options_are_one_line_errors(options):
    with pytest.raises(MnistlabError, match="finetune: "):
        FinetuneConfig.from_dict(options)
