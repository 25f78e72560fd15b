"""The `mnistlab` command: parse arguments, call the library, print.

Each command group lives in its own module with a `register(subparsers)` function.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import warnings

from mnistlab.cli import (
    bench_cmds,
    calibrate_cmds,
    data_cmds,
    ensemble_cmds,
    eval_cmds,
    models_cmds,
    personal_cmds,
    predict_cmds,
    read_cmds,
    train_cmds,
)
from mnistlab.cli.common import Parser
from mnistlab.errors import MnistlabError
from mnistlab.version import __version__

COMMAND_MODULES = [
    data_cmds,
    train_cmds,
    eval_cmds,
    calibrate_cmds,
    ensemble_cmds,
    personal_cmds,
    predict_cmds,
    read_cmds,
    models_cmds,
    bench_cmds,
]


# optional dependency -> the extra that installs it
OPTIONAL = {
    "fastapi": "web",
    "uvicorn": "web",
    "starlette": "web",
    "multipart": "web",
    "PIL": "image",
    "matplotlib": "plot",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "tensorboard": "track",
}


def build_parser() -> Parser:
    parser = Parser(prog="mnistlab", description="Handwritten-digit recognition on MNIST.")
    parser.add_argument("--version", action="version", version=f"mnistlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _terminated(signum, frame) -> None:
    # SIGTERM (kill, a container stopping) unwinds like Ctrl-C would: `finally` blocks remove
    # half-written .part files and temporary folders instead of leaving them behind.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        with warnings.catch_warnings():  # the filters as they were, after the command
            # Pillow warns of a "decompression bomb" above its own limit while it reads a
            # header; the command's limit (--max-pixels) then refuses it in one line, which
            # says it all
            warnings.filterwarnings("ignore", message=r".*could be decompression bomb")
            return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader is gone (poll says the write end is in error)."""
    try:
        poller = select.poll()  # not on Windows: there, the error is said as any other
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def _quiet_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's own flush at exit does not
    report the closed pipe a second time (the recipe in Python's signal documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing to quiet
        pass


def _run(args) -> int:
    try:
        return int(args.func(args) or 0)
    except MnistlabError as exc:
        print(f"mnistlab: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError as exc:  # `mnistlab read *.png --json | head`: head has had enough
        if _stdout_closed():
            _quiet_stdout()
            return 141  # 128 + SIGPIPE, as a command the signal ended; silently
        print(f"mnistlab: error: {exc.strerror or exc}", file=sys.stderr)  # a socket, a FIFO
        return 1
    except OSError as exc:  # an unwritable --out, a full disk: the user's to fix, in one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"mnistlab: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:  # an optional dependency this command needs
        extra = OPTIONAL.get((exc.name or "").split(".")[0], "all")
        print(
            f"mnistlab: error: this command needs {exc.name}, which is not installed: "
            f"pip install 'mnistlab[{extra}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("mnistlab: interrupted", file=sys.stderr)
        return 130
