"""mnistlab: handwritten-digit recognition on MNIST, from verified data to a drawing page.

The public API (docs/python-api.md):

    import mnistlab
    mnistlab.list_models(), mnistlab.list_pretrained()
    model = mnistlab.create_model("lenet5", pretrained=True)
    predictor = mnistlab.load("sota-cpu")          # a shipped name or a run folder
    predictor.predict("digit.png")                 # a path, bytes, PIL image, array or a list
    result = mnistlab.fit("lenet5", epochs=3)      # or any nn.Module; mnistlab.evaluate(...)
    images, labels = mnistlab.load_mnist("test")   # or mnistlab.MNIST(split=...) for a DataLoader
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each public name and the module that defines it. They are imported on first use (PEP 562), so
# `import mnistlab` and `from mnistlab import __version__` (the CLI's --help and --version) cost
# no torch import; `mnistlab.load` and the others import what they need when first touched.
_LAZY = {
    "MNIST": "mnistlab.api",
    "configure_for_training": "mnistlab.api",
    "create_model": "mnistlab.api",
    "evaluate": "mnistlab.api",
    "fit": "mnistlab.api",
    "from_tutorial_state_dict": "mnistlab.api",
    "list_models": "mnistlab.models",
    "list_pretrained": "mnistlab.api",
    "list_recipes": "mnistlab.api",
    "load": "mnistlab.api",
    "load_mnist": "mnistlab.api",
}

__all__ = [
    "MNIST",
    "__version__",
    "configure_for_training",
    "create_model",
    "evaluate",
    "fit",
    "from_tutorial_state_dict",
    "list_models",
    "list_pretrained",
    "list_recipes",
    "load",
    "load_mnist",
]

if TYPE_CHECKING:  # what type checkers and IDEs see: the eager imports this file used to make
    from mnistlab.api import (
        MNIST,
        configure_for_training,
        create_model,
        evaluate,
        fit,
        from_tutorial_state_dict,
        list_pretrained,
        list_recipes,
        load,
        load_mnist,
    )
    from mnistlab.models import list_models


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        # a subpackage (mnistlab.runs, mnistlab.data...): the eager imports used to leave them
        # all reachable from a bare `import mnistlab`
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups find it directly, without calling here again
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the submodule mnistlab.evaluate sets the package's `evaluate` to it, over the
        # function of the same name; the eager imports used to rebind the function after it.
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
