"""train.helpers: the one loop that trains the shipped helper networks (detector, one-digit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mnistlab.calibration.detector import DigitDetector, as_input
from mnistlab.data.splits import load_splits
from mnistlab.errors import MnistlabError
from mnistlab.inference import one_digit
from mnistlab.train.helpers import HelperConfig, train_helper


def _old_detector_loop(x, y, epochs, width, batch, shift, seed=0):
    """scripts/train_detector.py's hand-written loop before the helper loop replaced it."""
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 7])
    inputs, targets = as_input(x), torch.from_numpy(y)
    net = DigitDetector(width)
    steps = epochs * (len(inputs) // batch)
    optimizer = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=steps)
    balance = torch.tensor(float((targets == 0).sum() / (targets == 1).sum()))
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(inputs)))
        for b in range(len(inputs) // batch):
            index = order[b * batch : (b + 1) * batch]
            dy, dx = (int(v) for v in rng.integers(-shift, shift + 1, 2))
            xb = torch.roll(inputs[index], (dy, dx), (2, 3))
            loss = F.binary_cross_entropy_with_logits(net(xb), targets[index], pos_weight=balance)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return net


def _old_one_digit_loop(fields, shapes, labels, epochs, seed=0):
    """scripts/train_one_digit.py's hand-written loop before the helper loop replaced it."""
    torch.manual_seed(seed)
    net = one_digit.OneDigitNet()
    x, s = one_digit.inputs(fields, shapes)
    y = torch.from_numpy(labels)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(y) + 255) // 256)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=generator).split(256):
            loss = F.binary_cross_entropy_with_logits(net(x[batch], s[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return net


@pytest.fixture(scope="module")
def digits_and_noise(real_data_dir):
    """(images, labels): 300 training digits (1) and 300 images of random specks (0)."""
    digits = load_splits("mnist", real_data_dir, download=False)["train"].images[:300].numpy()
    rng = np.random.default_rng(0)
    noise = ((rng.random((300, 28, 28)) < 0.15) * 255).astype(np.uint8)
    x = np.concatenate([digits, noise])
    return x, np.concatenate([np.ones(300), np.zeros(300)]).astype(np.float32)


def _same_weights(a, b) -> bool:
    return all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_the_helper_loop_trains_a_detector_bit_for_bit_as_the_old_script(digits_and_noise):
    x, y = digits_and_noise
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the shipped weights were made
    try:
        old = _old_detector_loop(x, y, epochs=2, width=4, batch=64, shift=2)
        cfg = HelperConfig(epochs=2, batch_size=64, order="numpy", shift=2, balance=True)
        torch.manual_seed(0)
        new = DigitDetector(4)
        train_helper(new, (as_input(x),), torch.from_numpy(y), cfg)
    finally:
        torch.set_num_threads(threads)
    assert _same_weights(old, new)


def test_the_helper_loop_trains_the_one_digit_net_bit_for_bit_as_the_old_script():
    rng = np.random.default_rng(1)
    fields = (rng.random((300, 28, 28)) * 255).astype(np.uint8)
    shapes = rng.random((300, 2)).astype(np.float32)
    labels = (rng.random(300) < 0.5).astype(np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        old = _old_one_digit_loop(fields, shapes, labels, epochs=2)
        torch.manual_seed(0)
        new = one_digit.OneDigitNet()
        cfg = HelperConfig(epochs=2, batch_size=256, order="torch")
        train_helper(new, one_digit.inputs(fields, shapes), torch.from_numpy(labels), cfg)
    finally:
        torch.set_num_threads(threads)
    assert _same_weights(old, new)


def test_a_detector_trained_by_the_helper_loop_tells_digits_from_noise(digits_and_noise):
    x, y = digits_and_noise
    held = np.arange(len(y)) % 5 == 0
    cfg = HelperConfig.from_dict({"epochs": 6, "batch_size": 32, "order": "numpy", "shift": 1})
    torch.manual_seed(0)
    net = DigitDetector(8)
    losses = train_helper(net, (as_input(x[~held]),), torch.from_numpy(y[~held]), cfg)
    assert losses[-1] < losses[0]
    with torch.inference_mode():
        said = net.eval()(as_input(x[held])).numpy() > 0
    assert (said == (y[held] > 0.5)).mean() >= 0.95


def test_a_helper_config_refuses_unknown_or_bad_options():
    with pytest.raises(MnistlabError, match="unknown option 'lr'"):
        HelperConfig.from_dict({"epochs": 1, "batch_size": 8, "lr": 0.1})
    with pytest.raises(MnistlabError, match="unknown order"):
        HelperConfig(epochs=1, batch_size=8, order="random")
    with pytest.raises(MnistlabError, match="shift needs"):
        HelperConfig(epochs=1, batch_size=8, shift=2)
