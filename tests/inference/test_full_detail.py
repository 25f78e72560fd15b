"""A digit or a number a few millimetres tall in a phone's photo of a whole page: decoded reduced
(a 4000x3000 JPEG at 1/4), then found and read at the file's own pixels (images.FullDetail)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnistlab.inference import NoDigitError, open_image, preprocess, preprocess_array
from mnistlab.inference.images import open_with_detail, to_gray
from mnistlab.inference.reading import read_number
from mnistlab.synth import render
from mnistlab.synth.numbers import lay_out

FRAME = (3000, 4000)  # a 12-megapixel phone photo, landscape


def photo_jpeg(alpha: np.ndarray | None, rng: np.random.Generator) -> tuple[bytes, tuple]:
    """A JPEG (quality 90) of paper with sensor noise and the ink `alpha` (0..1) somewhere on
    it, dark blue; and the ink's (left, top) in the photo."""
    page = np.empty((*FRAME, 3), np.float32)
    page[:] = rng.uniform(225, 250, size=3)
    page += rng.normal(0, 4, (*FRAME, 1)).astype(np.float32)
    place = (0, 0)
    if alpha is not None:
        top = int(rng.integers(150, FRAME[0] - alpha.shape[0] - 150))
        left = int(rng.integers(150, FRAME[1] - alpha.shape[1] - 150))
        region = page[top : top + alpha.shape[0], left : left + alpha.shape[1]]
        ink = np.array([30, 30, 60], np.float32)
        region[:] = region * (1 - alpha[..., None]) + ink * alpha[..., None]
        place = (left, top)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue(), place


def test_a_digit_20_30_px_tall_in_a_12_megapixel_jpeg_is_read(predictor, test_split):
    """Decoded at 1/4 such a digit is 5-7 px tall: before, most were "no digit found" and the
    rest read from a blur (test digits, benchmarks/phone_photos: 47% right, 35% no digit).
    From the file's own pixels (validation, 40 digits: 40 right)."""
    rng = np.random.default_rng(31)
    right = 0
    for j in rng.integers(0, len(test_split), size=8):
        digit = test_split.images[j].numpy()
        alpha = render.crop_to_ink(render.ink_alpha(digit, float(rng.uniform(20, 30))))
        data, (left, top) = photo_jpeg(alpha, rng)
        answer = predictor.predict(data)
        right += answer.digit == int(test_split.labels[j])
        box = preprocess(data).bbox  # in the file's pixels
        drawn = (left, top, left + alpha.shape[1], top + alpha.shape[0])
        # within a few px of soft edges
        assert all(abs(a - b) <= 6 for a, b in zip(box, drawn, strict=True)), (box, drawn)
    assert right >= 7, right


def test_a_callers_jpeg_image_is_read_at_its_own_pixels_and_left_as_it_was(test_split):
    """An opened (not yet decoded) 4000x3000 JPEG passed as a PIL image: read as the file is,
    and the caller's image is not reduced by the reading (Pillow's draft mode changes it)."""
    rng = np.random.default_rng(36)
    alpha = render.crop_to_ink(render.ink_alpha(test_split.images[0].numpy(), 24.0))
    data, _ = photo_jpeg(alpha, rng)
    image = Image.open(io.BytesIO(data))
    as_image, as_file = preprocess(image), preprocess(data)
    assert image.size == (4000, 3000)
    # decoded whole and box-averaged, not at a JPEG's draft scale: within a pixel or three
    assert all(abs(a - b) <= 3 for a, b in zip(as_image.bbox, as_file.bbox, strict=True))
    assert np.abs(as_image.pixels.astype(int) - as_file.pixels.astype(int)).mean() < 12


def test_specks_on_a_blank_page_are_no_digit(predictor):
    """Dust 4-10 px across on a whole-page photo: the tile-by-tile look does not take a speck,
    or specks far apart, for a digit (a review found both answered: "8891", not sure)."""
    rng = np.random.default_rng(37)
    alpha = np.zeros((2600, 3600), np.float32)
    for _ in range(15):
        side = int(rng.integers(4, 11))
        y, x = int(rng.integers(0, 2600 - side)), int(rng.integers(0, 3600 - side))
        alpha[y : y + side, x : x + side] = 1.0
    data, _ = photo_jpeg(alpha, rng)
    with pytest.raises(NoDigitError):
        preprocess(data)
    with pytest.raises(NoDigitError):
        read_number(predictor, data)


def test_the_premise_decoded_reduced_the_digit_is_lost():
    """The same kind of photo, with no closer look at the file: no digit (or a blur)."""
    rng = np.random.default_rng(32)
    alpha = render.crop_to_ink(render.ink_alpha(seven_of_ink(), 22.0))
    data, _ = photo_jpeg(alpha, rng)
    image = open_image(data)
    assert max(image.size) == 1000  # decoded at 1/4
    with pytest.raises(NoDigitError):
        preprocess_array(to_gray(image))
    assert preprocess(data).pixels.max() > 200  # with the file's pixels it is found


def seven_of_ink() -> np.ndarray:
    """A 28x28 7 drawn as MNIST's digits are (white on black, uint8)."""
    field = np.zeros((28, 28), np.uint8)
    field[5:8, 6:22] = 255
    for row in range(8, 24):
        col = 21 - (row - 8) * 8 // 16
        field[row, col - 1 : col + 2] = 255
    return field


def test_a_number_20_30_px_tall_in_a_12_megapixel_jpeg_is_read(predictor, test_split):
    """Validation, 20 numbers of 2-6 digits: 11 strings right (5 sure) before, 20 (17 sure)
    from the file's own pixels; none sure and wrong either way."""
    rng = np.random.default_rng(33)
    right = 0
    for _ in range(6):
        chosen = rng.integers(0, len(test_split), size=int(rng.integers(2, 6)))
        truth = "".join(str(int(test_split.labels[j])) for j in chosen)
        ink, placed = lay_out([test_split.images[j].numpy() for j in chosen], rng, False, False)
        factor = float(rng.uniform(20, 30)) / max(a.shape[0] for a, _, _ in placed)
        alpha = render.crop_to_ink(ink)
        size = (round(alpha.shape[1] * factor), round(alpha.shape[0] * factor))
        small = np.asarray(Image.fromarray(alpha).resize(size, Image.LANCZOS)).clip(0, 1)
        data, (left, top) = photo_jpeg(small, rng)
        reading = read_number(predictor, data)
        right += reading.number == truth
        first = reading.digits[0].box
        assert abs(first[0] - left) <= 4 and abs(first[1] - top) <= 6, (first, left, top)
    assert right >= 5, right


def test_blank_paper_in_a_12_megapixel_jpeg_is_still_blank(predictor):
    data, _ = photo_jpeg(None, np.random.default_rng(34))
    with pytest.raises(NoDigitError):
        preprocess(data)
    with pytest.raises(NoDigitError):
        read_number(predictor, data)


def test_every_kind_of_source_is_decoded_again_alike(tmp_path):
    """Bytes, a path, a seekable file and a PIL image give the same region of
    the file; a small image (decoded whole) and a pipe (read once) give no FullDetail."""
    rng = np.random.default_rng(35)
    page = rng.integers(0, 256, (1600, 2000), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, "PNG")
    data = buffer.getvalue()
    path = tmp_path / "page.png"
    path.write_bytes(data)
    stream = io.BytesIO(data)  # read to its end by the first decode, sought back after
    box = (100, 50, 140, 75)  # decoded pixels: the image was halved (2000 -> 1000)
    want = page[100:150, 200:280].astype(np.float32) / 255.0
    for source in (data, path, str(path), stream, Image.open(io.BytesIO(data))):
        opened = open_with_detail(source)
        image, detail = opened.image, opened.detail
        assert max(image.size) == 1000 and detail is not None and detail.scale == 2.0
        region = detail.gray_region(box)
        assert region is not None and np.array_equal(region, want), type(source)
        assert detail.gray_region(box, longest=40).shape == (25, 40)  # halved again
    small = io.BytesIO()
    Image.fromarray(page[:300, :300]).save(small, "PNG")
    assert open_with_detail(small.getvalue()).detail is None

    class Pipe(io.RawIOBase):  # a stream that cannot seek back
        def __init__(self, payload: bytes) -> None:
            self._data = io.BytesIO(payload)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            chunk = self._data.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

        def seekable(self) -> bool:
            return False

    assert open_with_detail(io.BufferedReader(Pipe(data))).detail is None


@pytest.mark.parametrize(
    ("box", "width", "decodes"),
    [((2000, 1500, 3400, 3400), 120, 0), ((2000, 1500, 2020, 1530), 3, 1)],
)
def test_the_file_is_decoded_again_only_where_it_has_more_to_see(box, width, decodes):
    """A large digit in a large image is read from the image as decoded (the file, decoded
    again, would cost a second full decode: ~0.4 s and ~40 MB more for a 5400x5400 PNG);
    a small one in the same image is read from the file."""
    from mnistlab.inference.images import FullDetail
    from mnistlab.inference.preprocess import find_digit_ink

    image = Image.new("L", (5400, 5400), 245)
    left, top, right, bottom = box
    ImageDraw.Draw(image).line(
        [(left, top), (right, top), ((left + right) // 2, bottom)], 30, width
    )
    opened = open_with_detail(image)
    assert opened.detail is not None
    calls = []

    def reopen():
        calls.append(1)
        return image

    scale = opened.detail.scale
    detail = FullDetail(reopen, opened.image.size, scale, owned=False, closes=False)
    find_digit_ink(to_gray(opened.image), detail)
    assert len(calls) == decodes
