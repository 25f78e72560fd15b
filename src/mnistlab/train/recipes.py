"""Named training recipes: `mnistlab train --recipe NAME`."""

from __future__ import annotations

from typing import Any

from mnistlab.errors import MnistlabError

RECIPES: dict[str, dict[str, Any]] = {}


def get_recipe(name: str) -> dict[str, Any]:
    try:
        return dict(RECIPES[name])
    except KeyError:
        known = ", ".join(sorted(RECIPES)) or "none yet"
        raise MnistlabError(f"unknown recipe {name!r}; known recipes: {known}") from None
