"""A source's artefacts undone before the ink is found (inference.preprocess): a small image
enlarged by repeating pixels is read back at its own grid and resampled smoothly, and the dots
of a dithered or screened print are averaged into the greys they stand for. MNIST's digits have
neither; the classifier and the "not sure" rules should see the digit, not its source.
"""

from __future__ import annotations

import numpy as np

from mnistlab.inference.field import MIN_CONTRAST

# An image enlarged from a small source by repeating pixels (nearest neighbour: a scan or a
# screenshot zoomed in) is resampled smoothly from that source first when at least this share
# of its varied rows and columns repeat the one before (a factor of 2 repeats half of them).
BLOCKY_SHARE = 0.45
MIN_SOURCE = 6  # px: no digit can be read from fewer rows (or columns, lying down)...
MIN_SOURCE_SIDE = 2  # ...and a tight crop of a 1 may be this narrow (a 1 from an 8-px source)
SAME_LEVEL = 1.0 / 255  # rows this close are the same (one level of an 8-bit image)
# A print of only two levels (black and white dots, a fax, a dithered printout): at least this
# share of its pixels at exactly its darkest or lightest value.
TWO_LEVEL_SHARE = 0.995
# ...made of dots: at least this share of its pixels in specks of one level among the other
# (a dithered paper tone). The dots are averaged by a Gaussian of half their typical spacing
# (a low-pass at the screen's period, as descreening is done), DOT_SIGMA to MAX_DOT_SIGMA
# source pixels.
DOTS_SHARE = 0.005
DOT_SIGMA = 1.0
MAX_DOT_SIGMA = 3.0  # a stroke of a digit 24 px tall is ~3 px wide: wider would erase it
DOT_SIGMA_SHARE = 24  # ...and at most the image's shorter side over this (strokes are ~1/8 of
# a digit's height: a small print's strokes would be smeared into its loops)
MIN_DOTS = 8  # a screen has dozens of dots; a thresholded scan a few specks (loops, corners
# of paper a tight crop cuts off, noise), which a blur would only soften
DOT_AREA = 9  # px: a speck this small or smaller is a dot (a 3x3 block at most)


def restore_source(gray: np.ndarray) -> np.ndarray:
    """`gray` as its source looked, resampled smoothly, when it is a small image enlarged by
    repeating pixels or a two-level print whose greys are dots; else `gray` itself.

    MNIST's digits were reduced from fine scans with anti-aliasing. Pixel blocks are hard steps
    no MNIST digit has, and the "not sure" rules rightly find them strange (validation digits
    from 8-14 px sources enlarged 6-10x by nearest neighbour: 18% refused although the best
    guess was right, 1% after this). The dots of a dithered or screened print are read as
    specks of ink all over the paper; averaged over the screen's period they are the greys
    they stand for (descreening)."""
    height, width = gray.shape
    row_block = _block_size(gray)
    col_block = _block_size(gray.T) if row_block is not None else None
    source = gray
    if _enlarged(row_block, col_block, gray.shape):
        # one pixel per block, from each block's centre: (h, w), the source as it was
        rows = ((np.arange(round(height / row_block)) + 0.5) * row_block).astype(np.intp)
        cols = ((np.arange(round(width / col_block)) + 0.5) * col_block).astype(np.intp)
        source = gray[np.ix_(np.minimum(rows, height - 1), np.minimum(cols, width - 1))]
    source = _descreened(source)
    if source is gray:
        return gray
    if source.shape != gray.shape:
        from PIL import Image

        source = np.asarray(Image.fromarray(source).resize((width, height), Image.BICUBIC))
    return np.clip(np.asarray(source, dtype=np.float32), 0.0, 1.0)


def _enlarged(row_block: float | None, col_block: float | None, shape) -> bool:
    """Whether blocks of these sizes are pixels enlarged by a viewer: square blocks (the
    same factor both ways) of a source at least MIN_SOURCE px long and MIN_SOURCE_SIDE wide
    (cut to its ink, a digit from a 7 px source can be 4 px wide, a 1 two). A drawing of
    straight strokes repeats its rows or columns too, in runs as long as the strokes."""
    if row_block is None or col_block is None:
        return False
    square = max(row_block, col_block) <= 1.5 * min(row_block, col_block)
    sides = sorted((shape[0] / row_block, shape[1] / col_block))
    return square and sides[1] >= MIN_SOURCE and sides[0] >= MIN_SOURCE_SIDE


def _some_rows_repeat(gray: np.ndarray, probes: int = 24) -> bool:
    """A cheap first look (a served page pays it on every canvas): of `probes` pairs of
    neighbouring rows across the middle of the image, do at least 5 varied ones repeat? An
    enlargement by 2 repeats half of its rows, so it passes but for 1 in 1,000 images (the
    binomial tail); a smooth image or a drawing repeats only its blank rows."""
    height = gray.shape[0]
    start, span = height // 5, max(1, (3 * height) // 5 - 1)
    rows = start + np.arange(probes) * span // (probes - 1)  # (probes,), across the middle
    first, second = gray[rows], gray[rows + 1]  # (probes, W) each
    varied = np.ptp(first, axis=1) > SAME_LEVEL
    repeats = (np.abs(second - first) <= SAME_LEVEL).all(axis=1) & varied
    return int(repeats.sum()) >= 5


def _maybe_two_level(sample: np.ndarray) -> bool:
    """A cheap first look at every 16th pixel: hardly any between its darkest and lightest."""
    low, high = sample.min(), sample.max()
    between = np.count_nonzero((sample > low) & (sample < high))
    return between <= (1.0 - TWO_LEVEL_SHARE) * sample.size + 1


def _descreened(gray: np.ndarray) -> np.ndarray:
    """A two-level print made of dots (dithered, screened: many small specks of one level
    among the other, where a drawing or a thresholded scan has solid strokes) low-passed at
    the dots' spacing; else `gray`."""
    if min(gray.shape) < 3 or not _maybe_two_level(gray[::4, ::4]):
        return gray
    low, high = float(gray.min()), float(gray.max())
    if high - low < MIN_CONTRAST:
        return gray
    dark = gray == low
    if np.count_nonzero(dark | (gray == high)) < TWO_LEVEL_SHARE * gray.size:
        return gray
    from scipy import ndimage

    # specks of either level: the paper's tone as dark dots, a stroke's grey as light holes;
    # 8-connected, so the diagonal steps of a thin binarised stroke are one stroke, not dots
    specks = [_specks(dark, ndimage), _specks(~dark, ndimage)]
    count = max(n for n, _ in specks)
    if sum(pixels for _, pixels in specks) < DOTS_SHARE * gray.size or count < MIN_DOTS:
        return gray
    # dots spread evenly are sqrt(area / dots) apart; a Gaussian of half that leaves a
    # screen's ripple at a few percent of its contrast
    widest = min(MAX_DOT_SIGMA, min(gray.shape) / DOT_SIGMA_SHARE)
    sigma = float(np.clip(0.5 * np.sqrt(gray.size / count), DOT_SIGMA, max(DOT_SIGMA, widest)))
    # mirrored at the border without repeating its pixels: a dot in a corner (an ordered
    # dither's darkest threshold sits there) would otherwise weigh as several and read as ink
    return ndimage.gaussian_filter(gray, sigma, mode="mirror")


def _specks(mask: np.ndarray, ndimage) -> tuple[int, int]:
    """(how many, how many pixels): the 8-connected pieces of `mask` of at most DOT_AREA
    pixels (a dot of a screen, enlarged up to 3x)."""
    sizes = piece_sizes(mask, ndimage)
    small = sizes <= DOT_AREA
    return int(small.sum()), int(sizes[small].sum())


def piece_sizes(mask: np.ndarray, ndimage) -> np.ndarray:
    """The pixel count of each 8-connected piece of `mask` (none: empty): 8-connected, so the
    diagonal steps of a thin stroke are one piece."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if not count:
        return np.zeros(0, np.intp)
    return np.bincount(labels.ravel())[1:]


def _block_size(gray: np.ndarray) -> float | None:
    """The rows per source row when the varied rows (not one flat value: the digit's, not
    the blank paper's) repeat in blocks of at least 2, else None. A non-integer enlargement
    repeats rows floor(f) or ceil(f) times; blank source rows merge into longer runs, so the
    size comes from the runs of varied rows near the typical length."""
    if gray.shape[0] < 4 or not _some_rows_repeat(gray):
        return None
    same = (np.abs(np.diff(gray, axis=0)) <= SAME_LEVEL).all(axis=1)  # (H - 1,)
    varied = np.ptp(gray, axis=1) > SAME_LEVEL  # (H,)
    pairs = varied[1:] & varied[:-1]
    if pairs.sum() < 4 or same[pairs].mean() < BLOCKY_SHARE:
        return None
    starts = np.concatenate([[0], np.flatnonzero(~same) + 1, [gray.shape[0]]])
    lengths = np.diff(starts)[varied[starts[:-1]]]
    typical = lengths[lengths <= 1.5 * np.median(lengths)]
    size = float(typical.mean())
    return size if size >= 1.5 else None
