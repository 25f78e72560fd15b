"""Labelled test images rendered from MNIST digits: what people photograph and draw.

- `digits`: one digit per image in conditions such as tight crops, sizes, pens, paper, light;
- `numbers`: a written number (2-8 digits) with gaps, touching pairs or jitter;
- `nondigits`: letters, scribbles, shapes and textures, for the "not sure" answer.

Everything is drawn from digits the caller passes in (the benchmarks pass MNIST's test or
validation split), so a suite is reproducible from (split, seed, count).
"""

from mnistlab.synth.digits import FAMILIES, render_digit
from mnistlab.synth.nondigits import NONDIGIT_KINDS, render_nondigit
from mnistlab.synth.numbers import NUMBER_KINDS, render_number

__all__ = [
    "FAMILIES",
    "NONDIGIT_KINDS",
    "NUMBER_KINDS",
    "render_digit",
    "render_nondigit",
    "render_number",
]
