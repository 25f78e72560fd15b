"""`mnistlab read`: the number written in each image."""

from __future__ import annotations

import argparse
from typing import Any

from mnistlab.cli.common import (
    add_max_pixels_arg,
    add_no_reject_arg,
    hint_max_pixels,
    note,
    print_file_entries,
)

READ_EPILOG = """\
The number is read on one line, left to right: the ink is cut into digits (pieces that belong
together are joined, touching digits are split where the model is surest of the parts) and
each digit goes through the same preprocessing and model as `predict`. A piece the model is
not sure is a digit still gives its best guess to the number, and is named on the line
("not sure of digit 3"; in --json: sure false, that digit's digit null with its reason).
A minus sign, a decimal point and a colon are part of the number ("-12.5", "12:30"; in --json
also under signs, with their boxes); signs no number has (two decimal points, two signs side
by side, a point before the first digit, which is left out, two dots stacked where no colon
stands, a comma, which is left out: "1,000" or "3,14"?) make it not sure; so does a number of
more than 32 digits (the first 32 are read).
Exit status: 0 when every file could be read, 1 when any could not (the others are still
read), 2 for a bad model or flag."""


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "read",
        help="read the number written in images (e.g. 2024, a meter reading)",
        description="Read the number written on one line in each image, with MODEL (a model "
        "folder or a pretrained name; default: the best shipped model).",
        epilog=READ_EPILOG,
        usage="%(prog)s [-h] [options] [MODEL] IMAGE_OR_FOLDER [IMAGE_OR_FOLDER ...]",
        options=_read_options,
    )


def _read_options(read: argparse.ArgumentParser) -> None:
    read.add_argument(
        "inputs",
        nargs="+",
        metavar="[MODEL] IMAGE_OR_FOLDER",
        help="image files; a folder means every image in it. A first word that is a model "
        "folder or a pretrained name is the model",
    )
    read.add_argument(
        "--json",
        action="store_true",
        help="print one JSON array: per image its path, number (a string), sure, digits "
        "(box [left, top, right, bottom], digit, guess, confidence, reason), signs (box, "
        "sign), marked, confidence and reason",
    )
    add_max_pixels_arg(read)
    add_no_reject_arg(read)
    read.set_defaults(func=cmd_read)


def cmd_read(args: argparse.Namespace) -> int:
    from mnistlab.cli.predict_cmds import split_model_and_inputs
    from mnistlab.inference.predictor import Predictor
    from mnistlab.inference.reading import read_files

    model, inputs = split_model_and_inputs(args.inputs)
    predictor = Predictor.from_path(model, notify=note).with_rejection(not args.no_reject)
    entries = hint_max_pixels(read_files(predictor, inputs, args.max_pixels), args.max_pixels)
    return print_file_entries(entries, args.json, _text_line)


def _text_line(entry: dict[str, Any], width: int) -> str:
    path = entry["path"].ljust(width)
    if entry["status"] != "ok":
        return f"{path}  -  {entry['error'].removeprefix(entry['path'] + ': ')}"
    least = min((d["confidence"] for d in entry["digits"]), default=0.0)
    count = len(entry["digits"])
    digits = "1 digit" if count == 1 else f"{count} digits"
    if entry["sure"] is False:
        # the doubtful digits as "?", why, and the best reading all the same
        return f"{path}  {entry['marked']}   not sure: {entry['reason']} (best {entry['number']})"
    whole = entry.get("confidence")
    whole_text = f"whole number {whole:.1%}, " if whole is not None else ""
    return f"{path}  {entry['number']}   ({digits}, {whole_text}least sure {least:.1%})"
