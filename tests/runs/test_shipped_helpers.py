"""models.shipped: the one loader of the shipped helper networks (detector, one-digit reader)."""

from __future__ import annotations

import hashlib
import threading

import pytest
import torch
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from mnistlab.calibration import detector
from mnistlab.errors import CheckpointError
from mnistlab.inference import one_digit
from mnistlab.models.shipped import load_helper, shipped_helper


def _tiny() -> nn.Module:
    return nn.Linear(3, 1)


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    data = save_safetensors_bytes({k: v.contiguous() for k, v in _tiny().state_dict().items()})
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_a_helper_loads_checked_and_in_eval_mode(weights):
    path, digest = weights
    net = load_helper(path, digest, _tiny, "tiny net")
    assert isinstance(net, nn.Linear) and not net.training


@pytest.mark.parametrize(
    "case, match",
    [
        ("changed", r"tiny\.safetensors: the tiny net.s SHA-256 does not match .*reinstall"),
        ("missing", r"gone\.safetensors: cannot read the tiny net .*reinstall mnistlab"),
        ("damaged", r"tiny\.safetensors: the tiny net is damaged .*reinstall mnistlab"),
    ],
)
def test_every_failure_names_the_file_and_what_to_do(weights, case, match):
    path, digest = weights
    if case == "changed":
        path.write_bytes(path.read_bytes()[:-1] + b" ")
    elif case == "missing":
        path = path.with_name("gone.safetensors")
    else:
        path.write_bytes(b"not safetensors")
        digest = ""  # the check skipped: the file itself is unreadable
    with pytest.raises(CheckpointError, match=match):
        load_helper(path, digest, _tiny, "tiny net")


def test_a_helper_is_loaded_once_whichever_threads_ask(weights):
    path, digest = weights
    builds = []

    def build() -> nn.Module:
        builds.append(1)
        return _tiny()

    got = []
    threads = [
        threading.Thread(target=lambda: got.append(shipped_helper(path, digest, build, "tiny")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and all(net is got[0] for net in got)


def test_both_shipped_helpers_go_through_the_one_loader():
    assert detector.shipped_detector() is detector.shipped_detector()
    assert one_digit.shipped_one_digit() is one_digit.shipped_one_digit()
    assert detector.shipped_detector() is shipped_helper(
        detector.FILE, detector.SHA256, detector.DigitDetector, detector.WHAT
    )
