"""Model families, built by name: `create_model("lenet5")`, `list_models()`."""

from mnistlab.models import convnet, tutorial  # noqa: F401  (register the families)
from mnistlab.models.registry import (
    ModelEntry,
    create_model,
    get_entry,
    list_families,
    list_models,
    list_variants,
    model_config_dict,
    register_model,
)

__all__ = [
    "ModelEntry",
    "create_model",
    "get_entry",
    "list_families",
    "list_models",
    "list_variants",
    "model_config_dict",
    "register_model",
]
