"""Model folders: weights (safetensors), model.json, metrics.jsonl and the resume state.

This layer sits below both training (which writes folders) and inference (which reads them), so
loading a model for prediction never imports the training engine.

Nothing here unpickles untrusted data: weights load through safetensors and the resume state
through `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from mnistlab.data.normalize import NORMALIZATIONS
from mnistlab.errors import CheckpointError, MnistlabError
from mnistlab.files import write_bytes_atomic, write_json_atomic, write_jsonl_atomic
from mnistlab.models import create_model
from mnistlab.runs.ensemble import load_ensemble
from mnistlab.runs.features import attach_bank, load_bank
from mnistlab.runs.meta import FORMAT, RunMeta
from mnistlab.runs.names import META, METRICS, RESUME, STEPS, WEIGHTS  # noqa: F401 (re-exported)

REQUIRED_KEYS = ("format", "model", "config", "normalization")


def state_dict_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    # channels_last and device tensors -> contiguous CPU copies, the layout safetensors stores.
    model = getattr(model, "_orig_mod", model)  # unwrap torch.compile
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_weights(folder: Path, model: nn.Module) -> None:
    write_bytes_atomic(folder / WEIGHTS, save_safetensors_bytes(state_dict_for_saving(model)))


def save_meta(folder: Path, meta: RunMeta) -> None:
    """Write model.json atomically from its one type (a dict is a TypeError: build a RunMeta,
    or RunMeta.from_dict, so every model.json is checked the same way)."""
    if not isinstance(meta, RunMeta):
        raise TypeError(f"save_meta takes a RunMeta, not {type(meta).__name__}")
    write_json_atomic(Path(folder) / META, meta.to_dict())


def save_metrics(folder: Path, rows: list[dict]) -> None:
    write_jsonl_atomic(folder / METRICS, rows)


def save_steps(folder: Path, rows: list[dict]) -> None:
    write_jsonl_atomic(folder / STEPS, rows)


def save_resume_state(folder: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(folder / RESUME, buffer.getvalue())


def load_resume_state(folder: Path) -> dict[str, Any]:
    path = Path(folder) / RESUME
    if not path.is_file():
        raise CheckpointError(f"{path}: no resume state; this folder cannot be resumed")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable state is the same user problem
        raise CheckpointError(
            f"{path}: unreadable resume state ({type(exc).__name__}); start a new run"
        ) from None


def read_meta(folder: str | Path) -> RunMeta:
    """The folder's model.json as a RunMeta, checked: format, required keys, types."""
    folder = Path(folder)
    path = folder / META
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder; give a run folder made by `mnistlab train`")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; {folder} is not a mnistlab model folder")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc}); the file is damaged") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: missing {', '.join(missing)}; the file is damaged")
    if meta["format"] != FORMAT:
        raise CheckpointError(f"{path}: format {meta['format']!r}, expected {FORMAT!r}")
    if meta["normalization"] not in NORMALIZATIONS:  # else it would load, then fail per image
        known = ", ".join(NORMALIZATIONS)
        raise CheckpointError(
            f"{path}: unknown normalization {meta['normalization']!r} (known: {known}); "
            "the file is damaged"
        )
    return RunMeta.from_dict(meta, str(path))


def read_metrics(folder: str | Path) -> list[dict]:
    path = Path(folder) / METRICS
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise CheckpointError(f"{path}:{number}: not valid JSON") from None
    return rows


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    path = folder / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; the run did not finish an epoch")
    try:
        return load_safetensors_bytes(path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: truncated or corrupt weights ({exc}); retrain or restore the file"
        ) from None


def build_from_meta(meta: RunMeta, where: Path) -> nn.Module:
    try:
        return create_model(meta.model, **meta.config)
    except (MnistlabError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        # an edited config (a negative width, a string for a number) fails inside torch
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{where / META}: cannot rebuild the model ({first})") from None


def load_model(folder: str | Path) -> tuple[nn.Module, RunMeta]:
    """(model in eval mode on the CPU, its model.json) from a run or ensemble folder."""
    folder = Path(folder)
    meta = read_meta(folder)
    if meta.is_ensemble:
        return load_ensemble(folder, meta, lambda path: load_model(path)[0]), meta
    model = build_from_meta(meta, folder)
    weights = load_weights(folder)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"{folder / WEIGHTS}: does not match model {meta.model!r} ({first})"
        ) from None
    rule = meta.calibration.features if meta.calibration is not None else None
    bank = load_bank(folder, rule) if rule is not None else None
    if bank is not None:
        attach_bank(model, bank)
    return model.eval(), meta
