"""Choosing FinetuneConfig's defaults without the test split or the reported writers.

    python -m benchmarks.personal_tune [--set gentle|confirm|restyle|...]
        [--writers 10] [--seed 1000]

Writers from --seed on (benchmarks.personal reports writers 0-19: never these), each writing
30 digits of the validation split's first half to fit on and 300 of its second half to measure
on; MNIST accuracy after adapting is measured on the validation split's second half, plain.
Each candidate config is scored by the mean error after over the writers whose error before is
at least 2% (as the report's target), among those whose largest MNIST drop stays within
MNIST_MARGIN points. The test split is never read. Each set's RULES entry says how it was
judged: its configs are changes to the defaults of the time ({} is that default), and the
bounds a candidate had to meet.

Run on 2026-12-06 (benchmarks/results/personal_tune.txt): no config met the margin (0.15
points, written before the run), so FinetuneConfig's defaults are unchanged (60 steps, lr 5e-4,
person_share 0.25: 0.64x the error, largest drop 0.24 on these writers). The grid shows the
trade: more adaptation (120 steps: 0.54x) costs MNIST more (0.36 points). Nothing in it halved
the error within 0.2 points.

Second run, set "anchoring" (rule written 2026-12-06T09:50:03Z, before any of its scores was
seen; results in benchmarks/results/personal_tune_anchoring.txt): three ways of adapting more
while moving the weights less, each at 60 steps (the cost of the default) and person_share 0.5:
L2-SP (anchor 1.0, lr 1e-3; the strength from the size of a batch's gradients, ~2e-3, against
the default's weight moves, ~2e-3, on one tuning writer, no error looked at), WiSE-FT
(interpolate 0.7 of the way from the base weights, lr 1e-3) and BatchNorm affine + last layer
only (layers norms_head, lr 3e-3). Adoption rule: among the candidates whose largest MNIST drop
is at most MNIST_MARGIN (0.15 points) on these writers, the one with the lowest error ratio
(mean error after / before over the writers whose error before is at least 2%) is adopted as
FinetuneConfig's default, but only if that ratio is below the current default's 0.64x (first
run); otherwise none is adopted and the defaults stay.
Outcome (2026-12-06): L2-SP 0.69x, largest drop 0.16; WiSE-FT 0.67x, 0.12; norms_head 0.77x,
0.20. Only WiSE-FT kept MNIST within 0.15 points, but 0.67x is not below 0.64x: none adopted.

Third run, set "wise" (rule written 2026-12-06T10:03:23Z, before any of its scores was seen;
results in benchmarks/results/personal_tune_wise.txt), on 20 new writers (--seed 2000
--writers 20: neither the first runs' 1000-1009 nor the report's 0-19), because WiSE-FT halved
the MNIST cost of the same fine-tune without interpolation (0.36 -> 0.12 points) at about its
error ratio (0.66x -> 0.67x): the default is run beside three interpolated fine-tunes at 60 steps
(the anchoring run's, one from lr 5e-4, one from a larger person share). Adoption rule: among the
three, those whose largest MNIST drop is at most 0.15 points on these writers; of them, the
lowest error ratio; adopted only if that ratio is at most the default's on the same writers;
otherwise none.
Outcome (2026-12-06): the default 0.53x, largest drop 0.08 points; the three interpolated
0.59x / 0.28, 0.56x / 0.16, 0.56x / 0.16: none within 0.15 points, none adopted, and the
default is better on both counts here. The default's own numbers moved from 0.64x / 0.24
(writers 1000-1009) to 0.53x / 0.08 (writers 2000-2019): which writers are drawn moves both
measures more than any option tried, so the defaults are unchanged.

Fourth run, set "distill" (rule written 2026-12-06T18:16:26Z, before any of its scores was
seen; results in benchmarks/results/personal_tune_distill.txt), on 40 new writers (--seed 6000
--writers 40). Three new options (FinetuneConfig: `distill`, the replayed digits fitted to the
base model's answers, Learning without Forgetting; `schedule` cosine; `elastic`, the person's
digits warped elastically too) were tried first on writers 5000-5039 with a scratch loop
(exploration, not judged: errors after / before over the hard writers 0.63-0.69x for the
default, 0.54-0.56x distilled with a cosine schedule at lr 7e-4-1e-3 and 120 steps, 0.47-0.49x
with elastic 1.5 on top; mean MNIST drop 0.04-0.11 points for the default and the distilled,
0.10-0.12 with elastic). Here the default is run beside two candidates, both 120 steps, lr 7e-4,
cosine, distill 1.0 at temperature 2: without elastic ("distilled") and with elastic 1.5
("distilled+elastic"). Adoption rule: among the two, those whose largest MNIST drop over the 40
writers is at most the default's on the same writers; of them, the lowest error ratio, adopted
as FinetuneConfig's default only if that ratio is below the default's; otherwise none. The cost
(120 distilled steps against 60) is checked after against the 20 s target of `mnistlab
finetune`, alone on the machine.
Outcome (2026-12-06): the default 0.64x, largest MNIST drop 0.20 points; distilled 0.62x / 0.12;
distilled+elastic 0.59x / 0.28. Only "distilled" kept the drop within the default's, and its
ratio is below the default's: adopted (FinetuneConfig: steps 120, lr 7e-4, schedule cosine,
distill 1.0). `mnistlab finetune` on 45 digits then took 18.0-19.0 s (docs/personal.md).
(A correction to the rule's text, which is left as it was committed: the exploration's elastic
runs gave 0.47-0.51x, not 0.47-0.49x; the 0.51x, at lr 1e-3, was left out.)

Fifth run, set "spend" (rule written 2026-12-06T19:09:01Z, before any of its scores was seen;
results in benchmarks/results/personal_tune_spend.txt), on 40 new writers (--seed 7000
--writers 40). Distillation left MNIST room (largest drop 0.12 against 0.20): two candidates
spend some of it on the person, each a change to the new default (distilled, 120 steps, lr
7e-4, cosine): lr 1e-3, and elastic 0.75 (half the warp that cost 0.28 points). Adoption rule:
among the two, those whose largest MNIST drop on these writers is at most MNIST_MARGIN (0.15
points, the first runs' margin); of them the lowest error ratio, adopted only if below the new
default's ratio on the same writers; otherwise none.
Outcome (2026-12-06): the default 0.74x, largest drop 0.16 points; lr 1e-3 0.74x / 0.16;
elastic 0.75 0.69x / 0.24. None within 0.15 points: none adopted. The same default measured
0.62x / 0.12 on writers 6000-6039: the writer sample again moves it more than any option.

Sixth run, set "restyle" (rule written 2026-12-06T20:42:14Z, before any of its scores was seen;
results in benchmarks/results/personal_tune_restyle.txt), on 40 new writers (--seed 8000
--writers 40). A new option, FinetuneConfig.restyle: a share of the replayed MNIST digits
redrawn in the person's style (lean, width and height measured from the moments of their digits
against MNIST's same classes: mnistlab.train.style), the model fitted on them to the base
model's answers for the digits as they were. Explored first on writers 5000-5019 with a scratch
loop (not judged): the default 0.60x the error over the hard writers, largest MNIST drop 0.16
points (val half); restyle 0.25-0.5 at lr 7e-4: 0.44-0.48x, 0.20-0.24 points; restyle 0.5 at lr
5e-4: 0.43x, 0.20 points. Here the default is run beside two candidates, changes to it: restyle
0.5, and restyle 0.5 at lr 5e-4. Adoption rule: among the two, those whose largest MNIST drop
on these writers is at most 0.2 points (the target itself: the last run's default measured 0.16
against the earlier margin of 0.15, and the reported writers on the test split judge the target
after); of them the lowest error ratio, adopted only if below the default's ratio on the same
writers; otherwise none.
Outcome (2026-12-06): the default 0.63x, largest drop 0.12 points; restyle 0.5 0.45x / 0.24;
restyle 0.5 at lr 5e-4 0.46x / 0.20. The printed verdict was "none met the rule": the 0.20 is
10 of 5,000 digits, which floating point made 0.20000000000000018, above 0.2. `adopted` now
rounds the drop (to 1e-6) before comparing; judged again, restyle 0.5 at lr 5e-4 meets the
rule and was adopted (FinetuneConfig: restyle 0.5, lr 5e-4).

Seventh run, set "confirm" (rule written 2026-12-06T21:12:23Z, before any of its scores was
seen; results in benchmarks/results/personal_tune_confirm.txt), on 40 new writers (--seed 9000
--writers 40). After the "restyle" run, mnistlab.train.style's measure of the lean was
corrected: widening by w and heightening by h scale the lean MNIST's own digits already have by
w / h, which the first measure took for the person's lean (a redrawn lean of -0.25 at 1.15x the
width and 0.9x the height read as -0.18; now -0.21, the rest the test sample's own lean). The
adopted config was chosen with the first measure, so it is run again here, with the corrected
one, beside the config before restyling (distilled, lr 7e-4, restyle 0) on writers no choice
has seen. Rule: restyle 0.5 at lr 5e-4 stays the default if its largest MNIST drop on these
writers is at most 0.2 points and its error ratio is below that of the config before restyling;
otherwise FinetuneConfig goes back to restyle 0 and lr 7e-4.
Outcome (2026-12-06): without restyling 0.57x, largest drop 0.20 points; restyle 0.5 at lr 5e-4
0.48x / 0.24. The drop is above 0.2: the rule sends FinetuneConfig back to restyle 0, lr 7e-4.

Eighth run, set "gentle" (rule written 2026-12-06T21:40:15Z, before any of its scores was seen;
results in benchmarks/results/personal_tune_gentle.txt), on 40 new writers (--seed 10000
--writers 40). Restyling adapts more but cost MNIST up to 0.24 points; two gentler restyled
fine-tunes were explored first on writers 5000-5019 through the library's adapt (scratch loop,
not judged; error ratio over the 11 hard writers, MNIST drop mean and largest, val half):
restyle 0.5 at lr 5e-4 0.45x, 0.098 / 0.20; at lr 3e-4 0.46x, 0.074 / 0.16; at lr 5e-4 with
person share 0.15 0.47x, 0.064 / 0.16; at lr 5e-4 interpolated 0.8 (WiSE-FT) 0.51x, 0.082 /
0.20. Here the default (restyle 0, lr 7e-4) is run beside the two gentlest: restyle 0.5 at lr
3e-4, and restyle 0.5 at lr 5e-4 with person share 0.15. Rule: among the two, those whose
largest MNIST drop on these writers is at most 0.2 points; of them the lowest error ratio,
adopted as FinetuneConfig's default only if below the default's ratio on the same writers;
otherwise none, and restyle stays off.
Outcome (2026-12-06): the default 0.72x, largest drop 0.12 points; restyle 0.5 at lr 3e-4 0.59x /
0.16; restyle 0.5 at lr 5e-4 with person share 0.15 0.60x / 0.16. Both within 0.2 points;
restyle 0.5 at lr 3e-4 has the lowest ratio, below the default's: adopted (FinetuneConfig:
restyle 0.5, lr 3e-4).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

import torch

from benchmarks.personal import HARD, per_class, writer_digits
from mnistlab.data.splits import Split, load_splits
from mnistlab.evaluate import accuracy
from mnistlab.runs import load_model
from mnistlab.synth.writers import Writer
from mnistlab.system import header
from mnistlab.train.personal import FinetuneConfig, adapt

GRID = {"steps": (60, 120), "lr": (5e-4, 1e-3), "person_share": (0.25, 0.5)}
SETS = {
    "grid": [dict(zip(GRID, v, strict=True)) for v in itertools.product(*GRID.values())],
    "anchoring": [
        {"person_share": 0.5, "lr": 1e-3, "anchor": 1.0},
        {"person_share": 0.5, "lr": 1e-3, "interpolate": 0.7},
        {"person_share": 0.5, "lr": 3e-3, "layers": "norms_head"},
    ],
    "wise": [
        {},
        {"person_share": 0.5, "lr": 1e-3, "interpolate": 0.7},
        {"person_share": 0.5, "lr": 5e-4, "interpolate": 0.8},
        {"person_share": 0.75, "lr": 1e-3, "interpolate": 0.6},
    ],
    "spend": [
        {},
        {"lr": 1e-3},
        {"elastic": 0.75},
    ],
    "restyle": [
        {},
        {"restyle": 0.5},
        {"restyle": 0.5, "lr": 5e-4},
    ],
    "confirm": [{}, {"restyle": 0.5, "lr": 5e-4}],
    "gentle": [
        {},
        {"restyle": 0.5, "lr": 3e-4},
        {"restyle": 0.5, "lr": 5e-4, "person_share": 0.15},
    ],
    "distill": [
        {},
        {"steps": 120, "lr": 7e-4, "schedule": "cosine", "distill": 1.0},
        {"steps": 120, "lr": 7e-4, "schedule": "cosine", "distill": 1.0, "elastic": 1.5},
    ],
}
MNIST_MARGIN = 0.15  # points, under the target's 0.2
# FinetuneConfig's defaults when the first sets were written and run (before the "distill" run
# changed them): their configs are changes to these, so a rerun repeats what was judged
EARLIER = {"steps": 60, "lr": 5e-4, "schedule": "constant", "distill": 0.0, "restyle": 0.0}
# and before the "gentle" run changed them (the distilled defaults, without restyling)
DISTILLED = {"lr": 7e-4, "restyle": 0.0}
DEFAULT = "the set's default"  # a rule's bound taken from the set's {} on the same writers


@dataclass(frozen=True)
class Rule:
    """How a set's candidates were judged: each config a change to `base`; adopted when its
    largest MNIST drop is at most `margin` points and its error ratio below `bar` (None: no
    bar; DEFAULT: the set's own default's numbers), the lowest ratio of those."""

    base: dict[str, Any] = field(default_factory=lambda: dict(EARLIER))
    margin: float | str = MNIST_MARGIN
    bar: float | str | None = None


RULES = {
    "grid": Rule(),
    "anchoring": Rule(),
    "wise": Rule(),
    "distill": Rule(margin=DEFAULT, bar=DEFAULT),
    "spend": Rule(base=DISTILLED, bar=DEFAULT),
    "restyle": Rule(base=DISTILLED, margin=0.2, bar=DEFAULT),
    "confirm": Rule(base=DISTILLED, margin=0.2, bar=DEFAULT),
    "gentle": Rule(base=DISTILLED, margin=0.2, bar=DEFAULT),
}


def halves(split: Split) -> tuple[Split, Split]:
    half = len(split) // 2
    return Split(split.images[:half], split.labels[:half]), Split(
        split.images[half:], split.labels[half:]
    )


def adopted(rule: Rule, results: list[tuple[dict, float, float]]) -> str:
    """The line naming the candidate `rule` adopts from `results`, or the best that did not."""
    default = next(((r, w) for v, r, w in results if not v), (None, None))
    margin = default[1] if rule.margin == DEFAULT else rule.margin
    bar = default[0] if rule.bar == DEFAULT else rule.bar
    # drops are whole digits of 5,000 (0.02 points each): rounded, so that 10 digits, 0.2 points
    # in decimal but 0.20000000000000018 in floating point, is "at most 0.2"
    scored = [
        (bool(v) and round(w, 6) <= margin and (bar is None or r < bar), -r, str(v))
        for v, r, w in results
    ]
    ok, _, best = max(scored)
    return f"best: {best}" + ("" if ok else " (none met the rule)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=SETS, default="anchoring")
    parser.add_argument("--model", default="sota-cpu")
    parser.add_argument("--writers", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    splits = load_splits("mnist", args.data_dir, download=False)
    first, second = halves(splits["val"])
    model, meta = load_model(args.model)
    base = accuracy(model, second, meta.normalization)
    print(f"{header('cpu')} | base val-half accuracy {100 * base:.2f}%")
    writers = []
    for i in range(args.writers):
        writer = Writer.random(args.seed + i)
        fit = writer_digits(writer, first, per_class(first.labels, 30, i), i)
        test = writer_digits(writer, second, torch.arange(300 * i, 300 * (i + 1)) % len(second), i)
        writers.append((fit, test))
    rule = RULES[args.set]
    results = []  # (values, error ratio, largest MNIST drop)
    for values in SETS[args.set]:
        cfg = FinetuneConfig(**(rule.base | values))
        rows, seconds = [], []
        for fit, test in writers:
            adapted = adapt(model, meta, fit, splits["train"], test, cfg)
            drop = 100 * (base - accuracy(adapted.model, second, meta.normalization))
            rows.append((1 - adapted.held_out_before, 1 - adapted.held_out_after, drop))
            seconds.append(adapted.seconds)
        hard = [r for r in rows if r[0] >= HARD]
        before = statistics.fmean(r[0] for r in hard) if hard else 0.0
        after = statistics.fmean(r[1] for r in hard) if hard else 0.0
        worst = max(r[2] for r in rows)
        ratio = after / before if before else 0.0
        results.append((values, ratio, worst))
        print(
            f"{values}: hard writers {len(hard)}, error "
            f"{100 * before:.2f}% -> {100 * after:.2f}% ({ratio:.2f}x), "
            f"largest MNIST drop {worst:.2f} points (adapt {statistics.fmean(seconds):.0f} s, "
            "shared machine)",
            flush=True,
        )
    print(adopted(rule, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
