"""On-device augmentation: identity, known translations, per-sample randomness, range."""

from __future__ import annotations

import math

import torch

from mnistlab.data.augment import (
    AugmentConfig,
    build_augment,
    matrices_from_params,
    random_affine,
    warp,
)


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


def test_integer_translation_moves_a_pixel_exactly():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 12] = 1.0
    zero = torch.zeros(1)
    theta = matrices_from_params(zero, zero, torch.ones(1), torch.tensor([[3.0, -2.0]]), 28)
    out = warp(x, theta)  # 3 px right, 2 px up
    assert out[0, 0].argmax().item() == 8 * 28 + 15
    assert abs(out[0, 0, 8, 15].item() - 1.0) < 1e-5 and abs(out.sum().item() - 1.0) < 1e-4


def test_rotation_by_90_degrees_turns_the_image():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 4:24, 13:15] = 1.0  # a vertical bar
    zero = torch.zeros(1)
    theta = matrices_from_params(
        torch.tensor([math.pi / 2]), zero, torch.ones(1), torch.zeros(1, 2), 28
    )
    out = warp(x, theta)
    torch.testing.assert_close(out, x.transpose(2, 3), atol=1e-4, rtol=0)  # now horizontal


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


def test_closed_form_inverse_matches_linalg():
    from mnistlab.data.augment import _inverse_2x2

    g = torch.Generator().manual_seed(0)
    m = torch.eye(2) + 0.3 * torch.randn(50, 2, 2, generator=g)
    torch.testing.assert_close(_inverse_2x2(m), torch.linalg.inv(m), atol=1e-5, rtol=1e-5)
