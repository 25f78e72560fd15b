"""The helper networks mnistlab ships beside its classifiers (the digit detector,
calibration.detector; the one-digit reader, inference.one_digit): one loader for both.

Their weights are safetensors files in mnistlab/weights/, each pinned by SHA-256 in the module
that defines its network, so a changed file is an error naming it, never different answers.
Nothing is unpickled. Each is loaded once per process (per file and checksum), on first use.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from safetensors.torch import load as load_safetensors_bytes
from torch import nn

from mnistlab.errors import CheckpointError

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"  # the package's shipped files
REINSTALL = "reinstall mnistlab"  # what to do when a shipped file is missing or changed

Net = TypeVar("Net", bound=nn.Module)


def load_helper(path: str | Path, sha256: str, build: Callable[[], Net], what: str) -> Net:
    """`build()` with the weights of `path`, in eval mode. `sha256`: the file's pinned
    checksum ("" skips the check, for a network being developed); `what` names the network in
    errors. CheckpointError, naming the file, when it is missing, changed or not its weights."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(
            f"{path}: cannot read the {what} ({exc.strerror}); {REINSTALL}"
        ) from None
    found = hashlib.sha256(data).hexdigest()
    if sha256 and found != sha256:
        raise CheckpointError(
            f"{path}: the {what}'s SHA-256 does not match the one this mnistlab ships "
            f"({found[:12]}..., expected {sha256[:12]}...); {REINSTALL}"
        )
    net = build()
    try:
        net.load_state_dict(load_safetensors_bytes(data))
    except Exception as exc:  # a damaged file: safetensors and torch raise several kinds
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: the {what} is damaged ({first}); {REINSTALL}") from None
    return net.eval()


_LOCK = threading.Lock()


def shipped_helper(path: str | Path, sha256: str, build: Callable[[], Net], what: str) -> Net:
    """load_helper's network, loaded once per process for this file and checksum, whichever
    thread asks first (the others wait for it rather than loading it again)."""
    with _LOCK:
        return _cached(Path(path), sha256, build, what)


@functools.cache
def _cached(path: Path, sha256: str, build: Callable[[], nn.Module], what: str) -> nn.Module:
    return load_helper(path, sha256, build, what)
