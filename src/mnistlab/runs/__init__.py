"""Model folders, one layer below training and inference: read and write them, load single
models and ensembles, and resolve a folder or a shipped pretrained name."""

from mnistlab.runs.folder import load_model as load_folder
from mnistlab.runs.folder import read_meta, read_metrics
from mnistlab.runs.pretrained import (
    default_pretrained,
    list_pretrained,
    read_card,
    resolve_model,
)


def load_model(spec=None, notify=None):
    """(model in eval mode on the CPU, model.json) for a folder or a pretrained name
    (None: the default pretrained model)."""
    return load_folder(resolve_model(spec, notify))


__all__ = [
    "default_pretrained",
    "list_pretrained",
    "load_folder",
    "load_model",
    "read_card",
    "read_meta",
    "read_metrics",
    "resolve_model",
]
