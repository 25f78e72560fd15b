"""Honest confidence: temperature scaling fitted on the validation split, its ECE, and the
rules that make a model say "not sure" for inputs that are not digits.

`core` is the maths (imported by inference); `fit` fits a model on data (imported by training,
`mnistlab calibrate` and the scripts), and is not imported here so inference stays light.
"""

from mnistlab.calibration.core import (
    SCORES,
    digit_score,
    expected_calibration_error,
    fit_temperature,
    not_sure_reasons,
    shape_counts,
    threshold_at,
)
from mnistlab.runs.meta import Calibration

__all__ = [
    "SCORES",
    "Calibration",
    "digit_score",
    "expected_calibration_error",
    "fit_temperature",
    "not_sure_reasons",
    "shape_counts",
    "threshold_at",
]
