"""The string rule's fit: the neighbours' evidence is weighed only where it helps."""

from __future__ import annotations

import numpy as np
import pytest

from mnistlab.calibration.types import EVIDENCE
from mnistlab.train.calibrate_reading import Observed, fit_reading_rule


def _readings(informative: bool, seed: int = 0, count: int = 2000) -> list[Observed]:
    """Numbers of three digits, 10% misread; the misread digit's probability only a little
    lower than a right one's. The last evidence (-1: unlike its neighbours) marks 80% of the
    misread digits and 3% of right ones when `informative`, else a fifth of either at random."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        right = rng.random() > 0.1
        evidence = np.zeros((3, EVIDENCE))
        evidence[:, 0] = np.log(rng.uniform(0.97, 1.0, 3))
        if not right:
            evidence[0, 0] = np.log(rng.uniform(0.93, 1.0))
        flagged = rng.random() < ((0.03 if right else 0.8) if informative else 0.2)
        evidence[0, EVIDENCE - 1] = -1.0 if flagged else 0.0
        out.append(Observed("gaps", "123", "123" if right else "173", evidence, np.zeros(3, bool)))
    return out


@pytest.mark.parametrize("informative", [True, False])
def test_the_neighbours_evidence_is_weighed_only_where_it_refuses_fewer_right_strings(
    informative,
):
    rule = fit_reading_rule(_readings(informative))
    assert len(rule.weights) == EVIDENCE
    with_it, without = (int(n) for n in rule.fitted_on.split("refused right: ")[1].split()[::3])
    if informative:
        assert rule.weights[-1] > 0 and "evidence weighed" in rule.fitted_on
        assert with_it < without
    else:
        assert rule.weights[-1] == 0 and "evidence left out" in rule.fitted_on
        assert with_it >= without


def test_observed_readings_keep_each_digits_evidence_and_refusal(real_data_dir):
    """observe() reads real validation numbers without the string rule: one row of evidence
    and one refusal flag per digit read, and most of them right (a reader that broke would
    read none)."""
    from mnistlab.data.splits import load_splits
    from mnistlab.inference.predictor import Predictor
    from mnistlab.train.calibrate_reading import observe

    val = load_splits("mnist", real_data_dir, download=False)["val"]
    seen = observe(Predictor.from_path(None), val, ("gaps",), 6, seed=31)
    assert len(seen) == 6 and {o.kind for o in seen} == {"gaps"}
    for o in seen:
        assert o.evidence.shape == (len(o.digits_read), EVIDENCE)  # one row per digit
        assert o.refused.shape == (len(o.digits_read),)
        assert 2 <= len(o.truth) <= 8
    assert sum(o.right for o in seen) >= 5


def test_the_hindsight_bound_keeps_the_surest_strings_up_to_the_share_sure_and_wrong():
    """benchmarks.reading_frontier's bound: with the threshold chosen on the numbers
    themselves, the fewest right strings refused at a given share sure and wrong."""
    from benchmarks.reading_frontier import hindsight

    from mnistlab.calibration.types import ReadingRule

    rule = ReadingRule(weights=[1.0, 0, 0, 0, 0, 0], bias=0.0, threshold=0.5)

    def number(p: float, right: bool, refused: bool = False) -> Observed:
        evidence = np.zeros((1, EVIDENCE))
        evidence[0, 0] = np.log(p)
        return Observed("gaps", "7", "7" if right else "1", evidence, np.array([refused]))

    # by confidence: right, wrong, right, right, wrong, right; and a right one a digit refused
    seen = [
        number(1.0, True),
        number(0.99, False),
        number(0.9, True),
        number(0.8, True),
        number(0.5, False),
        number(0.3, True),
        number(1.0, True, refused=True),
    ]
    # no wrong string sure: only the first is kept, 4 of the 5 right ones refused
    assert hindsight(seen, rule, 0.0) == pytest.approx(4 / 7)
    # one of seven: down to just above the second wrong one, 2 refused (0.3 and the refused)
    assert hindsight(seen, rule, 1 / 7) == pytest.approx(2 / 7)
    # everything allowed: only the digit rules' refusal is left
    assert hindsight(seen, rule, 1.0) == pytest.approx(1 / 7)
    # a right and a wrong string of equal confidence: a threshold keeps both or neither
    tied = [number(0.9, True), number(0.9, False), number(0.8, True)]
    assert hindsight(tied, rule, 0.0) == pytest.approx(2 / 3)
    assert hindsight(tied, rule, 1 / 3) == pytest.approx(0.0)


def test_marking_counts_whether_the_question_mark_lands_on_the_misread_digit():
    from benchmarks.reading_frontier import marking

    from mnistlab.calibration.types import ReadingRule

    rule = ReadingRule(weights=[1.0, 0, 0, 0, 0, 0], bias=3.0, threshold=0.9)

    def number(truth: str, read: str, probabilities: list[float]) -> Observed:
        evidence = np.zeros((len(read), EVIDENCE))
        evidence[:, 0] = np.log(probabilities)
        return Observed("gaps", truth, read, evidence, np.zeros(len(read), bool))

    seen = [
        number("12", "17", [0.99, 0.2]),  # refused, the misread 7 marked
        number("12", "72", [0.99, 0.2]),  # refused, but the right 2 marked, not the 7
        number("34", "34", [0.3, 0.99]),  # refused though right: one mark
        number("56", "56", [0.99, 0.99]),  # sure
    ]
    found = marking(seen, rule)
    assert found["refused misread"] == 2
    assert found["every misread digit marked"] == pytest.approx(0.5)
    assert found["marks per refused misread"] == pytest.approx(1.0)
    assert found["marks per refused right"] == pytest.approx(1.0)
