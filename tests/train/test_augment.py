"""On-device augmentation: identity, known translations, per-sample randomness, range."""

from __future__ import annotations

import torch

from mnistlab.data.augment import AugmentConfig, build_augment, random_affine


def _images(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g)


def test_identity_parameters_leave_images_unchanged():
    x = _images()
    torch.testing.assert_close(random_affine(x, AugmentConfig()), x, atol=1e-5, rtol=0)


def test_pure_translation_moves_a_known_pixel():
    x = torch.zeros(64, 1, 28, 28)
    x[:, 0, 10, 12] = 1.0
    out = random_affine(x, AugmentConfig(translate=3.0), torch.Generator().manual_seed(1))
    # A translation of t pixels moves the dot by t; bilinear sampling spreads it over at most
    # 2x2 pixels around (10 + dy, 12 + dx), keeping its mass.
    torch.testing.assert_close(out.sum((1, 2, 3)), torch.ones(64), atol=1e-4, rtol=0)
    for image in out[:, 0]:
        rows, cols = image.nonzero(as_tuple=True)
        assert rows.min() >= 10 - 3 - 1 and rows.max() <= 10 + 3 + 1
        assert cols.min() >= 12 - 3 - 1 and cols.max() <= 12 + 3 + 1


def test_integer_translation_is_exact():
    # translate=2 with a generator whose draws we replay: dx, dy in pixels, then the dot
    # must land where they say.
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 12] = 1.0
    from mnistlab.data import augment

    theta = augment.affine_matrices(1, AugmentConfig(), 28, None, x.device)
    theta[0, 0, 2] = -2 * 3 / 28  # output(x) = input(x - 3): content moves right by 3
    theta[0, 1, 2] = -2 * -2 / 28  # and up by 2
    grid = torch.nn.functional.affine_grid(theta, [1, 1, 28, 28], align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, align_corners=False)
    assert out[0, 0].argmax().item() == 8 * 28 + 15
    assert abs(out[0, 0, 8, 15].item() - 1.0) < 1e-5


def test_each_image_gets_its_own_transform():
    x = _images(1).repeat(16, 1, 1, 1)
    torch.manual_seed(0)
    out = build_augment({"rotate": 15.0, "scale": 0.1, "translate": 2.0})(x)
    flat = out.flatten(1)
    distinct = {tuple(row.round(decimals=4).tolist()) for row in flat}
    assert len(distinct) == 16


def test_output_stays_in_range_and_shape():
    x = _images(32)
    torch.manual_seed(3)
    out = build_augment(
        {"rotate": 30.0, "scale": 0.3, "shear": 20.0, "translate": 4.0, "elastic": 2.0}
    )(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1


def test_seeded_augmentation_is_reproducible():
    x = _images(4)
    a = build_augment({"rotate": 10.0}, seed=7)(x)
    b = build_augment({"rotate": 10.0}, seed=7)(x)
    assert torch.equal(a, b)
