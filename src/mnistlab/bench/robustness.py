"""`mnistlab bench robustness`: accuracy on digits drawn in real-world conditions, per family,
beside the same model's accuracy on the same digits as MNIST pixels.

Every image goes through the preprocessing that `predict` uses; a digit called blank counts as
wrong. The digits come from a split the caller names: the test split for reports, the
validation split while tuning the preprocessing (the test split is touched once).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from mnistlab.data.splits import Split
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.preprocess import NoDigitError, preprocess
from mnistlab.synth import FAMILIES, NUMBER_KINDS, render_digit, render_number


@dataclass(frozen=True)
class FamilyResult:
    family: str
    images: int
    correct: int  # the model's best guess is the digit
    blank: int  # called "no digit found"
    not_sure: int = 0  # answered "not sure" (digit null), whatever the guess

    @property
    def accuracy(self) -> float:
        return self.correct / self.images if self.images else 0.0


@dataclass(frozen=True)
class NumberResult:
    kind: str
    numbers: int
    strings_right: int
    digits: int
    digits_right: int  # digit at the right position of a string of the right length

    @property
    def string_accuracy(self) -> float:
        return self.strings_right / self.numbers if self.numbers else 0.0

    @property
    def digit_accuracy(self) -> float:
        return self.digits_right / self.digits if self.digits else 0.0


def pick(split: Split, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` digits of the split, in an order fixed by `seed`."""
    order = np.random.default_rng(seed).permutation(len(split))[:count]
    return split.images.numpy()[order], split.labels.numpy()[order]


def clean_accuracy(predictor: Predictor, images: np.ndarray, labels: np.ndarray) -> float:
    """The model on the digits as MNIST pixels, without any preprocessing: the reference
    (best guesses, as test accuracy counts them)."""
    found = [p.guess for p in predictor.predict_pixels(images)]
    return float(np.mean(np.array(found) == labels))


def run_family(
    predictor: Predictor, family: str, images: np.ndarray, labels: np.ndarray, seed: int
) -> FamilyResult:
    index = list(FAMILIES).index(family)
    pixels, kept, blank = [], [], 0
    for i, (digit, label) in enumerate(zip(images, labels, strict=True)):
        image = render_digit(family, digit, np.random.default_rng([seed, index, i]))
        try:
            pixels.append(preprocess(image).pixels)
            kept.append(int(label))
        except NoDigitError:
            blank += 1
    answers = predictor.predict_pixels(pixels) if pixels else []
    correct = sum(int(a.guess == k) for a, k in zip(answers, kept, strict=True))
    not_sure = sum(int(a.digit is None) for a in answers)
    return FamilyResult(family, len(labels), correct, blank, not_sure)


def run_digits(
    predictor: Predictor,
    split: Split,
    count: int = 500,
    seed: int = 0,
    families: Iterable[str] | None = None,
    progress=None,
) -> dict:
    """Every family on the same `count` digits; a dict ready for JSON."""
    images, labels = pick(split, count, seed)
    chosen = list(families) if families is not None else list(FAMILIES)
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families: {', '.join(unknown)}")
    results = []
    for family in chosen:
        results.append(run_family(predictor, family, images, labels, seed))
        if progress:
            progress(results[-1])
    return {
        "count": int(count),
        "seed": seed,
        "mnist_pixels_accuracy": clean_accuracy(predictor, images, labels),
        "families": [{**asdict(r), "accuracy": r.accuracy} for r in results],
    }


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

    results = []
    for k, kind in enumerate(kinds):
        rng = np.random.default_rng([seed, 1000 + k])
        strings_right = digits = digits_right = 0
        for i in range(count):
            length = int(rng.integers(lengths[0], lengths[1] + 1))
            chosen = rng.integers(0, len(split), size=length)
            truth = "".join(str(int(split.labels[j])) for j in chosen)
            image, _ = render_number(
                kind, [split.images[j].numpy() for j in chosen], np.random.default_rng([seed, k, i])
            )
            try:
                found = read_number(predictor, image).number
            except NoDigitError:
                found = ""
            strings_right += int(found == truth)
            digits += length
            if len(found) == length:
                digits_right += sum(int(a == b) for a, b in zip(found, truth, strict=True))
        result = NumberResult(kind, count, strings_right, digits, digits_right)
        results.append(
            {
                **asdict(result),
                "string_accuracy": result.string_accuracy,
                "digit_accuracy": result.digit_accuracy,
            }
        )
    return {"count": int(count), "seed": seed, "lengths": list(lengths), "kinds": results}


def format_digits(report: dict) -> str:
    reference = report["mnist_pixels_accuracy"]
    lines = [
        f"{report['count']} digits per family (seed {report['seed']}); "
        f"the same digits as MNIST pixels: {100 * reference:.2f}%",
        f"{'family':<20}{'accuracy':>10}{'vs pixels':>11}{'blank':>7}{'not sure':>10}",
    ]
    for row in report["families"]:
        drop = 100 * (row["accuracy"] - reference)
        lines.append(
            f"{row['family']:<20}{100 * row['accuracy']:>9.2f}%{drop:>+10.2f}{row['blank']:>7}"
            f"{row['not_sure']:>10}"
        )
    return "\n".join(lines)


def format_numbers(report: dict) -> str:
    lines = [
        f"{report['count']} numbers per kind, {report['lengths'][0]}-{report['lengths'][1]} digits "
        f"(seed {report['seed']})",
        f"{'kind':<12}{'strings':>10}{'digits':>10}",
    ]
    for row in report["kinds"]:
        lines.append(
            f"{row['kind']:<12}{100 * row['string_accuracy']:>9.2f}%"
            f"{100 * row['digit_accuracy']:>9.2f}%"
        )
    return "\n".join(lines)
