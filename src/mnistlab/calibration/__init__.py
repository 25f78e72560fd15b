"""Honest confidence: temperature scaling fitted on the validation split, its ECE, and the
rules that make a model say "not sure" for inputs that are not digits.

This package is below runs and inference: `types` (model.json's calibration records), `core`
(the maths), `rule` (the one decision per digit, `not_sure`, and per
read number, `string_not_sure`), `detector` (the digit detector). Fitting
a model's calibration on data sits above inference, in `mnistlab.train.calibrate`.
"""

from mnistlab.calibration.core import (
    SCORES,
    digit_score,
    expected_calibration_error,
    fit_temperature,
    shape_counts,
    threshold_at,
)
from mnistlab.calibration.rule import NotSure, StringVerdict, not_sure, string_not_sure
from mnistlab.calibration.types import Calibration, DetectorRule, FeatureRule, ReadingRule

__all__ = [
    "SCORES",
    "Calibration",
    "DetectorRule",
    "FeatureRule",
    "NotSure",
    "ReadingRule",
    "StringVerdict",
    "digit_score",
    "expected_calibration_error",
    "fit_temperature",
    "not_sure",
    "shape_counts",
    "string_not_sure",
    "threshold_at",
]
