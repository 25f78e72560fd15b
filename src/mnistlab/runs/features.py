"""The feature bank of a model folder: training digits' features (the input of the model's last
linear layer, L2-normalised), which the calibration's feature rule compares inputs with.

Stored as safetensors (nothing unpickled), as int8 (round(127 x), the rows being unit
vectors): a quarter of float32, so three shipped banks fit the wheel's size budget, and a
similarity moves by about 0.002 at most, far below the gap the threshold sits in (the rule is
fitted on the dequantized bank, so it sees exactly what is loaded). Its SHA-256 is in
model.json, so a bank that does not belong to the weights is an error, not a wrong answer.
A missing file is not an error: the calibration's logits rule is used instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from mnistlab.calibration.types import FeatureRule
from mnistlab.errors import CheckpointError
from mnistlab.files import write_bytes_atomic

KEY = "bank"
BUFFER = "digit_bank"  # the attribute a loaded model carries its bank in
SCALE = 127.0  # int8 steps per unit


def quantize(bank: torch.Tensor) -> torch.Tensor:
    """(rows, dim) unit rows -> int8, as the file stores them."""
    return (bank.detach().float().cpu() * SCALE).round().clamp(-127, 127).to(torch.int8)


def dequantize(stored: torch.Tensor) -> torch.Tensor:
    return stored.float() / SCALE


def bank_bytes(bank: torch.Tensor) -> bytes:
    """The file's bytes for a (rows, dim) bank of unit rows."""
    return save_safetensors_bytes({KEY: quantize(bank).contiguous()})


def save_bank(folder: Path, name: str, bank: torch.Tensor) -> str:
    """Write the bank atomically; returns the SHA-256 of what was written."""
    data = bank_bytes(bank)
    write_bytes_atomic(Path(folder) / name, data)
    return hashlib.sha256(data).hexdigest()


def load_bank(folder: Path, rule: FeatureRule) -> torch.Tensor | None:
    """(rows, dim) float32 bank, or None when the folder has no bank file (an older folder, or
    one copied without it); CheckpointError when the file is not the one model.json names."""
    path = Path(folder) / rule.file
    if not path.is_file():
        return None
    data = path.read_bytes()
    if rule.sha256 and hashlib.sha256(data).hexdigest() != rule.sha256:
        raise CheckpointError(f"{path}: does not match the SHA-256 in model.json (damaged?)")
    try:
        bank = load_safetensors_bytes(data)[KEY]
    except (SafetensorError, ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path}: unreadable feature bank ({exc})") from None
    if bank.dtype != torch.int8 or tuple(bank.shape) != (rule.rows, rule.dim):
        raise CheckpointError(
            f"{path}: a {bank.dtype} bank of shape {tuple(bank.shape)}; model.json says int8 "
            f"{(rule.rows, rule.dim)}"
        )
    return dequantize(bank)


def attach_bank(model: nn.Module, bank: torch.Tensor) -> None:
    """Keep the bank on the model as a non-persistent buffer: it follows model.to(device),
    and state_dict() (so saved weights and their keys) does not see it."""
    model.register_buffer(BUFFER, bank, persistent=False)


def bank_of(model: nn.Module) -> torch.Tensor | None:
    return getattr(model, BUFFER, None)
