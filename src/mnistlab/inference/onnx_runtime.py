"""The model's forward pass on ONNX Runtime, for serving (`mnistlab serve --backend onnx`).

A served digit costs one forward pass of a small model, where PyTorch's per-call overhead is much
of the time: measured on this project's 2-core CPU at one thread (benchmarks/backends.py), a
whole prediction of one digit takes 0.53 ms against 1.08 ms with LeNet-5, 0.61 ms against
1.55 ms with sota-cpu, the same answers on 1,000 validation digits.
The graph is exported in memory from the loaded model, so it always matches the weights; it
takes raw uint8 pixels and returns the logits and, when the model's calibration has a feature
rule, the similarity to its bank of training digits: the same two things PyTorch computes for
`Predictor.predict_pixels`, checked against it before the first answer.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import torch
from torch import nn

from mnistlab.calibration.core import features_and_logits, nearest_similarity
from mnistlab.data.normalize import normalize
from mnistlab.errors import MnistlabError
from mnistlab.inference.export import INPUT, TOLERANCE, check_images, onnx_bytes, onnx_modules
from mnistlab.runs.features import bank_of
from mnistlab.runs.meta import RunMeta


class _ServingGraph(nn.Module):
    """uint8 pixels -> (logits, similarity) or (logits,): what predict_pixels needs."""

    def __init__(self, model: nn.Module, normalization: str, bank: torch.Tensor | None):
        super().__init__()
        self.model, self.normalization, self.bank = model, normalization, bank

    def forward(self, pixels: torch.Tensor):
        x = normalize(pixels, self.normalization)
        if self.bank is None:
            return (self.model(x).float(),)
        features, logits = features_and_logits(self.model, x)
        return logits, nearest_similarity(features, self.bank)


def _onnxruntime():
    """onnxruntime, once onnx is there too: torch's exporter needs onnx to write the graph."""
    return onnx_modules("--backend onnx")[1]


def _session(graph: bytes, threads: int = 1):
    """An onnxruntime CPU session, by default with one thread: serve runs one forward pass per
    process at a time."""
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class OnnxForward:
    """`forward(batch)` -> (logits, similarity or None) for (N, 28, 28) uint8 digits, as
    `inference.predictor.logits_and_similarity` gives them, computed by onnxruntime on the CPU
    with one thread. The session is made on first use in each process (after `serve` forks
    its workers), from a graph exported once here."""

    def __init__(self, model: nn.Module, meta: RunMeta):
        _onnxruntime()  # fail at start, not at the first request
        calibration = meta.calibration
        bank = bank_of(model) if calibration and calibration.features else None
        self.has_similarity = bank is not None
        graph = _ServingGraph(model.eval(), meta.normalization, bank).eval()
        outputs = ["logits", "similarity"] if self.has_similarity else ["logits"]
        self._graph = onnx_bytes(graph, outputs)
        self._session = None
        self._lock = threading.Lock()
        self._check(graph)

    def __call__(self, batch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        outputs = self._run(np.ascontiguousarray(batch, dtype=np.uint8)[:, None])
        logits = torch.from_numpy(outputs[0])
        return logits, torch.from_numpy(outputs[1]) if self.has_similarity else None

    def _run(self, pixels: np.ndarray) -> list[np.ndarray]:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = _session(self._graph)
        return self._session.run(None, {INPUT: pixels})

    def _check(self, graph: _ServingGraph) -> None:
        """Refuse a graph whose answers differ from PyTorch's, on generated digit-like
        strokes and noise (the same on every machine)."""
        images = check_images().numpy()
        with torch.inference_mode():
            expected = graph(torch.from_numpy(images).unsqueeze(1))
        got = self._run(images[:, None])
        worst = max(
            float(np.abs(g - e.float().numpy()).max()) for g, e in zip(got, expected, strict=True)
        )
        self._session = None  # made again in each worker process
        if not worst <= TOLERANCE:  # also NaN
            raise MnistlabError(
                f"the ONNX graph differs from PyTorch by {worst:.2e} (> {TOLERANCE:.0e}); "
                "serve this model with --backend torch"
            )


class _DetectorGraph(nn.Module):
    """uint8 pixels (N, 1, 28, 28) -> the digit detector's (N,) scores."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.detector(pixels.float() / 255.0)


DETECTOR_TOLERANCE = 1e-3  # on scores of magnitude ~1-30; thresholds sit far wider apart


class OnnxDetector:
    """The digit detector on onnxruntime: `detector(batch)` -> (N,) scores for (N, 28, 28)
    uint8 digits, as calibration.detector.detector_scores gives them. A prediction pays the
    detector on every digit, and at one digit per call PyTorch's per-layer overhead is most of
    its cost: 1.09 ms against 0.28 ms on onnxruntime (one thread, this project's 2-core CPU;
    the scores equal to the printed digits). The session is made on first use in each process,
    with `threads` threads (more for scoring thousands of digits at once, as calibration does)."""

    def __init__(self, detector: nn.Module, threads: int = 1):
        _onnxruntime()
        self.threads = threads
        graph = _DetectorGraph(detector.eval()).eval()
        self._graph = onnx_bytes(graph, ["digit_score"])
        self._session = None
        self._lock = threading.Lock()
        images = check_images().numpy()
        with torch.inference_mode():
            expected = graph(torch.from_numpy(images).unsqueeze(1)).numpy()
        worst = float(np.abs(self(images).numpy() - expected).max())
        self._session = None  # made again in each worker process
        if not worst <= DETECTOR_TOLERANCE:  # also NaN
            raise MnistlabError(f"the detector's ONNX graph differs from PyTorch by {worst:.2e}")

    def __call__(self, batch: np.ndarray) -> torch.Tensor:
        if not len(batch):
            return torch.empty(0)
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = _session(self._graph, self.threads)
        pixels = np.ascontiguousarray(batch, dtype=np.uint8)[:, None]
        return torch.from_numpy(self._session.run(None, {INPUT: pixels})[0]).float()


@functools.cache
def fast_detector(threads: int = 1) -> OnnxDetector | None:
    """The shipped digit detector on onnxruntime, or None where onnx or onnxruntime is not
    installed (or the graph disagrees with PyTorch): the caller then runs it on PyTorch, with
    the same scores. Exported once per process and thread count (0.6 s); each process still
    makes its own session. `threads`: 1 for serving (one digit at a time per process), the
    caller's torch threads for scoring a whole split."""
    from mnistlab.calibration.detector import shipped_detector

    try:
        return OnnxDetector(shipped_detector(), threads)
    except MnistlabError:
        return None
