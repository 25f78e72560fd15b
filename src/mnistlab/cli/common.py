"""Argument helpers shared by the commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

DEVICE_CHOICES = ["auto", "cpu", "cuda", "mps"]


class Commands(argparse._SubParsersAction):
    """Subcommands whose options are added only when the command is chosen:
    `add_parser(name, options=fn, help=...)` keeps `fn(parser)` until `name` is parsed.

    Options take their choices and defaults from the library (the model registry, the datasets,
    the image limits), which imports torch: built for every command up front, they made
    `mnistlab --help`, `--version` and a misspelt command as slow as `import torch`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[str, Callable[[argparse.ArgumentParser], None]] = {}

    def add_parser(self, name: str, *, options=None, **kwargs) -> argparse.ArgumentParser:
        parser = super().add_parser(name, **kwargs)
        if options is not None:
            self._pending[name] = options
        return parser

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        options = self._pending.pop(values[0], None)
        if options is not None:
            options(self._name_parser_map[values[0]])
        super().__call__(parser, namespace, values, option_string)
        if not hasattr(namespace, CHOSEN):  # the innermost command sets it first
            setattr(namespace, CHOSEN, self._name_parser_map[values[0]])


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, not a usage block, and whose subcommands
    are Commands."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", Commands)

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        # argparse reports an unknown option from the top parser ("see mnistlab --help");
        # the command it was given to has the help that lists the right one
        parsed, extras = self.parse_known_args(args, namespace)
        command = vars(parsed).pop(CHOSEN, None) or self
        if extras:
            command.error(f"unrecognized arguments: {' '.join(extras)}{_closest(command, extras)}")
        return parsed


CHOSEN = "_mnistlab_command_parser"  # the parser of the command given (set while parsing)


def _closest(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """'; did you mean --epochs?' for a misspelt option, where to put one given before the
    command, else ''."""
    import difflib

    known = [s for action in parser._actions for s in action.option_strings]
    for word in extras:
        option = word.split("=")[0]
        if option in known:  # given before the command's name, where only mnistlab's own go
            return f"; the command's options go after it ({parser.prog} {option} ...)"
        if word.startswith("--"):
            close = difflib.get_close_matches(option, known, n=1)
            if close:
                return f"; did you mean {close[0]}?"
    return ""


def add_data_args(parser: argparse.ArgumentParser, mirrors: bool = True) -> None:
    from mnistlab.data.datasets import DATASETS

    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset", default="mnist", choices=sorted(DATASETS), help="dataset name (default: mnist)"
    )
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the four IDX files (plain or .gz); default: "
        "$MNISTLAB_DATA_DIR, else ~/.cache/mnistlab",
    )
    if mirrors:
        group.add_argument(
            "--mirror",
            metavar="URL",
            action="append",
            dest="mirrors",
            help="download from this mirror instead of the defaults (repeatable;"
            " or set MNISTLAB_MIRRORS=URL,URL)",
        )


def int_in(low: int, high: int | None, what: str):
    """An argparse type: an integer in [low, high] (no upper bound for None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            got = text if value is not None else repr(text)
            raise argparse.ArgumentTypeError(f"expected {what}, got {got}")
        return value

    return parse


positive_int = int_in(1, None, "a positive integer")
non_negative_int = int_in(0, None, "0 or a positive integer")
port_number = int_in(0, 65535, "a TCP port 0-65535")


def float_above(low: float, inclusive: bool, what: str):
    """An argparse type: a finite number above `low` (or equal to it, when `inclusive`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (value >= low if inclusive else value > low) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


positive_float = float_above(0.0, False, "a positive number")
non_negative_float = float_above(0.0, True, "0 or a positive number")


MODEL_HELP = "a model folder (made by train or ensemble) or a pretrained name (mnistlab models)"


def add_model_arg(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    """The one way every command names a model: MODEL, a folder or a shipped name."""
    if optional:
        parser.add_argument(
            "model", nargs="?", metavar="MODEL", help=MODEL_HELP + "; default: the best shipped"
        )
    else:
        parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)


def note(message: str) -> None:
    print(f"mnistlab: {message}", file=sys.stderr)


def load_model_arg(spec: str | None):
    """(model, model.json) for a MODEL argument; a folder shadowing a shipped name is noted."""
    from mnistlab.runs import load_model

    return load_model(spec, notify=note)


def print_file_entries(entries: list[dict], as_json: bool, text_line) -> int:
    """Per-file results as one JSON array or a line each (`text_line(entry, width)`); the exit
    status: 1 when any file could not be read (the others were still answered), else 0."""
    import json

    if as_json:
        print(json.dumps(entries, indent=2))
    else:
        width = min(max(len(e["path"]) for e in entries), 60)
        for entry in entries:
            print(text_line(entry, width))
    return 1 if any(e["status"] == "unreadable" for e in entries) else 0


def add_max_pixels_arg(parser: argparse.ArgumentParser) -> None:
    """--max-pixels for the commands that read image files (predict, read)."""
    from mnistlab.inference.images import DEFAULT_MAX_PIXELS

    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images (default {DEFAULT_MAX_PIXELS:,})",
    )


def hint_max_pixels(entries: list[dict], max_pixels: int) -> list[dict]:
    """Entries refused for more pixels than --max-pixels (inference.images' message ends with
    the limit) say how to read them: a 48 or 108 megapixel phone photo is no bomb."""
    limit = f"over the limit of {max_pixels:,}"
    for entry in entries:
        error = entry.get("error") or ""
        if entry.get("status") == "unreadable" and error.endswith(limit):
            entry["error"] = f"{error} (--max-pixels raises it)"
    return entries


def add_no_reject_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-reject",
        action="store_true",
        help='answer every digit with the model\'s best guess, never "not sure"',
    )
