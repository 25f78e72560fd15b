"""Labelled image folders (torchvision's ImageFolder layout, DIR/<label>/<name>.png): a person's
own digits, collected by `serve --collect` or scanned, brought to MNIST's form by the same
preprocessing as `predict`, for `eval --images` and `finetune`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.inference.field import SIZE, NoDigitError
from mnistlab.inference.images import DEFAULT_MAX_PIXELS, ImageError
from mnistlab.inference.preprocess import preprocess

DIGITS = tuple(str(d) for d in range(10))


@dataclass
class LabelledImages:
    """A labelled folder read: the digits in MNIST's form, and the files left out and why."""

    split: Split  # (N, 28, 28) uint8 and (N,) int64 class indices
    paths: list[Path]  # the file of each digit, in the split's order
    classes: list[str]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, reason)


def is_image_folder(folder: str | Path) -> bool:
    """Whether `folder` holds class folders (visible subfolders) rather than images."""
    folder = Path(folder)
    return folder.is_dir() and any(_class_folders(folder))


def _class_folders(folder: Path) -> list[Path]:
    # hidden folders are not classes: serve --collect keeps the canvases in DIR/.canvas
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def labelled_files(folder: str | Path, classes: Sequence[str] = DIGITS) -> list[tuple[Path, int]]:
    """(image file, class index) for every image under folder/<class>/, sorted; a subfolder
    that names no class is an error (a typo would silently drop a person's digits)."""
    from mnistlab.inference.batch import image_extensions, images_in

    folder = Path(folder)
    if not folder.is_dir():
        raise MnistlabError(f"{folder}: not a folder; give DIR/<label>/<name>.png")
    subfolders = _class_folders(folder)
    unknown = [p.name for p in subfolders if p.name not in classes]
    if unknown:
        raise MnistlabError(
            f"{folder}: subfolders {', '.join(sorted(unknown))} name no class; "
            f"class folders are named {', '.join(classes)}"
        )
    extensions = image_extensions()
    files = []
    for sub in subfolders:
        files += [(p, classes.index(sub.name)) for p in images_in(sub, extensions)]
    if not files:
        raise MnistlabError(f"{folder}: no labelled images (expected DIR/<label>/<name>.png)")
    return files


def load_image_folder(
    folder: str | Path,
    classes: Sequence[str] = DIGITS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LabelledImages:
    """Every image of an ImageFolder tree preprocessed to 28x28; unreadable and blank files are
    skipped (listed in `skipped`), not fatal."""
    images, labels, paths, skipped = [], [], [], []
    for path, label in labelled_files(folder, classes):
        try:
            images.append(preprocess(path, max_pixels=max_pixels).pixels)
        except (ImageError, NoDigitError) as exc:
            skipped.append((path, str(exc)))
            continue
        labels.append(label)
        paths.append(path)
    if not images:
        raise MnistlabError(f"{folder}: none of its {len(skipped)} images holds a readable digit")
    split = Split(torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64))
    return LabelledImages(split, paths, list(classes), skipped)


def stratified_split(labels: torch.Tensor, held_out: float, seed: int) -> tuple[list, list]:
    """(fit indices, held-out indices): per class, `held_out` of its digits (rounded, at least
    one when the class has two or more) held out, chosen by `seed`; sorted."""
    if not 0 < held_out < 1:
        raise MnistlabError(f"held-out share must be in (0, 1), got {held_out}")
    generator = torch.Generator().manual_seed(seed)
    fit, rest = [], []
    for c in torch.unique(labels).tolist():
        index = (labels == c).nonzero().flatten()
        index = index[torch.randperm(len(index), generator=generator)].tolist()
        count = min(len(index) - 1, max(1, round(held_out * len(index)))) if len(index) > 1 else 0
        rest += index[:count]
        fit += index[count:]
    return sorted(fit), sorted(rest)


def subset(split: Split, index: Sequence[int]) -> Split:
    chosen = torch.as_tensor(list(index), dtype=torch.int64)
    return Split(split.images[chosen].reshape(-1, SIZE, SIZE), split.labels[chosen])


CANVASES = ".canvas"  # DIR/.canvas/<label>/<name>.png: the drawings, beside the 28x28 digits


def save_labelled(
    folder: str | Path, label: str, pixels: np.ndarray, canvas=None, name: str | None = None
) -> Path:
    """Store one labelled digit in ImageFolder's layout, atomically: the (28, 28) uint8 digit
    as folder/<label>/<name>.png and, given, the original drawing (a PIL image) as
    folder/.canvas/<label>/<name>.png (hidden: not a class, so loaders skip it). Returns the
    digit's path."""
    import io
    import secrets
    import time

    from PIL import Image

    from mnistlab.files import write_bytes_atomic

    if label not in DIGITS:
        raise MnistlabError(f"label must be one of {', '.join(DIGITS)}, not {label!r}")
    name = name or f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"

    def png(image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    root = Path(folder)
    target = root / label / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    if canvas is not None:  # re-encoded: only pixels are stored, never the bytes as sent
        drawing = root / CANVASES / label / f"{name}.png"
        drawing.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(drawing, png(canvas), durable=False)
    write_bytes_atomic(target, png(Image.fromarray(np.asarray(pixels, dtype=np.uint8))), False)
    return target
