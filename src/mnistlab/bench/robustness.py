"""`mnistlab bench robustness`: answers on digits drawn in real-world conditions, per kind,
beside the same model's accuracy on the same digits as MNIST pixels.

Every answer is counted on both sides of "not sure": right, confidently wrong (a wrong digit
answered), refused with a right best guess (a wasted refusal) and refused with a wrong best
guess (a saved error); a digit preprocessing calls blank is counted apart. Non-digits are
counted too: for them refusing is right and any digit answered is wrong.

Every image goes through the preprocessing that `predict` uses. The digits come from a split the
caller names: the test split for reports, the validation split while tuning the preprocessing
(the test split is touched once).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from mnistlab.bench.outcomes import HEADER, Tally, answer_images, cells, tally
from mnistlab.data.splits import Split
from mnistlab.inference.field import NoDigitError
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.signs import digits_of
from mnistlab.synth import DIGIT_KINDS, NONDIGIT_KINDS, NUMBER_KINDS, render_digit
from mnistlab.synth.families import HELD_OUT_FAMILIES, family_of
from mnistlab.synth.nondigits import render_nondigit
from mnistlab.synth.numbers import HELD_OUT_NUMBER_KINDS, draw_numbers

NONDIGIT_SEED_OFFSET = 2000  # non-digit kind k renders from [seed, 2000 + k, i]


@dataclass(frozen=True)
class KindResult:
    kind: str
    family: str
    held_out: bool  # its family is one of HELD_OUT_FAMILIES
    tally: Tally

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "family": self.family,
            "held_out": self.held_out,
            **asdict(self.tally),
            "accuracy": self.tally.accuracy,
        }


@dataclass(frozen=True)
class NondigitResult:
    """Answers on images that are not digits: refusing is right."""

    kind: str
    images: int
    answered: int  # a digit answered: wrong
    blank: int  # preprocessing found no digit: refused

    @property
    def refused(self) -> int:
        return self.images - self.answered

    @property
    def refused_share(self) -> float:
        return self.refused / self.images if self.images else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "refused": self.refused, "refused_share": self.refused_share}


@dataclass(frozen=True)
class DigitsReport:
    """Every kind on the same digits, and the non-digits; `to_dict()` for JSON."""

    count: int
    seed: int
    mnist_pixels_accuracy: float  # best guesses on the same digits as MNIST pixels
    kinds: tuple[KindResult, ...]
    nondigits: tuple[NondigitResult, ...] = ()

    def total(self, held_out_only: bool = False) -> Tally:
        """The sum over the benign kinds run (only held-out families' with `held_out_only`)."""
        chosen = [k.tally for k in self.kinds if k.held_out or not held_out_only]
        return sum(chosen, Tally())

    def to_dict(self) -> dict:
        total, held = self.total(), self.total(held_out_only=True)
        return {
            "count": self.count,
            "seed": self.seed,
            "mnist_pixels_accuracy": self.mnist_pixels_accuracy,
            "held_out_families": list(HELD_OUT_FAMILIES),
            "kinds": [k.to_dict() for k in self.kinds],
            "total": {**asdict(total), "accuracy": total.accuracy},
            "held_out_total": {**asdict(held), "accuracy": held.accuracy},
            "nondigits": [n.to_dict() for n in self.nondigits],
        }


@dataclass(frozen=True)
class NumberResult:
    """Numbers of one kind read whole, counted on both sides of "sure": `tally` counts strings
    (images: numbers; right / wrong: sure and right / wrong; wasted: not sure though the best
    reading was right; saved: not sure and it was wrong; blank: no ink found)."""

    kind: str
    held_out: bool  # a kind the string rule's fit left out (synth.numbers)
    tally: Tally
    digits: int
    digits_right: int  # digit at the right position of a string of the right length

    @property
    def string_accuracy(self) -> float:
        """The best reading's accuracy, sure or not."""
        return self.tally.accuracy

    @property
    def digit_accuracy(self) -> float:
        return self.digits_right / self.digits if self.digits else 0.0

    def to_dict(self) -> dict:
        t = self.tally
        return {
            "kind": self.kind,
            "held_out": self.held_out,
            "numbers": t.images,
            "strings_right": t.right + t.wasted,
            "sure_right": t.right,
            "sure_wrong": t.wrong,
            "wasted": t.wasted,
            "saved": t.saved,
            "blank": t.blank,
            "digits": self.digits,
            "digits_right": self.digits_right,
            "string_accuracy": self.string_accuracy,
            "digit_accuracy": self.digit_accuracy,
        }


def pick(split: Split, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` digits of the split, in an order fixed by `seed`."""
    order = np.random.default_rng(seed).permutation(len(split))[:count]
    return split.images.numpy()[order], split.labels.numpy()[order]


def clean_accuracy(predictor: Predictor, images: np.ndarray, labels: np.ndarray) -> float:
    """The model on the digits as MNIST pixels, without any preprocessing: the reference
    (best guesses, as test accuracy counts them)."""
    found = [p.guess for p in predictor.predict_pixels(images)]
    return float(np.mean(np.array(found) == labels))


def run_kind(
    predictor: Predictor, kind: str, images: np.ndarray, labels: np.ndarray, seed: int
) -> KindResult:
    """`kind` drawn once per digit, image i from the rng [seed, kind's place, i]."""
    index = list(DIGIT_KINDS).index(kind)
    drawn = (
        render_digit(kind, digit, np.random.default_rng([seed, index, i]))
        for i, digit in enumerate(images)
    )
    family = family_of(kind)
    counts = tally(answer_images(predictor, drawn), [int(k) for k in labels])
    return KindResult(kind, family, family in HELD_OUT_FAMILIES, counts)


def run_nondigit(predictor: Predictor, kind: str, count: int, seed: int) -> NondigitResult:
    index = NONDIGIT_SEED_OFFSET + list(NONDIGIT_KINDS).index(kind)
    drawn = (render_nondigit(kind, np.random.default_rng([seed, index, i])) for i in range(count))
    answers = answer_images(predictor, drawn)
    answered = sum(int(a is not None and a.digit is not None) for a in answers)
    return NondigitResult(kind, count, answered, sum(int(a is None) for a in answers))


def run_digits(
    predictor: Predictor,
    split: Split,
    count: int = 500,
    seed: int = 0,
    kinds: Iterable[str] | None = None,
    progress=None,
    nondigits: int = 0,
) -> DigitsReport:
    """Every kind (default all of DIGIT_KINDS) on the same `count` digits, and `nondigits`
    images of each non-digit kind; `progress` is called with each KindResult or
    NondigitResult."""
    images, labels = pick(split, count, seed)
    chosen = list(kinds) if kinds is not None else list(DIGIT_KINDS)
    unknown = [k for k in chosen if k not in DIGIT_KINDS]
    if unknown:
        raise ValueError(f"unknown kinds: {', '.join(unknown)}")
    results = []
    for kind in chosen:
        results.append(run_kind(predictor, kind, images, labels, seed))
        if progress:
            progress(results[-1])
    others = []
    for kind in NONDIGIT_KINDS if nondigits else ():
        others.append(run_nondigit(predictor, kind, nondigits, seed))
        if progress:
            progress(others[-1])
    reference = clean_accuracy(predictor, images, labels)
    return DigitsReport(int(count), seed, reference, tuple(results), tuple(others))


def run_numbers(
    predictor: Predictor,
    split: Split,
    count: int = 200,
    seed: int = 0,
    kinds: Iterable[str] = NUMBER_KINDS,
    lengths: tuple[int, int] = (2, 8),
) -> dict:
    """Numbers of 2-8 digits of each kind, read with `mnistlab.inference.read_number`."""
    from mnistlab.inference.reading import read_number

    images, labels = split.images.numpy(), split.labels.numpy()
    results = []
    for kind in kinds:
        outcomes: list[str] = []
        digits = digits_right = 0
        for truth, image in draw_numbers(images, labels, kind, count, seed, lengths):
            try:
                reading = read_number(predictor, image)
            except NoDigitError:
                outcomes.append("blank")
                digits += len(digits_of(truth))
                continue
            right = reading.number == truth  # signs too ("-12.5", the "signs" kind)
            outcomes.append(
                ("right" if right else "wrong")
                if reading.sure
                else ("wasted" if right else "saved")
            )
            found, written = digits_of(reading.number), digits_of(truth)
            digits += len(written)
            if len(found) == len(written):
                digits_right += sum(int(a == b) for a, b in zip(found, written, strict=True))
        counts = Tally(len(outcomes), **{o: outcomes.count(o) for o in OUTCOMES})
        result = NumberResult(kind, kind in HELD_OUT_NUMBER_KINDS, counts, digits, digits_right)
        results.append(result.to_dict())
    return {
        "count": int(count),
        "seed": seed,
        "lengths": list(lengths),
        "held_out_kinds": list(HELD_OUT_NUMBER_KINDS),
        "kinds": results,
    }


OUTCOMES = ("right", "wrong", "wasted", "saved", "blank")


def format_digits(report: DigitsReport) -> str:
    reference = report.mnist_pixels_accuracy
    held = ", ".join(HELD_OUT_FAMILIES)
    lines = [
        f"{report.count} digits per kind (seed {report.seed}); the same digits as MNIST "
        f"pixels: {100 * reference:.2f}% (best guess)",
        "right: answered the right digit; wrong: answered a wrong one; wasted: not sure, best "
        "guess right; saved: not sure, best guess wrong; * held-out family",
        f"{'kind':<23}{'family':<16}{HEADER}{'vs pixels':>10}",
    ]
    for row in report.kinds:
        drop = 100 * (row.tally.accuracy - reference)
        family = row.family + ("*" if row.held_out else "")
        lines.append(f"{row.kind:<23}{family:<16}{cells(row.tally)}{drop:>+10.2f}")
    for name, counts in (
        ("all benign kinds", report.total()),
        (f"held out ({held})", report.total(held_out_only=True)),
    ):
        if counts.images:
            drop = 100 * (counts.accuracy - reference)
            lines.append(f"{name:<39}{cells(counts)}{drop:>+10.2f}")
    if report.nondigits:
        lines.append(f"{'non-digit':<23}{'refused (right)':>20}{'answered':>10}{'blank':>7}")
        for n in report.nondigits:
            refused = f"{100 * n.refused_share:.1f}% ({n.refused})"
            lines.append(f"{n.kind:<23}{refused:>20}{n.answered:>10}{n.blank:>7}")
    return "\n".join(lines)


def format_numbers(report: dict) -> str:
    lines = [
        f"{report['count']} numbers per kind, {report['lengths'][0]}-{report['lengths'][1]} digits "
        f"(seed {report['seed']}); guess: strings whose best reading is right, sure or not",
        "right: sure and right; wrong: sure and wrong; wasted: not sure, best reading right; "
        "saved: not sure, best reading wrong; * a kind the string rule's fit left out",
        f"{'kind':<12}{'digits':>10}{HEADER}",
    ]
    for row in report["kinds"]:
        t = Tally(
            row["numbers"],
            row["sure_right"],
            row["sure_wrong"],
            row["wasted"],
            row["saved"],
            row["blank"],
        )
        kind = row["kind"] + ("*" if row.get("held_out") else "")
        lines.append(f"{kind:<12}{100 * row['digit_accuracy']:>9.2f}%{cells(t)}")
    return "\n".join(lines)
