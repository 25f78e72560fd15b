"""Packages whose public names are imported on first use (PEP 562), so that importing a light
module inside them (a constant the command line's options need) does not import torch.

`mnistlab`, `mnistlab.data` and `mnistlab.inference` re-export names from their modules; eager
imports in their `__init__` made `mnistlab --help` and every argument error cost a torch import
(1.6 s, as long as the command itself).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _LazyPackage(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the submodule mnistlab.data.normalize sets the package's `normalize` to that
        # module, over the function of the same name that the package re-exports; an eager
        # `from .normalize import normalize` used to rebind the function after it.
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_public", {}):
            return
        super().__setattr__(name, value)


def make_lazy(package: str, public: dict[str, str], subpackages: bool = False) -> None:
    """Give `package` (already in sys.modules) a __getattr__ that imports each name of `public`
    (name -> the module defining it) when first used; `subpackages`: any other name that is a
    submodule is imported too (what a bare `import mnistlab` used to reach)."""
    module = sys.modules[package]

    def __getattr__(name: str) -> Any:
        source = public.get(name)
        if source is not None:
            value = getattr(importlib.import_module(source), name)
        elif subpackages and not name.startswith("_") and _submodule_exists(package, name):
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module.__dict__[name] = value  # later look-ups find it without calling here again
        return value

    def __dir__() -> list[str]:
        return sorted({*module.__dict__, *public})

    module.__dict__.update(_public=public, __getattr__=__getattr__, __dir__=__dir__)
    module.__class__ = _LazyPackage


def _submodule_exists(package: str, name: str) -> bool:
    return importlib.util.find_spec(f"{package}.{name}") is not None
