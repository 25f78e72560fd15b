"""Real images into MNIST's form: the one preprocessing used by the CLI, the API and the page.

Real images first need the ink found: polarity, an uneven background, noise and specks, a digit
small in a whole photo, a digit cut out tight. The source's own artefacts (pixel blocks, a
print's dots) are undone first (inference.restore), and the ink found is shaped into MNIST's
28x28 field as LeCun's procedure made MNIST's digits (inference.field).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnistlab.inference.field import MIN_CONTRAST, NoDigitError, field_from_ink, ink_box
from mnistlab.inference.images import (
    DEFAULT_MAX_PIXELS,
    SOURCE_SCALE,
    WORK_SIZE,
    FullDetail,
    ImageError,
    ImageSource,
    open_with_detail,
    to_gray,
)
from mnistlab.inference.restore import MIN_SOURCE, piece_sizes, restore_source

# Ink must stand MIN_CONTRAST (inference.field) and this many noise standard deviations above
# the background.
MIN_SNR = 8.0
# A single digit is first looked for with the image reduced to COARSE_SIZE px on its longer
# side; if its ink spans fewer than REFINE_BELOW of those pixels, it is looked for again in a
# crop around it at up to WORK_SIZE (see find_digit_ink).
COARSE_SIZE = 200
FINER_SIZES = (WORK_SIZE, 2 * WORK_SIZE)  # where COARSE_SIZE found no ink (_finer_look)
FINEST_LOOK = 4 * WORK_SIZE  # ...and then in the file, where it was decoded reduced,
TILE = WORK_SIZE  # tile by tile (_tiled_look)
TILED_INK = 12  # px of the file: ink found there is a digit's only when its strong ink is this
# tall or wide (the digits this look is for are 20 px and taller; dust is specks of a few px)
REFINE_BELOW = 80
# A line of digits (mnistlab read) is looked for again the same way where it and a margin of
# its height span less than this share of the reduced image's longer side (find_line_ink).
CLOSER_SHARE = 0.5
# A digit whose ink touches the image's edge is analysed again with this much paper added
# around it (a fraction of the image's longer side), as a person would paste it on a page.
TIGHT_MARGIN = 0.3
# ...and strokes the crop cut off fade out over this fraction of its longer side (chosen on
# validation digits of 8-14 px sources cropped tight: 0.05 of 0.02-0.12, the most answered
# without losing best guesses).
FADE = 0.05
# ...on paper as light as the lightest PAPER_SHARE of the crop (the darkest, for light ink),
# when its ink spans at least CUT_OUT_SPAN of the image both ways (a digit cut out; a small
# digit that reaches the edge of a photo keeps the border's median: the photo's lightest 5%
# lies above its paper by its noise, and a margin that light hid 18 of 600 small-in-photo
# validation digits).
PAPER_SHARE = 0.05
CUT_OUT_SPAN = 0.5
# ...and where the median of its border lies between these fractions of the way from its
# darkest to its lightest value, the border cannot tell paper from ink (_cut_out_has_dark_ink).
UNDECIDED_BORDER = (0.3, 0.7)
# A 1 cut to its ink: an image narrower than BAR_ASPECT of its longer side (no other digit's
# box is that narrow) holds little or no paper, so neither its border nor its lightest pixels
# stand for the paper; the page lies beyond all of it (white, or black for light ink). And
# where BAR_SHARE percent of it is darker than BAR_DARKEST, it is dark ink, however its few
# light pixels fall, even with no contrast at all (a black-and-white scan cuts a 1 to a solid
# bar). A narrow crop in which the first look finds no ink, though it has contrast of its own
# (MIN_CONTRAST), is looked at again on a page too: a 1 from a 1-px source, enlarged smoothly,
# is a column of greys with no paper beside it. Found on validation 1s from 6-16 px sources cut
# tight and enlarged smoothly (resolution family): their lighter tones were taken for the
# paper, leaving the darkest specks ("3 separate marks"), or for the ink, or the bar was
# "blank". Deciding dark ink by the mean instead read 18 more of MNIST's own 553 validation 1s
# (white on black, cut tight) in negative.
BAR_ASPECT = 0.3
BAR_DARKEST = 0.5
BAR_SHARE = 90
# An image whose border is one exact value, as is at least this share of it, is a digital
# drawing: no noise to estimate (see _is_drawing).
DRAWING_SHARE = 0.5
# A background estimate holding values this far from the paper's level towards the ink's kept
# a stroke, not light (see _background). Chosen on validation digits of the fit families'
# kinds (seed 0, 200 per kind): 0.5 also caught 2 of 200 shadowed digits; 0.65 caught none, and
# strokes that fill their box were read right 96.5% of the time instead of 91.5%.
STROKE_KEPT = 0.65
# A digit of a number written much lighter than the rest (a pencil pressed lightly, one digit
# gone over again): Otsu's threshold falls between the paper and the darker digits, and a
# digit under it was dropped as paper ("2024" with a 4 of 35% of the others' darkness read
# a sure 202). In a line of digits (find_line_ink), ink this far from the paper's level
# towards the darker ink's (FAINT_SHARE), and FAINT_SIGMAS noise deviations above it, is a
# digit too when its piece is at least FAINT_HEIGHT of the tallest darker piece's height and
# stands beside them on the line, and its darkest strokes are under FAINT_PEAK of the line's;
# it is brought to the strength of the rest. Ink of such a piece lighter than that, yet
# TRACE_SHARE of the way, is left out, and the reader is not sure of the number: a digit
# written very lightly, or a rubbed-out digit's ghost?
FAINT_SHARE = 0.12
TRACE_SHARE = 0.05
_SHARES = (FAINT_SHARE, TRACE_SHARE)
FAINT_PEAK = 0.5  # ...and whose ink is this much lighter than the line's (partly found before)
FAINT_SIGMAS = 6.0
FAINT_HEIGHT = 0.5
FAINT_LARGEST = 1.5  # ...and no taller or wider than this: larger is a printed box or a grid


@dataclass(frozen=True)
class Preprocessed:
    """A digit in MNIST's form, and where it was found."""

    pixels: np.ndarray  # (28, 28) uint8, white ink on black: exactly what the model sees
    inverted: bool  # the source had dark ink on a light background
    bbox: tuple[int, int, int, int]  # the ink's (left, top, right, bottom) in the file's pixels


def steps_image(gray: np.ndarray, ink: np.ndarray, pixels: np.ndarray, height: int = 140):
    """The preprocessing's steps side by side, for --save-preview: the source in grey, the ink
    found (white on black, background and noise removed), and the 28x28 field the model saw."""
    Image = _pil_image()

    def panel(array: np.ndarray, smooth: bool):
        image = Image.fromarray(np.clip(np.rint(array * 255), 0, 255).astype(np.uint8))
        width = max(1, round(image.width * height / image.height))
        return image.resize((width, height), Image.BILINEAR if smooth else Image.NEAREST)

    panels = [panel(gray, True), panel(ink, True), panel(pixels / 255.0, False)]
    strip = Image.new("L", (sum(p.width for p in panels) + 8 * (len(panels) - 1), height), 128)
    x = 0
    for image in panels:
        strip.paste(image, (x, 0))
        x += image.width + 8
    return strip


def preprocess(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS) -> Preprocessed:
    """Any image (path, bytes, file object or PIL image) -> the 28x28 digit a model expects.

    Raises ImageError (or ImageTooLargeError) for unreadable input and NoDigitError for a blank one.
    """
    opened = open_with_detail(source, max_pixels)
    image, detail = opened.image, opened.detail
    digit = preprocess_array(to_gray(image), detail)
    scale = image.info.get(SOURCE_SCALE, 1.0)
    if scale == 1.0:
        return digit
    bbox = tuple(int(round(v * scale)) for v in digit.bbox)
    return Preprocessed(digit.pixels, digit.inverted, bbox)  # type: ignore[arg-type]


def preprocess_array(gray: np.ndarray, detail: FullDetail | None = None) -> Preprocessed:
    """The same, for a float (H, W) grayscale array in 0..1 (0 = black); `detail`: the file it
    was decoded from, reduced (find_digit_ink)."""
    ink = find_digit_ink(gray, detail)
    left, top, right, bottom = ink_box(ink.values)
    pixels = field_from_ink(ink.values[top:bottom, left:right])
    x0, y0, x1, y1 = ink.in_source((left, top, right, bottom))
    height, width = np.shape(gray)
    bbox = (  # inside the image: the ink of a cut-out digit may fade past its edge
        max(0, int(round(x0))),
        max(0, int(round(y0))),
        min(width, int(round(x1))),
        min(height, int(round(y1))),
    )
    return Preprocessed(pixels, ink.inverted, bbox)


@dataclass(frozen=True)
class Ink:
    """The ink of a whole image (or of the part of it around one digit), found but not yet
    cut into digits."""

    values: np.ndarray  # (h, w) float32 0..1 at working resolution; background and noise are 0
    scale: float  # source pixels per working pixel
    inverted: bool  # the source had dark ink on a light background
    origin: tuple[float, float] = (0, 0)  # the source pixel (x, y) at values[0, 0]
    traced: bool = False  # (a line) a digit's height of ink beside it too faint to read

    def in_source(self, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
        """A (left, top, right, bottom) box of `values` in the pixels of the array searched."""
        x0, y0 = self.origin
        left, top, right, bottom = box
        return (
            x0 + left * self.scale,
            y0 + top * self.scale,
            x0 + right * self.scale,
            y0 + bottom * self.scale,
        )


def find_ink(gray: np.ndarray, work_size: int = WORK_SIZE) -> Ink:
    """A float (H, W) grayscale array in 0..1 -> its ink, analysed at most `work_size` px on
    the longer side; raises NoDigitError when blank."""
    return _find_ink(restore_source(_checked_gray(gray)), work_size)


def _checked_gray(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"expected a 2-D grayscale array, got shape {gray.shape}")
    return gray


def _find_ink(gray: np.ndarray, work_size: int, line: bool = False) -> Ink:
    """find_ink for a checked array already brought back to its source (restore_source);
    `line`: a line of digits, in which a digit much fainter than the rest is ink too."""
    work, scale = _shrink(gray, work_size)
    if _is_drawing(work):
        work, inverted = _drawing_white_on_black(work)
        values, traced = _drawing_ink(work, line)
    else:
        work, inverted = _white_on_black(work)
        values, traced = _extract_ink(work, line)
    return Ink(values, scale, inverted, traced=traced)


def find_digit_ink(gray: np.ndarray, detail: FullDetail | None = None) -> Ink:
    """The ink of the one digit in an image: found at COARSE_SIZE, and where the digit turns
    out small there (a whole photo of a page), found again in a crop around it at full working
    resolution (from the file's own pixels, where `gray` was decoded from it reduced and
    `detail` can decode it again). Most images are analysed at COARSE_SIZE only: 3.7x fewer
    pixels than WORK_SIZE, and the same accuracy on every kind of `mnistlab bench robustness`
    (measured on validation digits, docs/RESULTS.md); a small digit in a large photo comes out
    sharper than at WORK_SIZE."""
    gray = restore_source(_checked_gray(gray))
    if _is_dark_bar(gray):
        return _with_margin(gray, cut_out=True)
    try:
        ink = _find_ink(gray, COARSE_SIZE)
    except NoDigitError:
        # a 1 cut to its ink may have no paper to stand out from: on a page it would
        if _is_narrow(gray) and float(np.ptp(gray)) >= MIN_CONTRAST:
            return _with_margin(gray, cut_out=True)
        ink = _finer_look(gray, detail)
        finer = True
    else:
        finer = False
    left, top, right, bottom = ink_box(ink.values)
    if _touches_border(ink.values, (left, top, right, bottom)):
        height, width = ink.values.shape
        spans = right - left >= CUT_OUT_SPAN * width and bottom - top >= CUT_OUT_SPAN * height
        # a narrow crop is a 1 cut out, whatever ink the first look found in it
        cut_out = spans or _is_narrow(gray)
        try:
            ink = _with_margin(gray, cut_out)
        except NoDigitError:
            # a digit only a finer look found, at the photo's edge: the margin's look at
            # COARSE_SIZE cannot see it either, so it is looked at up close from where it was
            if cut_out or not finer:
                raise
        if cut_out:
            return ink
        # Not a cut-out: the digit (or a speck or shadow) reached the edge of a whole photo at
        # the first look. The digit is as small as in any whole photo, so it is looked at
        # closely too (it was read from ~11 px: all 5 small-in-photo validation digits refused
        # with a right best guess, seed 11, had come this way).
    return _refined(gray, ink, detail)


def _finer_look(
    gray: np.ndarray, detail: FullDetail | None = None, looked: int = COARSE_SIZE
) -> Ink:
    """The ink of an image in which COARSE_SIZE showed none, looked for at FINER_SIZES while
    the image is larger than the last look: a digit a few millimetres tall on a whole page a
    phone photographed is 1-3 px at COARSE_SIZE, thinner than its strokes' blur (validation
    digits 30-50 px tall in a 4000x3000 JPEG: 42 of 60 "no digit found"). Where `gray` was
    decoded reduced, the last look is at the file's own pixels, reduced to FINEST_LOOK only
    (a digit 20-30 px tall in that JPEG is 5-7 px in the 1000 px it was decoded to). A blank
    image pays these looks too, and is still blank. `looked`: the size already looked at."""
    for size in FINER_SIZES:
        if size <= looked:
            continue
        if max(gray.shape) <= looked:
            break
        try:
            return _find_ink(gray, size)
        except NoDigitError:
            looked = size
    if detail is not None and max(gray.shape) * detail.scale > looked:
        height, width = gray.shape
        full = detail.gray_region((0, 0, width, height), FINEST_LOOK)
        if full is not None:
            work, scale = _shrink(restore_source(_checked_gray(full)), FINEST_LOOK)
            per_pixel = full.shape[1] / width  # full's pixels per pixel of `gray`
            ink = _tiled_look(work, scale / per_pixel * detail.scale)
            x0, y0 = ink.origin
            return Ink(
                ink.values,
                ink.scale * scale / per_pixel,
                ink.inverted,
                (x0 * scale / per_pixel, y0 * scale / per_pixel),
            )
    raise NoDigitError()


def _tiled_look(work: np.ndarray, file_per_work: float) -> Ink:
    """The ink in `work` (a whole photo at FINEST_LOOK; `file_per_work` of the file's pixels per
    pixel) looked for tile by tile (TILE px, overlapping by half): a digit 10-15 px tall is too
    small a share of the whole image for the ink's threshold (_extract_ink's Otsu split falls
    inside the paper's noise), but not of a tile's (validation digits 20-30 px tall in a
    4000x3000 JPEG). In each tile the largest connected piece of ink counts, and only where it
    is at least TILED_INK of the file's pixels tall or wide: dust and specks are not a digit. The
    piece with the most ink wins, and the ink is found again around it, with a margin of its
    size."""
    height, width = work.shape
    # A tile whose values, averaged over 3x3 px, span less than MIN_CONTRAST cannot hold ink
    # (_extract_ink asks at least that of the ink above its background): skipped, a blank
    # page's tiles mostly are.
    smooth = _box_blur(work, 1)
    best: tuple[float, tuple[int, int, int, int]] | None = None
    for top in range(0, max(1, height - TILE // 2), TILE // 2):
        for left in range(0, max(1, width - TILE // 2), TILE // 2):
            tile = work[top : top + TILE, left : left + TILE]
            if float(np.ptp(smooth[top : top + TILE, left : left + TILE])) < MIN_CONTRAST:
                continue
            try:
                found = _find_ink(tile, TILE)
            except NoDigitError:
                continue
            amount, (x0, y0, x1, y1) = _largest_piece(found.values)
            if max(x1 - x0, y1 - y0) * file_per_work < TILED_INK:
                continue
            if best is None or amount > best[0]:
                best = (amount, (left + x0, top + y0, left + x1, top + y1))
    if best is None:
        raise NoDigitError()
    x0, y0, x1, y1 = best[1]
    margin = max(x1 - x0, y1 - y0)
    left, top = max(0, x0 - margin), max(0, y0 - margin)
    around = work[top : y1 + margin, left : x1 + margin]
    ink = _find_ink(around, WORK_SIZE)
    return Ink(ink.values, ink.scale, ink.inverted, (left, top))


def _largest_piece(values: np.ndarray) -> tuple[float, tuple[int, int, int, int]]:
    """(its ink, its box) of the 8-connected piece of strong ink (at least half the strokes'
    level: not the soft edges _ink_values keeps around them) in `values` that holds the most."""
    from scipy import ndimage  # lazily: `mnistlab predict` starts without scipy

    labels, count = ndimage.label(values >= 0.5, structure=np.ones((3, 3), bool))
    if count == 0:
        return 0.0, (0, 0, 0, 0)
    amounts = ndimage.sum(values, labels, index=np.arange(1, count + 1))
    biggest = int(np.argmax(amounts)) + 1
    rows, cols = np.nonzero(labels == biggest)
    return float(amounts[biggest - 1]), (
        int(cols.min()),
        int(rows.min()),
        int(cols.max()) + 1,
        int(rows.max()) + 1,
    )


def _refined(gray: np.ndarray, ink: Ink, detail: FullDetail | None) -> Ink:
    """`ink`, found again at full working resolution in a crop around it where it is small
    (fewer than REFINE_BELOW working pixels: a digit in a whole photo of a page)."""
    left, top, right, bottom = ink_box(ink.values)
    if _finest(ink, detail) <= 1.0 or max(right - left, bottom - top) >= REFINE_BELOW:
        return ink
    return _closer_look(gray, ink, max(right - left, bottom - top), detail)


def _finest(ink: Ink, detail: FullDetail | None) -> float:
    """File pixels per working pixel of `ink`: above 1, a closer look has more to see."""
    return ink.scale * (detail.scale if detail is not None else 1.0)


def find_line_ink(gray: np.ndarray, detail: FullDetail | None = None) -> Ink:
    """find_ink for a line of digits (a number). Where the line and a margin of its height fill
    less than CLOSER_SHARE of a reduced image's longer side (a number in a whole photo of a
    page), it is found again in a crop around it, at up to WORK_SIZE: read from the whole
    photo, its digits were ~14 px tall (validation numbers 60 px tall in a 1600x1200 page: 38
    of 60 strings right, 5 sure, against 58 and 55 for the same numbers alone). Where `gray`
    was decoded reduced from a file (`detail`), the crop is the file's own pixels, and a line
    not seen at all is looked for as _finer_look looks for a digit (a number 20-30 px tall in a
    4000x3000 JPEG is 5-7 px tall as decoded)."""
    gray = restore_source(_checked_gray(gray))
    try:
        ink = _find_ink(gray, WORK_SIZE, line=True)
        whole = True
    except NoDigitError:  # a number a few millimetres tall in a whole photo: look closer
        if detail is None:
            raise
        ink = _finer_look(gray, detail, looked=WORK_SIZE)
        whole = False  # found in a part of the image: small in it, whatever its share here
    left, top, right, bottom = ink_box(ink.values)
    margin = bottom - top  # a line's height: room for the background statistics
    extent = max(right - left, bottom - top) + 2 * margin
    if _finest(ink, detail) <= 1.0 or (whole and extent >= CLOSER_SHARE * max(ink.values.shape)):
        return ink
    return _closer_look(gray, ink, margin, detail)


def _closer_look(gray: np.ndarray, ink: Ink, margin: int, detail: FullDetail | None) -> Ink:
    """`ink` (found in `gray` reduced) found again in a crop of `gray` around it, `margin`
    working pixels wider on every side, at up to WORK_SIZE; `ink` itself where the crop alone
    looks blank (very faint ink: keep the coarse view) or takes the other side for ink (the
    crop's border may be mostly stroke where the ink reached the image's edge). With `detail`
    (`gray` is a file decoded reduced), the crop is the file's own pixels there."""
    left, top, right, bottom = ink_box(ink.values)
    box = ink.in_source((left - margin, top - margin, right + margin, bottom + margin))
    x0, y0 = int(max(0, box[0])), int(max(0, box[1]))
    x1, y1 = int(min(gray.shape[1], np.ceil(box[2]))), int(min(gray.shape[0], np.ceil(box[3])))
    if x1 <= x0 or y1 <= y0:
        return ink
    region, per_pixel = gray[y0:y1, x0:x1], 1.0  # region pixels per pixel of `gray`
    if detail is not None and max(x1 - x0, y1 - y0) < WORK_SIZE:  # the file has more to see
        full = detail.gray_region((x0, y0, x1, y1), WORK_SIZE)  # _find_ink reduces to that
        if full is not None:
            region = restore_source(_checked_gray(full))
            per_pixel = full.shape[1] / (x1 - x0)
    try:
        fine = _find_ink(region, WORK_SIZE, line=True)
    except NoDigitError:
        return ink
    if fine.inverted != ink.inverted:
        return ink
    return Ink(fine.values, fine.scale / per_pixel, fine.inverted, (x0, y0), fine.traced)


def _is_narrow(gray: np.ndarray) -> bool:
    """Narrower than any digit's box but a 1's (BAR_ASPECT), and long enough to be one."""
    height, width = gray.shape
    return min(height, width) < BAR_ASPECT * max(height, width) and max(height, width) >= MIN_SOURCE


def _is_dark_bar(gray: np.ndarray) -> bool:
    """A narrow image nearly all darker than paper: a 1 of dark ink cut to its ink."""
    return _is_narrow(gray) and float(np.percentile(gray, BAR_SHARE)) < BAR_DARKEST


def _touches_border(values: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    left, top, right, bottom = box
    height, width = values.shape
    return left == 0 or top == 0 or right == width or bottom == height


def _with_margin(gray: np.ndarray, cut_out: bool) -> Ink:
    """The ink of a digit cut out to its strokes (a crop from a form or a scan), found again
    with paper added around it. Ink that touches every edge leaves the background and the
    noise to be estimated from the strokes themselves, and a crop of a small source has lost
    its soft edges; with a margin the same digit reads as it does on the page (validation
    digits, 8-14 px sources cropped tight: best guess right 92-94% -> 98%). `cut_out`: the ink
    spans the image (CUT_OUT_SPAN), so its border is part stroke; else it is paper."""
    margin = max(2, round(TIGHT_MARGIN * max(gray.shape)))
    # a digit that only reaches the edge of a larger picture: its border is paper
    paper = _paper_of_cut_out(gray) if cut_out else _border_level(gray)
    padded = np.pad(gray, margin, mode="edge")
    # strokes cut by the crop fade out over a few pixels, as their lost edges would have
    fade = max(1.0, FADE * max(gray.shape))
    distance = np.arange(margin, 0, -1, dtype=np.float32)
    ramp = np.clip(1.0 - distance / fade, 0.0, 1.0)
    weight = np.ones(padded.shape[0], np.float32)
    weight[:margin], weight[-margin:] = ramp, ramp[::-1]
    column = np.ones(padded.shape[1], np.float32)
    column[:margin], column[-margin:] = ramp, ramp[::-1]
    padded = paper + (padded - paper) * np.outer(weight, column)
    ink = _find_ink(padded, COARSE_SIZE)
    x0, y0 = ink.origin
    return Ink(ink.values, ink.scale, ink.inverted, (x0 - margin, y0 - margin))


def _paper_of_cut_out(gray: np.ndarray) -> float:
    """The paper's level around a digit cut out to its strokes: the extreme of the crop on the
    paper's side (_cut_out_has_dark_ink says which). Not the border's median: the edges of a
    crop cut to the ink of a small source are largely strokes, and their median lies between
    paper and ink, so the paper added was darker than the paper is and the strokes faded into
    it (validation digits from 6-8 px sources cut tight, enlarged: best guess right 85.5% ->
    90.2%, refused with a right best guess 14.0% -> 8.0%; the same cut digits on a margin of
    paper: 96.9%)."""
    dark_ink = _is_dark_bar(gray) or _cut_out_has_dark_ink(gray)
    if _is_narrow(gray):  # a 1 cut to its ink: no paper in it, the page is beyond all of it
        return 1.0 if dark_ink else 0.0
    step = max(1, max(gray.shape) // COARSE_SIZE)  # at most ~40,000 pixels place a percentile
    sample = gray[::step, ::step]
    share = 100.0 * PAPER_SHARE
    return float(np.percentile(sample, 100.0 - share if dark_ink else share))


def _cut_out_has_dark_ink(gray: np.ndarray) -> bool:
    """Which side of a cut-out digit is ink. The border says, as _white_on_black has it, when
    its median lies near one extreme. When it lies in the middle (UNDECIDED_BORDER: a small
    source cut to its ink has strokes along much of its edges), the pieces say: a digit's ink
    is one or two strokes, while the paper around it, cut at the ink's box, falls apart into
    its corners and the holes of 0, 6, 8 and 9; the side in fewer pieces is ink (a tie leaves it
    to the border). Counted at every cut-out it misjudged some clean ones (tight-crop: best
    guess right 99.5% -> 98.3%, validation); only where the border cannot tell it did not."""
    background, smooth = _border_and_smooth(gray)
    low, high = float(smooth.min()), float(smooth.max())
    dark_by_border = background - low > high - background
    where = (background - low) / max(high - low, 1e-6)  # 0: at the dark extreme
    if not UNDECIDED_BORDER[0] < where < UNDECIDED_BORDER[1]:
        return dark_by_border
    threshold = _otsu(smooth)
    smallest = max(1, smooth.size // 200)  # a speck of noise is no piece
    dark = _pieces(smooth <= threshold, smallest)
    light = _pieces(smooth > threshold, smallest)
    return dark < light if dark != light else dark_by_border


def _pieces(mask: np.ndarray, smallest: int) -> int:
    """How many 8-connected pieces of `mask` have at least `smallest` pixels."""
    from scipy import ndimage

    return int(np.count_nonzero(piece_sizes(mask, ndimage) >= smallest))


def _border(gray: np.ndarray, edge: int) -> np.ndarray:
    """The pixels within `edge` of the image's sides."""
    return np.concatenate(
        [gray[:edge].ravel(), gray[-edge:].ravel(), gray[:, :edge].ravel(), gray[:, -edge:].ravel()]
    )


def _pil_image():
    from PIL import Image

    return Image


def _shrink(gray: np.ndarray, limit: int) -> tuple[np.ndarray, float]:
    """Area-average down to `limit` px on the longer side; returns (image, source px per px)."""
    height, width = gray.shape
    longer = max(height, width)
    if longer <= limit:
        return gray, 1.0
    Image = _pil_image()
    size = (max(1, round(width * limit / longer)), max(1, round(height * limit / longer)))
    small = np.asarray(Image.fromarray(gray).resize(size, Image.BOX), dtype=np.float32)
    return small, longer / limit


def _border_level(gray: np.ndarray) -> float:
    """The median of the pixels along the image's sides (a 50th of its shorter side deep)."""
    return float(np.median(_border(gray, max(1, min(gray.shape) // 50))))


def _border_and_smooth(gray: np.ndarray) -> tuple[float, np.ndarray]:
    """(_border_level, the image area-averaged to 128 px): whichever extreme of the second lies
    farther from the first is ink; averaged, one stray pixel cannot be an extreme."""
    return _border_level(gray), _shrink(gray, 128)[0]


def _white_on_black(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Ink is whichever extreme lies farther from the background, estimated by the border."""
    background, smooth = _border_and_smooth(gray)
    if background - float(smooth.min()) > float(smooth.max()) - background:
        return 1.0 - gray, True
    return gray, False


def _extract_ink(work: np.ndarray, line: bool = False) -> tuple[np.ndarray, bool]:
    """White-on-black image -> ink intensities in 0..1 with background and noise set to 0;
    `line`: with the line's faint digits (FAINT_SHARE), and whether ink too faint to read was
    left out beside it (TRACE_SHARE; always False for a digit)."""
    residual = np.clip(work - _background(work), 0.0, None)
    radius = max(1, max(work.shape) // 200)
    blurred = _box_blur(residual, radius)  # averages noise away, so strokes stand out
    level, sigma = _robust_stats(blurred, shift=2 * radius + 1)
    core = blurred > max(_otsu(blurred), level + 4.0 * sigma)
    if not core.any():
        raise NoDigitError()
    ink = float(np.percentile(blurred[core], 90))
    if ink - level < max(MIN_CONTRAST, MIN_SNR * sigma):
        raise NoDigitError()
    noise_level, noise_sigma = _robust_stats(residual, with_spread=True)
    peak = float(np.percentile(residual[core], 90))
    floor = noise_level + 3.0 * noise_sigma
    values = _ink_values(residual, core, floor, peak, radius)
    if not line:
        return values, False
    above = blurred - level
    light, trace = (above > max(FAINT_SIGMAS * sigma, k * (ink - level)) for k in _SHARES)
    return _faint_digits(values, residual, core, peak, light, trace, floor, radius)


def _ink_values(
    residual: np.ndarray, core: np.ndarray, floor: float, peak: float, radius: int
) -> np.ndarray:
    """The last step of both ink paths: `residual` from `floor` (0) to `peak` (1), kept only
    near the `core` strokes. Ink is the strong strokes plus their anti-aliased edges; noise and
    specks away from the strokes are dropped, so they cannot stretch the bounding box."""
    support = _max_filter(core, radius + 2)
    values = np.clip((residual - floor) / max(peak - floor, 1e-6), 0.0, 1.0) * support
    values[values < 0.5 / 255] = 0.0
    if not values.any():
        raise NoDigitError()
    return values


def _is_drawing(work: np.ndarray) -> bool:
    """A digital drawing (the page's canvas, a PNG from a paint program): a background of one
    exact value, all along the border and over at least DRAWING_SHARE of the image. A photo or
    a scan never has one: sensor noise and JPEG vary every pixel a little."""
    level = work[0, 0]
    border_uniform = (
        (work[0] == level).all()
        and (work[-1] == level).all()
        and (work[:, 0] == level).all()
        and (work[:, -1] == level).all()
    )
    return bool(border_uniform) and np.count_nonzero(work == level) >= DRAWING_SHARE * work.size


def _drawing_white_on_black(work: np.ndarray) -> tuple[np.ndarray, bool]:
    """_white_on_black for a drawing: the background is known exactly and nothing is noise,
    so the extremes need no smoothing."""
    level = float(work[0, 0])
    if level - float(work.min()) > float(work.max()) - level:
        return 1.0 - work, True
    return work, False


def _drawing_ink(work: np.ndarray, line: bool = False) -> tuple[np.ndarray, bool]:
    """_extract_ink's steps for a white-on-black drawing: its background is one known value
    and it has no noise, so the background model, the noise statistics and the blur that
    averages noise away have nothing to do (they are most of the work); specks away from the
    strokes are still dropped. Measured on 2,000 page canvases of validation digits: the model reads
    the same digit as after the general steps for 99.95% of them, with the same accuracy
    (benchmarks/preprocess_paths.py)."""
    residual = np.clip(work - work[0, 0], 0.0, None)
    core = residual > _otsu(residual[::2, ::2])  # a two-level image: every other pixel will do
    if not core.any():
        raise NoDigitError()
    peak = float(np.percentile(residual[core], 90))
    if peak < MIN_CONTRAST:
        raise NoDigitError()
    radius = max(1, max(work.shape) // 200)
    values = _ink_values(residual, core, 0.0, peak, radius)
    if not line:
        return values, False
    light, trace = (residual > k * peak for k in _SHARES)
    return _faint_digits(values, residual, core, peak, light, trace, 0.0, radius)


def _faint_digits(
    values: np.ndarray,
    residual: np.ndarray,
    core: np.ndarray,
    line_peak: float,
    light: np.ndarray,
    trace: np.ndarray,
    floor: float,
    radius: int,
) -> tuple[np.ndarray, bool]:
    """`values` with the digits of a line written much fainter than the rest (FAINT_SHARE)
    found whole and brought from `floor` to their own strength, as the rest were brought from
    it to `line_peak` (_ink_values); and whether a digit's size of `trace` (TRACE_SHARE) was
    left out beside them. `light`, `trace`: the strokes over those thresholds, the darker
    ones' too."""
    from scipy import ndimage

    eight = np.ones((3, 3), bool)
    darker, _ = ndimage.label(core, structure=eight)
    tallest = max(s[0].stop - s[0].start for s in ndimage.find_objects(darker))
    rows = np.nonzero(core.any(axis=1))[0]

    def digit_sized(mask: np.ndarray):
        """(box, its piece there) for each piece of `mask` of a digit's size beside the digits,
        clear of the image's edges: not dust, nor a form's boxes, a grid or a ruled line, nor
        a shadow's edge, nor the noise of a photo's dark corner (a light digit's photo, uneven
        light through JPEG: 9 of 60 validation numbers read right were doubted for it, until
        the edges were left out). The box reaches radius + 2 past the piece, for the ink
        around its strokes."""
        labels, _ = ndimage.label(mask, structure=eight)
        reach = radius + 2
        for index, (down, across) in enumerate(ndimage.find_objects(labels), start=1):
            height, width = down.stop - down.start, across.stop - across.start
            if (
                FAINT_HEIGHT * tallest <= height <= FAINT_LARGEST * tallest
                and width <= FAINT_LARGEST * tallest
                and down.stop > rows[0]
                and down.start <= rows[-1]
                and min(down.start, across.start) > 0
                and down.stop < mask.shape[0]
                and across.stop < mask.shape[1]
            ):
                box = (
                    slice(max(0, down.start - reach), down.stop + reach),
                    slice(max(0, across.start - reach), across.stop + reach),
                )
                yield box, labels[box] == index

    def add(box: tuple[slice, slice], own: np.ndarray) -> None:
        peak = float(np.percentile(residual[box][own], 90))
        if peak >= FAINT_PEAK * line_peak or peak <= floor:
            return  # as dark as the rest (its ink is in `values`), or noise
        # a tenth of its ink is at `peak` or over it: some of it is at full strength
        near = values[box]  # a view: `values` changes with it
        np.maximum(near, _ink_values(residual[box], own, floor, peak, radius), out=near)

    # a faint digit apart from the rest, or one of which Otsu's threshold took a part (a digit
    # half faint, half as dark as the rest, stays as it was read: its faint half is no piece
    # of its own here, and would be the blur around dark ink as often)
    for box, own in digit_sized(light):
        add(box, own)
    traced = any(not values[box][own].any() for box, own in digit_sized(trace))
    return values, traced


def _robust_stats(
    values: np.ndarray, shift: int = 1, with_spread: bool = False
) -> tuple[float, float]:
    """(background level, noise standard deviation), whatever share of the image is ink.

    Both come from the background class below Otsu's threshold: the level is its median, the
    noise the median absolute difference between two of its pixels `shift` apart (beyond any
    blur), over sqrt(2); `with_spread`: or the background's own spread if larger (what is left
    of uneven light is smooth, yet must not count as faint ink). A plain median and MAD of all
    pixels would do while ink is a small share, but a digit cropped to its ink is 35-45% ink:
    they then measured the strokes, not the noise, and the digit was called blank (43 of 100
    tight crops in the issue).
    """
    # Every other row and column estimate these just as well, 4x faster (measured: the same
    # accuracy on every family of `mnistlab bench robustness --split val`); pairs `shift`
    # apart in the original are then ceil(shift / 2) apart here.
    step = values[::2, ::2]
    shift = max(1, (shift + 1) // 2)
    threshold = _otsu(step)
    background = step[step <= threshold]
    level = float(np.median(background if background.size else step))
    low = step <= threshold
    differences = np.concatenate(
        [
            (step[shift:, :] - step[:-shift, :])[low[shift:, :] & low[:-shift, :]],
            (step[:, shift:] - step[:, :-shift])[low[:, shift:] & low[:, :-shift]],
        ]
    )
    pixel_noise = 1.4826 * float(np.median(np.abs(differences))) / np.sqrt(2.0)
    pixel_noise = pixel_noise if differences.size else 0.0
    if not with_spread or not background.size:
        return level, pixel_noise
    return level, max(pixel_noise, 1.4826 * float(np.median(np.abs(background - level))))


def _background(work: np.ndarray) -> np.ndarray:
    """A smooth background (uneven lighting in photos): a morphological opening at low
    resolution, with a window of a third of the image, wide enough to erase a stroke of any
    usual pen. A stroke wider than that (a marker filling its box) outlives the opening and
    would be taken for paper, leaving a hollow outline of the digit: where the opening still
    holds ink-bright values (above STROKE_KEPT of the way from the paper's level to the ink's),
    the window is doubled until none is left (at most the whole image: a flat background)."""
    Image = _pil_image()
    height, width = work.shape
    small, _ = _shrink(work, 32)
    radius = max(2, max(small.shape) // 6)
    paper = float(np.median(_border(small, 1)))
    kept = paper + STROKE_KEPT * (float(np.percentile(small, 99)) - paper)
    opened = _max_filter(_min_filter(small, radius), radius)
    while float(opened.max()) > kept and radius < max(small.shape):
        radius *= 2
        opened = _max_filter(_min_filter(small, radius), radius)
    smooth = _box_blur(opened, 1)
    if smooth.shape == work.shape:
        return smooth
    return np.asarray(Image.fromarray(smooth).resize((width, height), Image.BILINEAR))


def _otsu(values: np.ndarray) -> float:
    """The threshold that best separates two classes of values (Otsu, 1979)."""
    top = float(values.max())
    if top <= 0:
        return 0.0
    bins = np.minimum((values * (256 / top)).astype(np.intp), 255)  # np.histogram, 5x faster
    counts = np.bincount(bins.ravel(), minlength=256)
    edges = np.linspace(0.0, top, 257)
    centers = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts).astype(np.float64)
    mass = np.cumsum(counts * centers)
    total_w, total_m = weight[-1], mass[-1]
    back = weight[:-1]
    fore = total_w - back
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_m * back - total_w * mass[:-1]) ** 2 / (back * fore)
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0)
    return float(edges[int(np.argmax(between)) + 1])


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, edges replicated (SciPy's separable C filter: 1.6x faster
    than running sums in NumPy, the same values to 1e-5)."""
    from scipy import ndimage

    return ndimage.uniform_filter(
        np.asarray(image, dtype=np.float32), size=2 * radius + 1, mode="nearest"
    )


def _max_filter(image: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation by a square window of side 2r+1 (a boolean mask grows by `radius` px)."""
    from scipy import ndimage

    return ndimage.maximum_filter(image, size=2 * radius + 1, mode="nearest")


def _min_filter(image: np.ndarray, radius: int) -> np.ndarray:
    from scipy import ndimage

    return ndimage.minimum_filter(image, size=2 * radius + 1, mode="nearest")
