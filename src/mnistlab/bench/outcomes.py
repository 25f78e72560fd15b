"""Two-sided accounting of a digit reader's answers: what "not sure" costs and what it saves.

A refusal ("not sure", digit None) is wasted when the best guess was right and saves an error
when it was wrong; an answer is right or confidently wrong. Shared by `mnistlab bench
robustness` and benchmarks/outside.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

from PIL import Image

from mnistlab.inference.field import NoDigitError
from mnistlab.inference.predictor import Prediction, Predictor
from mnistlab.inference.preprocess import preprocess


@dataclass(frozen=True)
class Tally:
    """Two-sided accounting of answers on digits: the five counts add up to `images`."""

    images: int = 0
    right: int = 0  # answered the right digit
    wrong: int = 0  # answered a wrong digit: confidently wrong
    wasted: int = 0  # "not sure", though the best guess was right: a wasted refusal
    saved: int = 0  # "not sure", and the best guess was wrong: an error the refusal saved
    blank: int = 0  # preprocessing found no digit: no answer, no guess

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Tally)))

    @property
    def accuracy(self) -> float:
        """The best guess's accuracy (as test accuracy counts it), refused or not."""
        return (self.right + self.wasted) / self.images if self.images else 0.0

    @property
    def not_sure(self) -> int:
        return self.wasted + self.saved

    def share(self, count: int) -> float:
        return count / self.images if self.images else 0.0


def answer_images(predictor: Predictor, images: Iterable[Image.Image]) -> list[Prediction | None]:
    """Each image preprocessed and answered; None where preprocessing found no digit."""
    pixels, found = [], []
    for image in images:
        try:
            pixels.append(preprocess(image).pixels)
            found.append(True)
        except NoDigitError:
            found.append(False)
    answers = iter(predictor.predict_pixels(pixels) if pixels else [])
    return [next(answers) if ok else None for ok in found]


def tally(answers: Sequence[Prediction | None], labels: Sequence[int]) -> Tally:
    """Count answers against the true digits; None stands for a digit preprocessing called
    blank."""
    counts = dict.fromkeys(("right", "wrong", "wasted", "saved", "blank"), 0)
    for answer, label in zip(answers, labels, strict=True):
        if answer is None:
            outcome = "blank"
        elif answer.digit is not None:
            outcome = "right" if answer.digit == label else "wrong"
        else:
            outcome = "wasted" if answer.guess == label else "saved"
        counts[outcome] += 1
    return Tally(images=len(labels), **counts)


def cells(counts: Tally) -> str:
    """A table row's cells: the four sides as '% (count)', then blank, the best guess's accuracy."""
    sides = (counts.right, counts.wrong, counts.wasted, counts.saved)
    text = "".join(f"{f'{100 * counts.share(n):.1f}% ({n})':>15}" for n in sides)
    return f"{text}{counts.blank:>7}{100 * counts.accuracy:>9.2f}%"


HEADER = f"{'right':>15}{'wrong':>15}{'wasted':>15}{'saved':>15}{'blank':>7}{'guess':>10}"
