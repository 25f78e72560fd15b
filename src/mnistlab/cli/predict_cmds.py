"""`mnistlab predict`, `mnistlab export` and `mnistlab serve`."""

from __future__ import annotations

import argparse
import gc
from pathlib import Path
from typing import Any

from mnistlab.cli.common import (
    MODEL_HELP,
    add_data_args,
    add_max_pixels_arg,
    add_model_arg,
    add_no_reject_arg,
    hint_max_pixels,
    non_negative_float,
    non_negative_int,
    note,
    port_number,
    positive_float,
    positive_int,
    print_file_entries,
)
from mnistlab.errors import MnistlabError

PREDICT_EPILOG = """\
Each image is brought into MNIST's form first (polarity, noise, crop, 20 px box, centre of
mass), so photos and drawings work. A blank image gives "no digit found" (digit null in
--json); an image that does not look like a digit to a calibrated model gives "not sure
(reason)" (digit null, with the reason and the best guess, in --json). Exit status: 0 when
every file could be read, 1 when any could not (its entry says why; the other files are still
predicted), 2 for a bad model folder or flag."""


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "predict",
        help="recognise digits in image files",
        description="Recognise the digit in each image file, with MODEL (a model folder or a "
        "pretrained name; default: the best shipped model).",
        epilog=PREDICT_EPILOG,
        usage="%(prog)s [-h] [options] [MODEL] IMAGE_OR_FOLDER [IMAGE_OR_FOLDER ...]",
        options=_predict_options,
    )
    sub.add_parser(
        "export",
        help="export a model to ONNX, checked with onnxruntime",
        description="Export to ONNX: uint8 pixels in (batch, 1, 28, 28), normalised inside the "
        "graph, logits out; onnxruntime's output is checked against PyTorch's on generated "
        "images and, when MNIST is here, on real test images.",
        options=_export_options,
    )
    sub.add_parser(
        "serve",
        help="web page to draw digits on, and a JSON API",
        description="Serve the drawing page (/) and the API (/docs).",
        options=_serve_options,
    )


def _predict_options(predict: argparse.ArgumentParser) -> None:
    predict.add_argument(
        "inputs",
        nargs="+",
        metavar="[MODEL] IMAGE_OR_FOLDER",
        help="image files; a folder means every image in it. A first word that is a model "
        "folder (it holds model.json) or a pretrained name (mnistlab models) is the model",
    )
    predict.add_argument("--top-k", type=positive_int, default=3, help="default 3")
    predict.add_argument("--json", action="store_true", help="print one JSON array")
    predict.add_argument(
        "--save-preview",
        metavar="DIR",
        help="save the 28x28 image the model saw, as DIR/<name>.png, and the preprocessing's "
        "steps (source, ink found, 28x28) as DIR/<name>.steps.png",
    )
    predict.add_argument(
        "--explain",
        metavar="DIR",
        help="say why: write DIR/<name>.why.png for each digit, with the image the model saw, "
        "a saliency map (which pixels decided it) and the nearest training digits",
    )
    add_max_pixels_arg(predict)
    add_no_reject_arg(predict)
    predict.set_defaults(func=cmd_predict)


def _export_options(export: argparse.ArgumentParser) -> None:
    add_model_arg(export)
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument(
        "--out", metavar="FILE", help="default: MODEL/model.onnx, or ./NAME.onnx for a pretrained"
    )
    export.add_argument(
        "--check-images",
        type=non_negative_int,
        default=10000,
        metavar="N",
        help="MNIST test images to compare on when the data is here (default 10000, all; 0: "
        "none); 64 generated images are always compared",
    )
    add_data_args(export, mirrors=False)
    export.set_defaults(func=cmd_export)


# serve.models.DEFAULT_MAX_MODELS and serve.collect.DEFAULT_MAX_DIGITS, written out: the options
# are built before a command runs, and serve imports fastapi, which may be missing (a one-line
# error then, from the command); tests/serve/test_models.py checks they agree
DEFAULT_MAX_MODELS = 8
DEFAULT_MAX_DIGITS = 5000


def _serve_options(serve: argparse.ArgumentParser) -> None:
    from mnistlab.inference.images import DEFAULT_MAX_PIXELS

    serve.add_argument(
        "model",
        nargs="*",
        metavar="MODEL",
        help=f"{MODEL_HELP}; several: the page and ?model=NAME switch between them, the first "
        "answers by default (default: the best shipped)",
    )
    serve.add_argument(
        "--runs",
        metavar="DIR",
        help="offer every run folder in DIR too, by its folder name, one written later "
        "included (e.g. `mnistlab finetune MODEL DIGITS --out DIR/me`): loaded when first "
        "asked for, again when it changes",
    )
    serve.add_argument(
        "--max-models",
        type=positive_int,
        default=DEFAULT_MAX_MODELS,
        metavar="N",
        help=f"models held in memory at most (default {DEFAULT_MAX_MODELS}; past it the --runs "
        "model used least recently is dropped, and loaded again when asked for)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine)")
    serve.add_argument(
        "--port", type=port_number, default=8000, help="default 8000; 0 picks a free one"
    )
    serve.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=5_000_000,
        help="largest request body (default 5,000,000)",
    )
    serve.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        help=f"largest image in pixels (default {DEFAULT_MAX_PIXELS:,})",
    )
    serve.add_argument(
        "--header-timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="seconds a connection may take to send a request's headers (default 10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="seconds a request body may take in all (default 60)",
    )
    serve.add_argument(
        "--max-connections",
        type=positive_int,
        default=1000,
        help="open connections past which requests get 503 at once (default 1000)",
    )
    serve.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="server processes sharing the port (default 1; one per core answers the most)",
    )
    serve.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default="torch",
        help="what runs the model: torch (default) or onnx, onnxruntime (needs mnistlab[onnx]; "
        "checked against torch at start; about half the CPU per prediction)",
    )
    serve.add_argument(
        "--batch-wait",
        type=non_negative_float,
        default=2.0,
        metavar="MS",
        help="milliseconds a digit may wait for others to share its forward pass (default 2)",
    )
    serve.add_argument(
        "--collect",
        metavar="DIR",
        help='the page gets "wrong? it is _" and "save as _", which store the drawn digit '
        "with its label as DIR/<label>/<name>.png (for `mnistlab finetune MODEL DIR`); "
        "without it nothing is stored",
    )
    serve.add_argument(
        "--collect-max",
        type=positive_int,
        default=DEFAULT_MAX_DIGITS,
        metavar="N",
        help=f"digits --collect stores at most (default {DEFAULT_MAX_DIGITS:,}); past it a "
        "save is refused",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log a line per request (off by default: it costs CPU on every request)",
    )
    serve.set_defaults(func=cmd_serve)


def split_model_and_inputs(words: list[str]) -> tuple[str | None, list[str]]:
    """[MODEL] IMAGE...: the first word is the model when it names one and images follow."""
    from mnistlab.runs.pretrained import is_model_spec

    if words and is_model_spec(words[0]):
        if len(words) == 1:
            raise MnistlabError(f"{words[0]} is a model; give the images to predict after it")
        return words[0], words[1:]
    if words and _looks_like_a_model(words[0]):
        # a misspelt model name ("lenet") was taken for a missing image, and the images after
        # it were answered by the default model: say what it is instead
        from mnistlab.runs.pretrained import resolve_model

        resolve_model(words[0])  # raises: no such model folder or pretrained name
    return None, words


def _looks_like_a_model(word: str) -> bool:
    """A bare word (no folder, no file extension) that names nothing here and is close to a
    shipped model's name: a model name written wrong, not a missing image (a missing folder
    or file stays that input's own error, the others answered)."""
    from mnistlab.runs.pretrained import closest_pretrained

    path = Path(word)
    if path.exists() or path.suffix or len(path.parts) != 1 or word.startswith("-"):
        return False
    return closest_pretrained(word) is not None


def cmd_predict(args: argparse.Namespace) -> int:
    from mnistlab.inference.batch import predict_files
    from mnistlab.inference.predictor import Predictor

    model, inputs = split_model_and_inputs(args.inputs)
    predictor = Predictor.from_path(model, notify=note).with_rejection(not args.no_reject)
    entries = predict_files(
        predictor,
        inputs,
        top_k=args.top_k,
        max_pixels=args.max_pixels,
        preview_dir=args.save_preview,
    )
    if args.explain:
        from mnistlab.inference.explain_files import save_explanations

        save_explanations(predictor, entries, args.explain, max_pixels=args.max_pixels)
    return print_file_entries(hint_max_pixels(entries, args.max_pixels), args.json, _text_line)


def _text_line(entry: dict[str, Any], width: int) -> str:
    path = entry["path"].ljust(width)
    if entry["status"] == "unreadable":
        return f"{path}  error: {entry['error'].removeprefix(entry['path'] + ': ')}"
    if entry["status"] == "not_sure":
        guess = entry["top_k"][0]
        return (
            f"{path}  not sure ({entry['reason']}); best guess {guess['label']} "
            f"{guess['probability']:.1%}"
        )
    if entry["digit"] is None:
        return f"{path}  -  {entry['error']}"
    top = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in entry["top_k"])
    k = len(entry["top_k"])
    return f"{path}  {entry['label']}  {entry['confidence']:6.1%}   top-{k}: {top}"


def _check_set(args: argparse.Namespace, meta: dict[str, Any]):
    """(uint8 images, what they are): generated ones, plus MNIST test images when here."""
    import torch

    from mnistlab.data.splits import load_splits
    from mnistlab.errors import DataError
    from mnistlab.inference.export import check_images

    images, what = check_images(), "64 generated images"
    if args.check_images:
        try:
            test = load_splits(meta.dataset, args.data_dir, download=False)
        except DataError:
            return images, what + " (no MNIST files here for the test images)"
        real = test["test"].images[: args.check_images]
        images = torch.cat([images, real])
        what += f" and {len(real)} test images"
    return images, what


def cmd_export(args: argparse.Namespace) -> int:
    from mnistlab.data.datasets import DATASETS
    from mnistlab.inference.export import TOLERANCE, export_onnx, max_abs_difference
    from mnistlab.runs import load_folder, resolve_model

    folder = resolve_model(args.model, note)
    model, meta = load_folder(folder)
    if args.out:
        out = Path(args.out)
    else:
        out = folder / "model.onnx" if Path(args.model).is_dir() else Path(f"{args.model}.onnx")
    spec = DATASETS.get(meta.dataset)
    images, what = _check_set(args, meta)
    export_onnx(model, meta, out, classes=list(spec.classes) if spec else None)
    diff = max_abs_difference(model, out, images, meta.normalization)
    print(
        f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, opset {_opset(out)}; input uint8 "
        f"pixels (batch, 1, 28, 28), {meta.normalization!r} normalisation inside the graph)"
    )
    print(
        f"onnxruntime vs PyTorch on {what}: max abs difference {diff:.2e} (limit {TOLERANCE:.0e})"
    )
    if not diff <= TOLERANCE:  # also catches NaN
        out.unlink(missing_ok=True)
        raise MnistlabError(
            f"ONNX output differs from PyTorch by {diff:.2e} > {TOLERANCE:.0e}; removed {out}"
        )
    return 0


def _opset(path: Path) -> int:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import torch

    from mnistlab.inference.predictor import Predictor
    from mnistlab.runs import default_pretrained
    from mnistlab.serve.app import create_app, default_admission
    from mnistlab.serve.metrics import Metrics, ObservedApp
    from mnistlab.serve.models import model_name
    from mnistlab.serve.run import bind_socket, make_server
    from mnistlab.serve.workers import run_workers, shared_metrics_folder
    from mnistlab.version import __version__

    # Each process runs one forward pass at a time (on its event loop) and decodes large
    # images on its thread pool; intra-op threads would only fight over the cores (on a busy
    # 2-core machine: 100 ms instead of 1 ms).
    torch.set_num_threads(1)

    def prepare(predictor: Predictor) -> Predictor:
        if args.backend == "onnx":
            predictor = predictor.on_onnx_runtime()
        # the digit detector runs on every served digit: on onnxruntime where it is installed
        # (the web extra has it), whichever backend computes the logits
        return predictor.with_fast_detector()

    named: dict[str, Predictor] = {}
    for spec in args.model or [None]:
        loaded = prepare(Predictor.from_path(spec, notify=note))  # fails before listening
        name = model_name(spec, loaded)
        if name in named:
            raise MnistlabError(f"two models named {name!r}: give folders of different names")
        named[name] = loaded
    predictor = next(iter(named.values()))
    admission = default_admission(args.max_pixels, processes=args.workers)
    app = create_app(
        named,
        max_body_bytes=args.max_body_bytes,
        max_pixels=args.max_pixels,
        body_deadline=args.body_timeout,
        admission=admission,
        batch_wait=args.batch_wait / 1000,
        collect_dir=args.collect,
        collect_max=args.collect_max,
        runs_dir=args.runs,
        max_models=args.max_models,
        prepare=prepare,
    )
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    workers = f", {args.workers} processes" if args.workers > 1 else ""
    workers += ", onnxruntime" if args.backend == "onnx" else ""
    workers += f", storing labelled drawings in {args.collect}" if args.collect else ""
    workers += f", also {', '.join(list(named)[1:])}" if len(named) > 1 else ""
    workers += f", and the run folders in {args.runs}" if args.runs else ""
    # /metrics counts every worker: with several, in files of a temporary folder (removed at
    # exit) named in PROMETHEUS_MULTIPROC_DIR, set here before the first metric exists
    with shared_metrics_folder(args.workers) as folder:
        metrics = Metrics(predictor.name, args.backend, __version__, multiprocess_dir=folder)
        metrics.attach(admission)
        # the access log line is ObservedApp's: uvicorn's has no request id
        observed = ObservedApp(app, metrics, access_log=args.access_log)
        # Everything loaded so far (torch, the model, the app) lives as long as the server:
        # moved out of the garbage collector's view, a full collection no longer walks it in
        # the middle of a request (p99), and forked workers keep sharing its pages.
        gc.freeze()
        print(
            f"serving {predictor.name} from {(args.model or [default_pretrained()])[0]} on "
            f"http://{host}:{port}/{workers} "
            "(API docs at /docs, metrics at /metrics; Ctrl-C to stop)",
            flush=True,
        )

        def serve() -> None:
            server = make_server(
                observed,
                sock,
                header_timeout=args.header_timeout,
                max_connections=args.max_connections,
            )
            server.run(sockets=[sock])

        if args.workers == 1:
            serve()
            return 0
        metrics.forget_process(os.getpid())  # the parent serves nothing
        return run_workers(args.workers, serve, on_exit=metrics.forget_process)
