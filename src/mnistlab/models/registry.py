"""The model registry: families register with a decorator and are built by name.

Each entry holds the model class, its config dataclass and its training recipe (the defaults
`mnistlab train` uses for it), so a checkpoint that stores name + config rebuilds the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from mnistlab.errors import MnistlabError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type[nn.Module]
    config_cls: type
    recipe: dict[str, Any] = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, config: type, recipe: dict[str, Any] | None = None, description: str = ""
) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: `@register_model("lenet5", LeNet5Config, recipe={...})`."""

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(
            name,
            cls,
            config,
            dict(recipe or {}),
            description or (cls.__doc__ or "").strip().split("\n")[0],
        )
        return cls

    return decorate


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MnistlabError(
            f"unknown model {name!r}; known models: {', '.join(list_models())}"
        ) from None


def make_config(name: str, **config: Any):
    """The model's config dataclass, with unknown keys rejected by name."""
    entry = get_entry(name)
    known = {f.name for f in dataclasses.fields(entry.config_cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise MnistlabError(
            f"model {name!r} has no option {', '.join(unknown)}; its options: "
            f"{', '.join(sorted(known)) or 'none'}"
        )
    return entry.config_cls(**config)


def create_model(name: str, **config: Any) -> nn.Module:
    """Build a registered model; it returns logits (B, 10) for input (B, 1, 28, 28)."""
    entry = get_entry(name)
    return entry.cls(make_config(name, **config))


def model_config_dict(name: str, **config: Any) -> dict[str, Any]:
    """The full config (defaults filled in) as a JSON-ready dict."""
    return dataclasses.asdict(make_config(name, **config))
