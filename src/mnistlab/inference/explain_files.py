"""`mnistlab predict --explain DIR`: one PNG per predicted image file, saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnistlab.errors import MnistlabError
from mnistlab.inference.explain import DEFAULT_NEIGHBOURS, Explanation
from mnistlab.inference.explain_png import CAPTION, CELL, GAP, SHORT, heatmap
from mnistlab.inference.images import DEFAULT_MAX_PIXELS
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.preprocess import preprocess

CHUNK = 64  # digits explained together: integrated gradients holds 8 inputs per digit


def save_explanations(
    predictor: Predictor,
    entries: list[dict[str, Any]],
    folder: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> None:
    """For each entry of predict_files that has a digit ("ok" or "not_sure"), write
    `folder/<name>.why.png` (the input, its saliency, its nearest training digits) and record its
    path in the entry as "explanation". MnistlabError when the folder cannot be made."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        message = f"{folder}: cannot create the explanation folder ({exc.strerror})"
        raise MnistlabError(message) from None
    chosen = [e for e in entries if e["status"] in ("ok", "not_sure")]
    names = _unique_names([Path(e["path"]).stem or "image" for e in chosen])
    for start in range(0, len(chosen), CHUNK):
        part = chosen[start : start + CHUNK]
        # the same preprocessing predict_files ran: the file was read a moment ago
        pixels = [preprocess(e["path"], max_pixels=max_pixels).pixels for e in part]
        explained = predictor.explain_pixels(pixels, neighbours)
        for entry, explanation, name in zip(part, explained, names[start:], strict=False):
            path = folder / name
            path.write_bytes(explanation_png(explanation))
            entry["explanation"] = str(path)


def _unique_names(stems: list[str]) -> list[str]:
    """<stem>.why.png for each (beside --save-preview's <stem>.png in the same folder),
    numbered where two files share a stem (from two folders)."""
    used: set[str] = set()
    names = []
    for stem in stems:
        name, n = f"{stem}.why.png", 1
        while name in used:
            n += 1
            name = f"{stem}-{n}.why.png"
        used.add(name)
        names.append(name)
    return names


def explanation_png(explanation: Explanation) -> bytes:
    """One PNG: the input, its saliency and the nearest training digits side by side, each
    with a caption (the answer; the method; each neighbour's label and similarity)."""
    import io

    from PIL import Image, ImageDraw

    prediction = explanation.prediction
    answer = prediction.label if prediction.digit is not None else "not sure"
    cells = [
        (prediction.pixels, "input", f"answer: {answer}"),
        (
            heatmap(prediction.pixels, explanation.saliency),
            f"saliency, {SHORT[explanation.method]}",
            "red for, blue against",
        ),
    ]
    cells += [
        (n.image, f"neighbour {n.label}", f"sim {n.similarity:.3f}") for n in explanation.neighbours
    ]
    sheet = Image.new("RGB", (len(cells) * (CELL + GAP) + GAP, CELL + CAPTION + 2 * GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (image, first, second) in enumerate(cells):
        left = GAP + i * (CELL + GAP)
        tile = Image.fromarray(image).resize((CELL, CELL), Image.Resampling.NEAREST)
        sheet.paste(tile.convert("RGB"), (left, GAP))
        draw.text((left, GAP + CELL + 2), first, fill="black")
        draw.text((left, GAP + CELL + 15), second, fill="black")
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
