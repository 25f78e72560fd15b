"""Predicting for many image files: one entry per file, a bad file never stops the others."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mnistlab.errors import MnistlabError
from mnistlab.inference.field import NoDigitError
from mnistlab.inference.images import DEFAULT_MAX_PIXELS, ImageError
from mnistlab.inference.predictor import DEFAULT_TOP_K, Predictor
from mnistlab.inference.preprocess import preprocess

BATCH = 256  # images per forward pass


def image_extensions() -> set[str]:
    """Every file extension Pillow can read here (.png, .jpg, .gif, .bmp, .webp, ...)."""
    from PIL import Image

    return {ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given; a folder becomes its image files (by extension, sorted), and a folder of
    folders without images of its own (ImageFolder's DIR/<label>/<name>.png) the image files of
    its visible subfolders, one level down."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            # only for a folder: listing Pillow's formats imports all ~40 of its plugins
            extensions = image_extensions()
            found = images_in(item, extensions)
            if not found:
                for sub in sorted(p for p in item.iterdir() if p.is_dir()):
                    found += [] if sub.name.startswith(".") else images_in(sub, extensions)
            paths.extend(found or [item])  # an empty folder gets its own error entry
        else:
            paths.append(item)
    if not paths:
        raise MnistlabError("no images given")
    return paths


def images_in(folder: Path, extensions: set[str]) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions
    )


def each_file(
    inputs: Sequence[str | Path],
    template: dict[str, Any],
    handle: Callable[[Path, dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """One entry per image file (a copy of `template` with path, status "ok" and error None),
    filled in by `handle(path, entry)`; a blank image makes it "no_digit", an unreadable one
    (or a folder without images) "unreadable", and the other files go on."""
    entries = []
    for path in expand_inputs(inputs):
        entry = {"path": str(path), "status": "ok", **template, "error": None}
        entries.append(entry)
        if path.is_dir():
            entry.update(status="unreadable", error=f"{path}: folder holds no images")
            continue
        try:
            handle(path, entry)
        except NoDigitError as exc:
            entry.update(status="no_digit", error=str(exc))
        except ImageError as exc:
            entry.update(status="unreadable", error=str(exc))
    return entries


def predict_files(
    predictor: Predictor,
    inputs: Sequence[str | Path],
    top_k: int = DEFAULT_TOP_K,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    preview_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """One dict per image with path, status ("ok", "not_sure", "no_digit", "unreadable"),
    digit (None unless "ok"), label, confidence, top_k, probabilities, guess (the most probable
    class, also when not sure), reason (why not sure), error and preview (the saved 28x28 PNG,
    if asked for)."""
    ready: list[tuple[dict[str, Any], Any]] = []  # (entry, 28x28 pixels) awaiting the model
    template = {
        "digit": None,
        "label": None,
        "confidence": None,
        "top_k": [],
        "probabilities": None,
        "guess": None,
        "reason": None,
    }

    def prepare(path: Path, entry: dict[str, Any]) -> None:
        if preview_dir is None:
            ready.append((entry, preprocess(path, max_pixels=max_pixels).pixels))
        else:
            pixels, steps = _with_steps(path, max_pixels)
            entry["_steps"] = steps
            ready.append((entry, pixels))

    entries = each_file(inputs, template, prepare)
    for entry in entries:
        if entry["status"] == "no_digit":
            entry["reason"] = entry["error"]
    for start in range(0, len(ready), BATCH):
        chunk = ready[start : start + BATCH]
        predictions = predictor.predict_pixels([pixels for _, pixels in chunk], top_k=top_k)
        for (entry, _), prediction in zip(chunk, predictions, strict=True):
            entry.update(prediction.to_dict())
            if prediction.reason is not None:
                entry["status"] = "not_sure"
            entry["top_k"] = [{**t, "label": predictor.label(t["digit"])} for t in entry["top_k"]]
    if preview_dir is not None:
        _save_previews(ready, Path(preview_dir))
    return entries


def _with_steps(path: Path, max_pixels: int):
    """(pixels, the steps strip) for one image: the same preprocessing, its stages kept."""
    from mnistlab.inference.field import field_from_ink
    from mnistlab.inference.images import open_with_detail, to_gray
    from mnistlab.inference.preprocess import find_digit_ink, steps_image

    opened = open_with_detail(path, max_pixels)
    image, detail = opened.image, opened.detail
    gray = to_gray(image)
    ink = find_digit_ink(gray, detail)  # once: the same ink makes the field and the strip
    pixels = field_from_ink(ink.values)
    return pixels, steps_image(gray, ink.values, pixels)


def _save_previews(ready: list[tuple[dict[str, Any], Any]], folder: Path) -> None:
    from PIL import Image

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        message = f"{folder}: cannot create the preview folder ({exc.strerror})"
        raise MnistlabError(message) from None
    used: set[str] = set()
    for entry, pixels in ready:
        stem = Path(entry["path"]).stem or "image"
        name, n = f"{stem}.png", 1
        while name in used:  # the same name from two folders
            n += 1
            name = f"{stem}-{n}.png"
        used.add(name)
        Image.fromarray(pixels).save(folder / name)
        entry["preview"] = str(folder / name)
        steps = folder / name.replace(".png", ".steps.png")
        entry.pop("_steps").save(steps)
        entry["preview_steps"] = str(steps)
