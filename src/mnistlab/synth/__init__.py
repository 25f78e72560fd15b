"""Labelled test images rendered from MNIST digits: what people photograph and draw.

- `digits`: one digit per image in conditions such as tight crops, sizes, pens, paper, light
  (`digital`: as image files bring them: low resolution, binarised, dithered, compressed);
- `families`: those kinds grouped into families, the unit a fit leaves out;
- `numbers`: a written number (2-8 digits) with gaps, touching pairs or jitter;
- `nondigits`: letters, scribbles, shapes and textures, for the "not sure" answer.

Everything is drawn from digits the caller passes in (the benchmarks pass MNIST's test or
validation split), so a suite is reproducible from (split, seed, count).
"""

# FAMILIES here is the old name of the first 22 kinds (digits.FIRST_KINDS), which the shipped
# detector and calibration were fit on; not mnistlab.synth.families.FAMILIES (family -> kinds).
from mnistlab.synth.digits import DIGIT_KINDS, FAMILIES, FIRST_KINDS, render_digit
from mnistlab.synth.families import HELD_OUT_FAMILIES, family_of
from mnistlab.synth.nondigits import NONDIGIT_KINDS, render_nondigit
from mnistlab.synth.numbers import NUMBER_KINDS, render_number

__all__ = [
    "DIGIT_KINDS",
    "FAMILIES",
    "FIRST_KINDS",
    "HELD_OUT_FAMILIES",
    "NONDIGIT_KINDS",
    "NUMBER_KINDS",
    "family_of",
    "render_digit",
    "render_nondigit",
    "render_number",
]
