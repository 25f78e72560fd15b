"""mnistlab: handwritten-digit recognition on MNIST, from verified data to a drawing page.

The public API (docs/python-api.md):

    import mnistlab
    mnistlab.list_models(), mnistlab.list_pretrained()
    model = mnistlab.create_model("lenet5", pretrained=True)
    predictor = mnistlab.load("sota-cpu")          # a shipped name or a run folder
    predictor.predict("digit.png")                 # a path, bytes, PIL image, array or a list
    mnistlab.read("meter.jpg").number              # a number on one line: .sure, .marked
    result = mnistlab.fit("lenet5", epochs=3)      # or any nn.Module; mnistlab.evaluate(...)
    images, labels = mnistlab.load_mnist("test")   # or mnistlab.MNIST(split=...) for a DataLoader
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnistlab.lazy import make_lazy
from mnistlab.version import __version__

# Each public name and the module that defines it. They are imported on first use (PEP 562), so
# `import mnistlab` and `from mnistlab import __version__` (the CLI's --help and --version) cost
# no torch import; `mnistlab.load` and the others import what they need when first touched.
_LAZY = {
    "MNIST": "mnistlab.api",
    "configure_for_training": "mnistlab.api",
    "create_model": "mnistlab.api",
    "evaluate": "mnistlab.api",
    "finetune": "mnistlab.api",
    "fit": "mnistlab.api",
    "from_tutorial_state_dict": "mnistlab.api",
    "list_models": "mnistlab.models",
    "list_pretrained": "mnistlab.api",
    "list_recipes": "mnistlab.api",
    "load": "mnistlab.api",
    "load_mnist": "mnistlab.api",
    "read": "mnistlab.api",
}

__all__ = [
    "MNIST",
    "__version__",
    "configure_for_training",
    "create_model",
    "evaluate",
    "finetune",
    "fit",
    "from_tutorial_state_dict",
    "list_models",
    "list_pretrained",
    "list_recipes",
    "load",
    "load_mnist",
    "read",
]

if TYPE_CHECKING:  # what type checkers and IDEs see: the eager imports this file used to make
    from mnistlab.api import (
        MNIST,
        configure_for_training,
        create_model,
        evaluate,
        finetune,
        fit,
        from_tutorial_state_dict,
        list_pretrained,
        list_recipes,
        load,
        load_mnist,
        read,
    )
    from mnistlab.models import list_models


make_lazy(__name__, _LAZY, subpackages=True)
