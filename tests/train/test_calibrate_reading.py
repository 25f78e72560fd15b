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
