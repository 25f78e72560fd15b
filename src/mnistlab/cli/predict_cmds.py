"""`mnistlab predict`, `mnistlab export` and `mnistlab serve`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mnistlab.cli.common import add_data_args, positive_int
from mnistlab.errors import MnistlabError
from mnistlab.inference.images import DEFAULT_MAX_PIXELS

PREDICT_EPILOG = """\
Each image is brought into MNIST's form first (polarity, noise, crop, 20 px box, centre of
mass), so photos and drawings work. A blank image gives "no digit found" (digit null in
--json). Exit status: 0 when every file could be read, 1 when any could not (its entry says
why; the other files are still predicted), 2 for a bad model folder or flag."""


def register(sub: argparse._SubParsersAction) -> None:
    predict = sub.add_parser(
        "predict",
        help="recognise digits in image files",
        description="Recognise the digit in each image file.",
        epilog=PREDICT_EPILOG,
    )
    predict.add_argument("model", help="run (or ensemble) folder")
    predict.add_argument(
        "inputs",
        nargs="+",
        metavar="IMAGE_OR_FOLDER",
        help="image files; a folder means every image in it",
    )
    predict.add_argument("--top-k", type=positive_int, default=3, help="default 3")
    predict.add_argument("--json", action="store_true", help="print one JSON array")
    predict.add_argument(
        "--save-preview",
        metavar="DIR",
        help="save the 28x28 image the model saw, as DIR/<name>.png",
    )
    predict.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images (default {DEFAULT_MAX_PIXELS:,})",
    )
    predict.set_defaults(func=cmd_predict)

    export = sub.add_parser(
        "export",
        help="export a model to ONNX, checked with onnxruntime",
        description="Export to ONNX (dynamic batch) and check onnxruntime's "
        "output against PyTorch's on real test images.",
    )
    export.add_argument("model", help="run (or ensemble) folder")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--out", metavar="FILE", help="default: MODEL/model.onnx")
    export.add_argument(
        "--check-images",
        type=positive_int,
        default=10000,
        metavar="N",
        help="test images to compare on (default 10000, all)",
    )
    add_data_args(export, mirrors=False)
    export.set_defaults(func=cmd_export)

    serve = sub.add_parser(
        "serve",
        help="web page to draw digits on, and a JSON API",
        description="Serve the drawing page (/) and the API (/docs).",
    )
    serve.add_argument("model", help="run (or ensemble) folder")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine)")
    serve.add_argument("--port", type=int, default=8000, help="default 8000")
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
    serve.set_defaults(func=cmd_serve)


def cmd_predict(args: argparse.Namespace) -> int:
    from mnistlab.inference.batch import predict_files
    from mnistlab.inference.predictor import Predictor

    predictor = Predictor.from_path(args.model)
    entries = predict_files(
        predictor,
        args.inputs,
        top_k=args.top_k,
        max_pixels=args.max_pixels,
        preview_dir=args.save_preview,
    )
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        width = min(max(len(e["path"]) for e in entries), 60)
        for entry in entries:
            print(_text_line(entry, width))
    return 1 if any(e["status"] == "unreadable" for e in entries) else 0


def _text_line(entry: dict[str, Any], width: int) -> str:
    path = entry["path"].ljust(width)
    if entry["status"] == "unreadable":
        return f"{path}  error: {entry['error'].removeprefix(entry['path'] + ': ')}"
    if entry["digit"] is None:
        return f"{path}  -  {entry['error']}"
    top = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in entry["top_k"])
    k = len(entry["top_k"])
    return f"{path}  {entry['label']}  {entry['confidence']:6.1%}   top-{k}: {top}"


def cmd_export(args: argparse.Namespace) -> int:
    from mnistlab.data.splits import load_splits
    from mnistlab.inference.export import TOLERANCE, export_onnx, max_abs_difference
    from mnistlab.train.checkpoint import load_model

    model, meta = load_model(args.model)
    out = Path(args.out) if args.out else Path(args.model) / "model.onnx"
    test = load_splits(meta.get("dataset", "mnist"), args.data_dir, download=False)["test"]
    images = test.images[: args.check_images]
    export_onnx(model, meta, out)
    diff = max_abs_difference(model, out, images, meta["normalization"])
    print(
        f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, opset "
        f"{_opset(out)}, input (batch, 1, 28, 28) normalised as {meta['normalization']!r})"
    )
    print(
        f"onnxruntime vs PyTorch on {len(images)} test images: max abs difference "
        f"{diff:.2e} (limit {TOLERANCE:.0e})"
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
    import torch

    from mnistlab.inference.predictor import Predictor
    from mnistlab.serve.app import create_app
    from mnistlab.serve.run import bind_socket, make_server

    # Requests run in parallel on the server's thread pool, one image each; intra-op threads
    # would only fight over the cores (on a busy 2-core machine: 100 ms instead of 1 ms).
    torch.set_num_threads(1)
    predictor = Predictor.from_path(args.model)  # a bad folder fails here, before listening
    app = create_app(predictor, max_body_bytes=args.max_body_bytes, max_pixels=args.max_pixels)
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    print(
        f"serving {predictor.name} from {args.model} on http://{host}:{port}/ "
        "(API docs at /docs; Ctrl-C to stop)",
        flush=True,
    )
    make_server(app, sock).run(sockets=[sock])
    return 0
