"""mnistlab: handwritten-digit recognition on MNIST, from verified data to a drawing page.

The public API (docs/python-api.md):

    import mnistlab
    mnistlab.list_models(), mnistlab.list_pretrained()
    model = mnistlab.create_model("lenet5", pretrained=True)
    predictor = mnistlab.load("sota-cpu")          # a shipped name or a run folder
    predictor.predict_image("digit.png")
    result = mnistlab.fit("lenet5", epochs=3)      # or any nn.Module; mnistlab.evaluate(...)
    images, labels = mnistlab.load_mnist("test")   # or mnistlab.MNIST(split=...) for a DataLoader
"""

__version__ = "0.1.0"

from mnistlab.api import (  # noqa: E402
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
from mnistlab.models import list_models  # noqa: E402

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
