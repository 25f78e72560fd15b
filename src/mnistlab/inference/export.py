"""ONNX export with a dynamic batch dimension, checked against PyTorch with onnxruntime."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistlab.data.normalize import normalize
from mnistlab.errors import MnistlabError
from mnistlab.files import write_bytes_atomic

OPSET = 17
# float32 through two runtimes: agreement to 1e-4 on logits is what "the same model" means here.
TOLERANCE = 1e-4
INPUT, OUTPUT = "input", "logits"


def _onnx_modules():
    try:
        import onnx
        import onnxruntime
    except ModuleNotFoundError:
        raise MnistlabError(
            "ONNX export needs onnx and onnxruntime: pip install 'mnistlab[onnx]'"
        ) from None
    return onnx, onnxruntime


def export_onnx(model: nn.Module, meta: dict[str, Any], out: str | Path) -> Path:
    """Write the model as ONNX: input (batch, 1, 28, 28) float32, already normalised as
    model.json's "normalization" says (stored in the file's metadata too); output (batch, 10)."""
    onnx, _ = _onnx_modules()
    model = model.eval()
    example = torch.zeros(2, 1, 28, 28)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of torch.export's, but that one
        # needs the extra `onnxscript` package; this one ships with torch and handles these models.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
        )
    proto = onnx.load_model_from_string(buffer.getvalue())
    info = {
        "model": meta.get("model"),
        "kind": meta.get("kind", "single"),  # an ensemble outputs log-probabilities, not logits
        "normalization": meta.get("normalization"),
        "dataset": meta.get("dataset"),
        "test_acc": meta.get("test_acc"),
    }
    for key, value in info.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"mnistlab.{key}", json.dumps(value)
    onnx.checker.check_model(proto)
    return write_bytes_atomic(out, proto.SerializeToString())


def max_abs_difference(
    model: nn.Module,
    onnx_path: str | Path,
    images: torch.Tensor,
    normalization: str,
    batch_size: int = 500,
) -> float:
    """Largest |onnxruntime - PyTorch| over the outputs for uint8 images (N, 28, 28), run in
    batches of varying size so the dynamic batch axis is exercised too."""
    _, ort = _onnx_modules()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no per-session warnings on stderr
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    worst = 0.0
    sizes = [1, 7] + [batch_size] * (len(images) // batch_size + 1)
    start = 0
    for size in sizes:
        chunk = images[start : start + size]
        if len(chunk) == 0:
            break
        x = normalize(chunk.unsqueeze(1), normalization)  # (B, 1, 28, 28)
        with torch.inference_mode():
            expected = model(x).float().numpy()
        got = session.run([OUTPUT], {INPUT: x.numpy()})[0]
        if got.shape != expected.shape:
            raise MnistlabError(f"ONNX output shape {got.shape} != PyTorch {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
        start += size
    return worst
