"""Self-contained ONNX export, checked against PyTorch with onnxruntime.

The exported graph takes raw pixels, uint8 (batch, 1, 28, 28), 0..255, white digit on black, as
MNIST stores them, and does the model's normalisation inside: an ONNX user needs no constants
from mnistlab. Its metadata names the model, the classes, the input and the preprocessing.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnistlab.data.normalize import NORMALIZATIONS, check_normalization, normalize
from mnistlab.errors import MnistlabError
from mnistlab.files import write_bytes_atomic
from mnistlab.runs.meta import RunMeta

OPSET = 17
# float32 through two runtimes: agreement to 1e-4 on logits is what "the same model" means here.
TOLERANCE = 1e-4
INPUT, OUTPUT = "pixels", "logits"
INPUT_DOC = (
    "uint8 (batch, 1, 28, 28), 0..255, white digit on black, centred by centre of mass in a "
    "20x20 box as MNIST's digits are (mnistlab.inference.preprocess brings real images to this)"
)


class RawPixelModel(nn.Module):
    """uint8 pixels in, the model's output out: the normalisation becomes part of the graph."""

    def __init__(self, model: nn.Module, normalization: str):
        super().__init__()
        self.model = model
        self.normalization = check_normalization(normalization)
        self.scale, self.shift = NORMALIZATIONS[self.normalization]  # for the metadata

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(normalize(pixels, self.normalization))


def onnx_modules(purpose: str = "ONNX export"):
    """(onnx, onnxruntime), the one place mnistlab imports them; `purpose` names what needs them
    in the error when they are missing.

    onnxruntime 1.32 writes a device id and a telemetry database into the user's cache
    (~/.cache/Microsoft/DeveloperTools/.onnxruntime) as soon as it is imported, unless
    ORT_DISABLE_TELEMETRY is set first. A digit reader has no business leaving an identifier in
    a home folder, so it is set here, before the first import, unless the user chose a value."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnx
        import onnxruntime
    except ModuleNotFoundError:
        raise MnistlabError(
            f"{purpose} needs onnx and onnxruntime: pip install 'mnistlab[onnx]'"
        ) from None
    return onnx, onnxruntime


def onnx_bytes(module: nn.Module, outputs: list[str]) -> bytes:
    """`module` as an ONNX graph: input INPUT, uint8 pixels (batch, 1, 28, 28); `outputs` named
    in order; the batch axis dynamic everywhere."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The TorchScript-based exporter is deprecated in favour of torch.export's, but that one
        # needs the extra `onnxscript` package; this one ships with torch and handles these models.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(2, 1, 28, 28, dtype=torch.uint8),),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in [INPUT, *outputs]},
        )
    return buffer.getvalue()


def export_onnx(
    model: nn.Module, meta: RunMeta, out: str | Path, classes: list[str] | None = None
) -> Path:
    """Write the model as ONNX: input uint8 pixels (batch, 1, 28, 28), normalised inside as
    model.json's "normalization" says; output (batch, classes)."""
    onnx, _ = onnx_modules()
    model = RawPixelModel(model.eval(), meta.normalization).eval()
    proto = onnx.load_model_from_string(onnx_bytes(model, [OUTPUT]))
    kind = meta.kind
    info = {
        "model": meta.model,
        "kind": kind,
        "classes": classes or [str(d) for d in range(10)],
        "input": INPUT_DOC,
        "output": "log-probabilities (an ensemble's averaged softmax)"
        if kind == "ensemble"
        else "logits: softmax gives the class probabilities",
        "preprocessing": f"inside the graph: x = pixel * {model.scale!r} + {model.shift!r} "
        f"({meta.normalization!r} normalisation)",
        "normalization": meta.normalization,
        "dataset": meta.dataset,
        "test_acc": meta.test_acc,
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
    batches of varying size so the dynamic batch axis is exercised too. PyTorch gets the
    normalised floats as in training; onnxruntime gets the raw pixels."""
    _, ort = onnx_modules()
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
        got = session.run([OUTPUT], {INPUT: chunk.unsqueeze(1).numpy()})[0]
        if got.shape != expected.shape:
            raise MnistlabError(f"ONNX output shape {got.shape} != PyTorch {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
        start += size
    return worst


def check_images(n: int = 64, seed: int = 0) -> torch.Tensor:
    """uint8 (n, 28, 28) images for checking an export where MNIST is absent: strokes drawn on
    black (digit-like inputs) and noise (the full 0..255 range), the same on every machine."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 28, 28)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    for i in range(n):
        if i % 4 == 3:
            images[i] = torch.rand(28, 28, generator=g) * 255
            continue
        for _ in range(3):  # three soft line segments from one random point to another
            (y0, x0), (y1, x1) = (torch.rand(2, 2, generator=g) * 16 + 6).tolist()
            t = torch.linspace(0, 1, 24)
            for y, x in zip(
                (y0 + (y1 - y0) * t).tolist(), (x0 + (x1 - x0) * t).tolist(), strict=True
            ):
                blob = torch.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 2.0) * 255
                images[i] = torch.maximum(images[i], blob)
    return images.round().clamp(0, 255).to(torch.uint8)
