"""Pretrained models shipped inside the package, and how a model name or folder is resolved.

Each shipped model is an ordinary model folder under `mnistlab/weights/<name>/` with a model
card beside it (`card.json`, `CARD.md`), written by `scripts/train_pretrained.py`. The card holds
the SHA-256 of every weight file, so a damaged install is a one-line error, not a wrong answer.

Everywhere a command takes a model, it takes either a folder or a shipped name; a name that is
both picks the folder (and says so), as a path the user typed should never be silently ignored.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnistlab.errors import CheckpointError, MnistlabError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
CARD = "card.json"
# The model `predict` and `serve` use when none is given: the most accurate one shipped.
DEFAULT_PRETRAINED = "sota-cpu"


def list_pretrained() -> list[str]:
    """Names of the models shipped with this install."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if (p / CARD).is_file())


def default_pretrained() -> str:
    names = list_pretrained()
    if not names:
        raise MnistlabError("this install ships no pretrained model; give a model folder")
    return DEFAULT_PRETRAINED if DEFAULT_PRETRAINED in names else names[0]


def read_card(name: str) -> dict[str, Any]:
    """The model card of a shipped model (its facts: accuracy, command, checksums...)."""
    folder = _shipped_folder(name)
    try:
        return json.loads((folder / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / CARD}: unreadable model card ({exc})") from None


def _shipped_folder(name: str) -> Path:
    if name not in list_pretrained():
        known = ", ".join(list_pretrained()) or "none"
        raise MnistlabError(f"unknown pretrained model {name!r}; pretrained models: {known}")
    return WEIGHTS_DIR / name


@functools.cache
def verified_folder(name: str) -> Path:
    """The folder of a shipped model whose weight files match their card's checksums."""
    folder = _shipped_folder(name)
    verify_folder(folder, read_card(name), name)
    return folder


def verify_folder(folder: Path, card: dict[str, Any], name: str) -> None:
    """Raise CheckpointError unless every file the card lists has its recorded SHA-256."""
    for relative, expected in card.get("sha256", {}).items():
        path = folder / relative
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = "missing"
        if digest != expected:
            raise CheckpointError(
                f"pretrained model {name!r}: {path} does not match its checksum "
                "(damaged install); reinstall mnistlab"
            )


def resolve_model(spec: str | Path | None, notify: Callable[[str], None] | None = None) -> Path:
    """The folder for a model given as a folder path or a shipped name (None: the default).

    `notify` receives a one-line note when a folder shadows a shipped name.
    """
    if spec is None:
        return verified_folder(default_pretrained())
    path = Path(spec)
    if path.is_dir():
        if str(spec) in list_pretrained() and notify is not None:
            notify(
                f"note: using the folder ./{spec}, not the pretrained model {spec!r} "
                f"(give another path to use the folder's; rename it to use the pretrained one)"
            )
        return path
    if str(spec) in list_pretrained():
        return verified_folder(str(spec))
    if path.exists():
        raise CheckpointError(f"{spec}: not a folder; give a model folder or a pretrained name")
    known = ", ".join(list_pretrained()) or "none shipped"
    close = closest_pretrained(str(spec))
    hint = f" (did you mean {close}?)" if close else ""
    raise CheckpointError(
        f"{spec}: no such model folder and no pretrained model of that name{hint}; "
        f"pretrained models: {known} (see `mnistlab models`)"
    )


def closest_pretrained(word: str) -> str | None:
    """The shipped name `word` most likely misspells, if any is close."""
    close = difflib.get_close_matches(word, list_pretrained(), n=1)
    return close[0] if close else None


def is_model_spec(text: str) -> bool:
    """Whether a command-line word names a model (a model folder or a shipped name)."""
    path = Path(text)
    if path.is_dir():
        return (path / "model.json").is_file()
    return not path.exists() and text in list_pretrained()


def pretrained_for_family(family: str) -> str:
    """The shipped name to use for `create_model(family, pretrained=True)`."""
    names = list_pretrained()
    if family in names:
        return family
    matches = [n for n in names if read_card(n).get("model") == family]
    if len(matches) == 1:
        return matches[0]
    if DEFAULT_PRETRAINED in matches:  # convnet: sota-cpu, not its outlier-exposure sibling
        return DEFAULT_PRETRAINED
    known = ", ".join(names) or "none"
    raise MnistlabError(
        f"no pretrained weights for {family!r}"
        + (f" (several: {', '.join(matches)}; name one)" if matches else "")
        + f"; pretrained models: {known}"
    )
