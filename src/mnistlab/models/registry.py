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


@dataclass(frozen=True)
class Variant:
    """A named configuration of a family (timm-style `convnet-sota`): the family's name and the
    options that differ from its defaults. Checkpoints record the family and the full config."""

    name: str
    family: str
    config: dict[str, Any]
    description: str


_VARIANTS: dict[str, Variant] = {}


def register_variant(name: str, family: str, description: str, **config: Any) -> None:
    if name in _REGISTRY or name in _VARIANTS:
        raise ValueError(f"model {name!r} is registered twice")
    make_config(family, **config)  # its options must exist
    _VARIANTS[name] = Variant(name, family, dict(config), description)


def list_variants() -> dict[str, Variant]:
    return dict(sorted(_VARIANTS.items()))


def resolve_variant(name: str, config: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(family, config) for a family or variant name; given options override the variant's."""
    config = dict(config or {})
    if name in _VARIANTS:
        variant = _VARIANTS[name]
        return variant.family, {**variant.config, **config}
    return name, config


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
    """Families and named variants, e.g. ['cnn', 'convnet', 'convnet-sota', ...]."""
    return sorted([*_REGISTRY, *_VARIANTS])


def list_families() -> list[str]:
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of a family, or of a variant's family."""
    try:
        return _REGISTRY[resolve_variant(name)[0]]
    except KeyError:
        raise MnistlabError(
            f"unknown model {name!r}; known models: {', '.join(list_models())}"
        ) from None


def make_config(name: str, **config: Any):
    """The model's config dataclass, with unknown keys rejected by name."""
    name, config = resolve_variant(name, config)
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
    """Build a registered model (a family or a named variant); it returns logits (B, 10) for
    input (B, 1, 28, 28)."""
    family, config = resolve_variant(name, config)
    return get_entry(family).cls(make_config(family, **config))


def model_config_dict(name: str, **config: Any) -> dict[str, Any]:
    """The full config (defaults filled in) as a JSON-ready dict."""
    return dataclasses.asdict(make_config(name, **config))
