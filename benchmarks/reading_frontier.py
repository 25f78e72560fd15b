"""How far the string rule's evidence can go: the trade between strings sure and wrong and
right strings refused (issue 26), on validation numbers only.

    python -m benchmarks.reading_frontier [--model sota-cpu] [--others DIR,DIR,...] [--write]

The shipped rule (mnistlab.train.calibrate_reading) is fitted on FIT_COUNT numbers of each fit
kind (seed FIT_SEED) with at most 1% of them sure and wrong. Here the same readings are fitted
again with that budget moved, and judged on numbers of every kind from two other seeds (the
check seeds). What it reports:

- *fitted*: the rule fitted at each budget, as calibrate_reading would ship it;
- *hindsight*: the 1% rule's confidence (its weights as fitted), its threshold chosen on the
  check numbers themselves for the fewest right strings refused at a given share sure and
  wrong: no threshold on that confidence can do better on these numbers (a best case, not a
  result);
- *agreement* (with --others, models trained independently, e.g. `mnistlab train --recipe
  sota-cpu --seed 1 --out DIR`): how many misread digits every model reads the same wrong way,
  and the rule fitted again with the models' mean probability as the digit's evidence;
- *as pixels*: each misread digit read again as the plain MNIST digit it was written from
  (the model's own error, or lost by the reader), and the model's errors on the plain
  validation digits with the share of them its confidence can refuse;
- *marking*: where the 1% rule puts its "?" in the numbers it refuses.

The test split is not read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._report import update_section
from mnistlab.calibration.rule import string_not_sure
from mnistlab.data.splits import Split, load_splits
from mnistlab.errors import MnistlabError
from mnistlab.inference.predictor import Predictor
from mnistlab.synth.numbers import FIT_NUMBER_KINDS, NUMBER_KINDS, number_picks
from mnistlab.system import header
from mnistlab.train.calibrate_reading import (
    FIT_COUNT,
    FIT_SEED,
    LENGTHS,
    Observed,
    fit_reading_rule,
    judge,
    observed,
    readings,
)

OUT = Path(__file__).parent / "results" / "reading_frontier.json"
BUDGETS = (0.01, 0.015, 0.02, 0.025)
HINDSIGHT = (0.005, 0.01, 0.02)  # shares sure and wrong
AGREE = (0.5, 0.9)  # every model gives the read digit at least this probability
PLAIN_REFUSED = (0.006, 0.02)  # shares of digits: ~3% and ~10% of five-digit strings


@dataclasses.dataclass
class SeedReadings:
    """Readings of one seed: what the rule needs, and each digit's pixels and source (the
    digits read are the characters of each Observed's number: Reading.number joins guesses)."""

    seen: list[Observed]
    pixels: list[np.ndarray]  # per number: (N, 28, 28) uint8, what the model saw
    sources: list[np.ndarray]  # per number: the split's index of each written digit


def record(
    predictor: Predictor, split: Split, kinds: tuple[str, ...], count: int, seed: int
) -> SeedReadings:
    """`count` numbers of each kind from `split` and `seed`, read without the string rule."""
    numbers = SeedReadings([], [], [])
    for kind in kinds:
        picks = number_picks(len(split.labels), kind, count, seed, LENGTHS)
        for chosen, (_, truth, reading) in zip(
            picks, readings(predictor, split, (kind,), count, seed), strict=True
        ):
            numbers.seen.append(observed(kind, truth, reading))
            digits = reading.digits if reading is not None else []
            numbers.pixels.append(
                np.stack([np.asarray(d.pixels, np.uint8) for d in digits])
                if digits
                else np.zeros((0, 28, 28), np.uint8)
            )
            numbers.sources.append(chosen)
    return numbers


def misread_as_pixels(predictor: Predictor, numbers: SeedReadings, split) -> dict[str, int]:
    """The digits misread (in strings of the right length), and how the model reads the same
    digits given as MNIST pixels: right (the reader's pipeline lost it), or the same wrong
    digit (the model's own error, whatever the reader does)."""
    out = {"misread": 0, "right as pixels": 0, "same wrong digit as pixels": 0}
    images = split.images.numpy()
    for o, chosen in zip(numbers.seen, numbers.sources, strict=True):
        if len(o.digits_read) != len(o.digits_written):
            continue
        for k, (read, truth) in enumerate(zip(o.digits_read, o.digits_written, strict=True)):
            if read == truth:
                continue
            guess = predictor.predict_pixels(images[chosen[k]][None], reject=False)[0].guess
            out["misread"] += 1
            out["right as pixels"] += int(guess == int(truth))
            out["same wrong digit as pixels"] += int(guess == int(read))
    return out


def shares(seen: list[Observed], rule) -> dict[str, float]:
    """Sure and wrong, and wasted (refused with a right best reading), over every number."""
    counts = judge(seen, rule)
    total = {k: sum(c[k] for c in counts.values()) for k in ("numbers", "wrong", "wasted")}
    return {k: total[k] / total["numbers"] for k in ("wrong", "wasted")}


def hindsight(seen: list[Observed], rule, sure_wrong: float) -> float:
    """The fewest right strings refused (share of all) with at most `sure_wrong` of the numbers
    sure and wrong, the threshold on `rule`'s confidence (its weights as fitted) chosen on these
    very numbers: the best case for a threshold, not a result."""
    confidence = np.array(
        [
            string_not_sure(rule, o.evidence, o.refused).confidence
            if o.digits_sure
            else -1.0  # refused by the digit rules whatever the threshold
            for o in seen
        ]
    )
    right = np.array([o.right for o in seen])
    order = np.argsort(-confidence, kind="stable")
    wrong_sure = np.cumsum(~right[order])
    right_sure = np.cumsum(right[order])
    ranked = confidence[order]
    # a threshold keeps all of a run of equal confidences or none: cut only between runs
    between = np.append(ranked[:-1] > ranked[1:], True)
    allowed = np.flatnonzero((wrong_sure <= sure_wrong * len(seen)) & (ranked >= 0) & between)
    kept = int(right_sure[allowed[-1]]) if len(allowed) else 0
    return (int(right.sum()) - kept) / len(seen)


def marking(seen: list[Observed], rule) -> dict[str, float]:
    """Of the numbers the rule refuses: for those misread (of the right length), how often every
    misread digit is among the digits marked "?", and how many are marked; for those read right,
    how many digits are marked (a "?" on a right digit sends the user to check it for nothing)."""
    caught = marked_misread = marked_right = refused_misread = refused_right = 0
    for o in seen:
        if not o.number:
            continue
        doubtful = set(string_not_sure(rule, o.evidence, o.refused).doubtful)
        if not doubtful:
            continue  # sure by its digits (a reading doubted by its signs has no "?" to weigh)
        if o.right:
            refused_right += 1
            marked_right += len(doubtful)
        elif len(o.digits_read) == len(o.digits_written) and o.digits_read != o.digits_written:
            pairs = zip(o.digits_read, o.digits_written, strict=True)
            wrong = {k for k, (a, b) in enumerate(pairs) if a != b}
            refused_misread += 1
            caught += int(wrong <= doubtful)
            marked_misread += len(doubtful)
    return {
        "refused misread": refused_misread,
        "every misread digit marked": caught / max(refused_misread, 1),
        "marks per refused misread": marked_misread / max(refused_misread, 1),
        "marks per refused right": marked_right / max(refused_right, 1),
    }


def plain_digits_bound(predictor: Predictor, split) -> dict[str, float]:
    """The same model on the split's digits as MNIST pixels, no reader in between: refusing the
    least confident share of digits (the calibrated top probability), how many of its errors
    are caught and how many stay answered. A string of n digits is sure and wrong at least
    about n times the share left, whatever its rule, where the model's confidence is all the
    rule knows of a misread digit."""
    answers = predictor.predict_pixels(split.images.numpy(), reject=False)
    confidence = np.array([a.confidence for a in answers])
    wrong = np.array([a.guess for a in answers]) != split.labels.numpy()
    out: dict[str, float] = {"digits": len(wrong), "errors": int(wrong.sum())}
    least_sure_first = np.argsort(confidence, kind="stable")
    for refused in PLAIN_REFUSED:
        refuse = np.zeros(len(wrong), bool)
        refuse[least_sure_first[: round(refused * len(wrong))]] = True
        out[f"caught at {refused}"] = int((wrong & refuse).sum())
        out[f"wrong and answered at {refused}"] = float((wrong & ~refuse).mean())
    return out


def probabilities(predictor: Predictor, numbers: SeedReadings) -> list[np.ndarray]:
    """Per number, (N, 10): `predictor`'s calibrated probabilities of each read digit."""
    sizes = [len(p) for p in numbers.pixels]
    pixels = np.concatenate(numbers.pixels) if sum(sizes) else np.zeros((0, 28, 28), np.uint8)
    found = np.array([a.probabilities for a in predictor.predict_pixels(pixels, reject=False)])
    return np.split(found.reshape(-1, 10), np.cumsum(sizes)[:-1])


def agreement(numbers: SeedReadings, probs: list[list[np.ndarray]]) -> dict[str, float]:
    """Of the digits misread (in strings of the right length) and of those read right: the
    share that every model gives the read digit at least each probability in AGREE."""
    lowest: dict[bool, list[float]] = {True: [], False: []}
    for i, o in enumerate(numbers.seen):
        if len(o.digits_read) != len(o.digits_written):
            continue
        for k, (read, truth) in enumerate(zip(o.digits_read, o.digits_written, strict=True)):
            lowest[read == truth].append(min(float(p[i][k, int(read)]) for p in probs))
    out = {"misread": len(lowest[False]), "read right": len(lowest[True])}
    for level in AGREE:
        for side, name in ((False, "misread"), (True, "read right")):
            out[f"{name} >= {level}"] = float(np.mean(np.array(lowest[side]) >= level))
    return out


def with_mean_evidence(numbers: SeedReadings, probs: list[list[np.ndarray]]) -> list[Observed]:
    """The readings with each digit's first evidence, log P(guess), taken from the models'
    mean probability instead of the one model's."""
    out = []
    for i, o in enumerate(numbers.seen):
        evidence = o.evidence.copy()
        if len(evidence):
            mean = np.mean([p[i] for p in probs], axis=0)
            guess = np.array([int(c) for c in o.digits_read])
            evidence[:, 0] = np.log(np.clip(mean[np.arange(len(guess)), guess], 1e-12, 1.0))
        out.append(dataclasses.replace(o, evidence=evidence))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sota-cpu")
    parser.add_argument("--others", default="", help="comma-separated model folders")
    parser.add_argument("--count", type=int, default=200, help="numbers per kind and check seed")
    parser.add_argument("--seeds", default="2601,2603", help="check seeds")
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)  # explicit, at the entry point
    try:
        predictor = Predictor.from_path(args.model)
        others = [Predictor.from_path(o) for o in args.others.split(",") if o]
    except MnistlabError as error:
        parser.error(str(error))
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(
            f"--seeds {args.seeds}: expected comma-separated whole numbers, e.g. 2601,2603"
        )
    if args.count < 1:
        parser.error("--count must be at least 1")
    val = load_splits("mnist", download=False)["val"]
    started = time.time()
    print(f"{header('cpu')}; model {args.model}", flush=True)
    fit = record(predictor, val, FIT_NUMBER_KINDS, FIT_COUNT, FIT_SEED)
    checks = {s: record(predictor, val, NUMBER_KINDS, args.count, s) for s in seeds}
    print(f"read {len(fit.seen)} + {sum(len(c.seen) for c in checks.values())} numbers "
          f"({time.time() - started:.0f} s)", flush=True)  # fmt: skip
    rules = {b: fit_reading_rule(fit.seen, b) for b in BUDGETS}
    result: dict = {"fitted": {}, "hindsight": {}, "agreement": {}, "mean evidence": {}}
    result["plain digits"] = plain_digits_bound(predictor, val)
    result["marking"] = {str(s): marking(c.seen, rules[0.01]) for s, c in checks.items()}
    result["as pixels"] = {str(s): misread_as_pixels(predictor, c, val) for s, c in checks.items()}
    for budget, rule in rules.items():
        result["fitted"][str(budget)] = {
            "threshold": rule.threshold,
            **{str(s): shares(c.seen, rule) for s, c in checks.items()},
        }
    for level in HINDSIGHT:
        result["hindsight"][str(level)] = {
            str(s): hindsight(c.seen, rules[0.01], level) for s, c in checks.items()
        }
    if others:
        models = [predictor, *others]
        fit_probs = [probabilities(m, fit) for m in models]
        rule = fit_reading_rule(with_mean_evidence(fit, fit_probs))
        for s, c in checks.items():
            probs = [probabilities(m, c) for m in models]
            result["agreement"][str(s)] = agreement(c, probs)
            result["mean evidence"][str(s)] = shares(with_mean_evidence(c, probs), rule)
    lines = table(args, result, seeds, [p.meta for p in others])
    print("\n".join(lines))
    OUT.write_text(json.dumps({"header": lines[0], "result": result}, indent=1) + "\n")
    if args.write:
        update_section("reading_frontier", "### How far the string rule's evidence goes "
                       "(issue 26; validation)\n\n" + "\n".join(lines))  # fmt: skip
    return 0


def bullets(title: str, per_seed: dict[int, str]) -> list[str]:
    """A paragraph `title` and one list item per check seed."""
    return ["", title, "", *(f"- seed {s}: {text}" for s, text in per_seed.items())]


def table(args, result: dict, seeds: list[int], other_metas: list) -> list[str]:
    def pair(cell: dict) -> str:
        return f"{100 * cell['wrong']:.2f}% / {100 * cell['wasted']:.1f}%"

    others_flag = f" --others {args.others}" if args.others else ""
    lines = [
        f"`python -m benchmarks.reading_frontier --model {args.model}{others_flag} --count "
        f"{args.count} --seeds {args.seeds}`; {header('cpu')}. The string rule fitted on the "
        f"fit kinds' validation numbers (seed {FIT_SEED}, {FIT_COUNT} per kind) with its budget "
        f"of sure-and-wrong fit numbers moved, and judged on {args.count} validation numbers "
        "of every kind per check seed: sure and wrong / wasted (refused, best reading right), "
        "shares of all numbers. Hindsight: the 1% rule's threshold chosen on the check numbers "
        "themselves, the fewest wasted at that share sure and wrong (a best case for a threshold "
        "on that confidence, not a result).",
        "",
        "| rule | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|" + "---|" * len(seeds),
    ]
    for budget, row in result["fitted"].items():
        lines.append(
            f"| fitted, budget {100 * float(budget):g}% (threshold {row['threshold']:.3f}) | "
            + " | ".join(pair(row[str(s)]) for s in seeds)
            + " |"
        )
    for level, row in result["hindsight"].items():
        lines.append(
            f"| hindsight, {100 * float(level):g}% sure and wrong | "
            + " | ".join(f"{100 * float(level):g}% / {100 * row[str(s)]:.1f}%" for s in seeds)
            + " |"
        )
    if result["mean evidence"]:
        lines.append(
            f"| fitted, budget 1%, mean probability of {len(other_metas) + 1} models | "
            + " | ".join(pair(result["mean evidence"][str(s)]) for s in seeds)
            + " |"
        )
    lines += bullets(
        "The misread digits (in strings of the right length), read again as MNIST pixels:",
        {
            s: f"{a['misread']} misread; as pixels {a['right as pixels']} read right (lost by "
            f"the reader's pipeline), {a['same wrong digit as pixels']} misread the same way "
            "(the model's own error: a reader can only refuse it)."
            for s, a in ((s, result["as pixels"][str(s)]) for s in seeds)
        },
    )
    lines += bullets(
        'Where the 1% rule puts its "?" (the weakest digits, until the rest would be sure):',
        {
            s: f"of {m['refused misread']} refused numbers misread (of the right length), every "
            f"misread digit is marked in {100 * m['every misread digit marked']:.0f}%, with "
            f"{m['marks per refused misread']:.2f} marks on average; a refused number read "
            f"right has {m['marks per refused right']:.2f}."
            for s, m in ((s, result["marking"][str(s)]) for s in seeds)
        },
    )
    plain = result["plain digits"]
    lines += [
        "",
        f"The same model on the {plain['digits']} validation digits as MNIST pixels, no reader "
        f"in between: {plain['errors']} errors; "
        + "; ".join(
            f"refusing the least confident {100 * r:g}% of digits catches "
            f"{plain[f'caught at {r}']} of them and leaves "
            f"{100 * plain[f'wrong and answered at {r}']:.2f}% of digits answered wrong"
            for r in PLAIN_REFUSED
        )
        + " (numbers of 2-8 digits have 5 on average).",
    ]
    if result["mean evidence"]:
        described = "; ".join(
            f"{m.recipe or m.model} seed {m.seed}, test {100 * (m.test_acc or 0):.2f}%"
            for m in other_metas
        )
        lines += bullets(
            f"Independently trained models (--others: {described}; `mnistlab train --recipe "
            "sota-cpu --seed S`) on the check numbers' digits:",
            {
                s: f"of {a['misread']} misread digits, every model gives the read (wrong) digit "
                f">= 0.5 for {100 * a['misread >= 0.5']:.0f}% and >= 0.9 for "
                f"{100 * a['misread >= 0.9']:.0f}%; of {a['read right']} digits read right, "
                f"{100 * a['read right >= 0.9']:.2f}% pass >= 0.9."
                for s, a in ((s, result["agreement"][str(s)]) for s in seeds)
            },
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
