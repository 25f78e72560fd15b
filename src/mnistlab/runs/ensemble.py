"""Ensemble folders: members' softmax outputs averaged, loaded like a single model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from mnistlab.errors import CheckpointError
from mnistlab.runs.meta import RunMeta
from mnistlab.runs.names import META


class Ensemble(nn.Module):
    """Returns log(mean softmax), so argmax and softmax downstream see the averaged
    probabilities."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([m(x).float().softmax(1) for m in self.members]).mean(0)
        return probs.clamp_min(1e-12).log()


def load_ensemble(
    folder: Path, meta: RunMeta, load_member: Callable[[Path], nn.Module]
) -> Ensemble:
    """The ensemble described by `meta`, each member loaded by `load_member(path)`."""
    members = meta.members
    if not members:
        raise CheckpointError(f"{folder / META}: an ensemble without members")
    models = []
    for member in members:
        if not isinstance(member, dict):
            raise CheckpointError(f"{folder / META}: each member must be an object with a path")
        path = (folder / str(member.get("path", ""))).resolve()
        if folder.resolve() not in path.parents:
            raise CheckpointError(
                f"{folder / META}: member path {member.get('path')!r} leaves the ensemble folder"
            )
        models.append(load_member(path))
    return Ensemble(models).eval()
