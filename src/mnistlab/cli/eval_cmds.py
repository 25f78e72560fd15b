"""`mnistlab eval` and `mnistlab plot`: metrics and figures of a run or ensemble folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mnistlab.cli.common import DEVICE_CHOICES, add_data_args, add_model_arg, load_model_arg
from mnistlab.errors import MnistlabError

if TYPE_CHECKING:
    from mnistlab.runs.meta import RunMeta


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("eval", help="evaluate a model on the test or val split", options=_eval_options)
    sub.add_parser(
        "plot",
        help="training curves, confusion matrix, misclassified digits",
        options=_plot_options,
    )


def _eval_options(evaluate: argparse.ArgumentParser) -> None:
    add_model_arg(evaluate)
    evaluate.add_argument("--split", choices=["test", "val"], default="test")
    evaluate.add_argument(
        "--images",
        metavar="DIR",
        help="evaluate on a person's labelled images instead: DIR/<label>/<name>.png (any "
        "size; brought to MNIST's form as predict does)",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--tta", action="store_true", help="test-time augmentation: average over one-pixel shifts"
    )
    add_device_arg(evaluate)
    add_data_args(evaluate)
    evaluate.set_defaults(func=cmd_eval)


def _plot_options(plot: argparse.ArgumentParser) -> None:
    add_model_arg(plot)
    plot.add_argument(
        "--out",
        help="folder for the PNG files (default: the model folder; for a pretrained "
        "model: ./plots-NAME)",
    )
    add_device_arg(plot)
    add_data_args(plot)
    plot.set_defaults(func=cmd_plot)


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        help="default: the device the run was trained on, when it is here (so "
        "the accuracy equals test_acc in model.json exactly), else auto",
    )


def eval_device(requested: str | None, meta: RunMeta):
    import torch

    from mnistlab.system import resolve_device

    if requested:
        return resolve_device(requested)
    trained_on = meta.device.split(":")[0]
    if trained_on == "cuda" and torch.cuda.is_available() or trained_on == "cpu":
        return resolve_device(trained_on)
    return resolve_device("auto")


def _load(args: argparse.Namespace, split_name: str):
    """(model on its device, model.json, device, dataset name, split)."""
    from mnistlab.data.splits import load_splits

    model, meta = load_model_arg(args.model)
    if split_name == "val" and meta.full_train:
        raise MnistlabError(
            f"{args.model} was trained on all 60,000 training images, validation "
            "split included: evaluate it on --split test"
        )
    device = eval_device(args.device, meta)
    dataset = meta.dataset
    split = load_splits(dataset, args.data_dir, mirrors=args.mirrors)[split_name]
    return model.to(device), meta, device, dataset, split


def _load_images(args: argparse.Namespace):
    """(model on its device, model.json, device, dataset name, the folder's digits)."""
    from mnistlab.inference.folders import load_image_folder

    model, meta = load_model_arg(args.model)
    device = eval_device(args.device, meta)
    person = load_image_folder(args.images)
    for path, reason in person.skipped:
        print(f"mnistlab: skipped {path}: {reason.removeprefix(str(path) + ': ')}", file=sys.stderr)
    return model.to(device), meta, device, meta.dataset, person.split


def cmd_eval(args: argparse.Namespace) -> int:
    from mnistlab.calibration.core import ece_before_after
    from mnistlab.data.datasets import get_dataset
    from mnistlab.evaluate import predict_logits, predictions, report

    if args.images:
        model, meta, device, dataset, split = _load_images(args)
        where = f"the images in {args.images}"
    else:
        model, meta, device, dataset, split = _load(args, args.split)
        where = f"{dataset} {args.split}"
    logits = predict_logits(model, split, meta.normalization, device)
    if args.tta:
        predicted, _ = predictions(model, split, meta.normalization, device, tta=True)
    else:
        predicted = logits.argmax(1)
    result = report(predicted, split.labels, list(get_dataset(dataset).classes))
    temperature = meta.calibration.temperature if meta.calibration is not None else 1.0
    before, after = ece_before_after(logits, split.labels, temperature)
    # ECE of the single forward pass (without TTA), which is what predict and serve answer
    ece = {"temperature": temperature, "calibrated": meta.calibration is not None}
    ece |= {"before": before, "after": after, "bins": 15}
    if args.json:
        split_name = None if args.images else args.split
        record = {"model": str(args.model), "split": split_name, "tta": args.tta}
        record |= {"images": args.images} if args.images else {}
        print(json.dumps({**record, **result.to_dict(), "ece": ece}))
        return 0
    print(
        f"{args.model}: {meta.model} on {where}"
        f"{' with TTA' if args.tta else ''}: accuracy {100 * result.accuracy:.2f}% "
        f"({result.errors} errors in {result.n})"
    )
    if meta.calibration is None:
        print(f"ECE {100 * before:.2f}% (uncalibrated: `mnistlab calibrate` fits a temperature)")
    else:
        print(
            f"ECE {100 * before:.2f}% before temperature scaling, {100 * after:.2f}% after "
            f"(T {temperature:.3f}, fitted on the validation split)"
        )
    print("class  precision  recall     f1  support")
    for row in result.per_class:
        print(
            f"{row['class'][:5]:>5}  {row['precision']:9.4f}  {row['recall']:6.4f}  "
            f"{row['f1']:.4f}  {row['support']:7d}"
        )
    print("confusion matrix (rows: true, columns: predicted)")
    for row in result.confusion:
        print(" ".join(f"{v:5d}" for v in row))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    import numpy as np

    from mnistlab import plots
    from mnistlab.data.datasets import get_dataset
    from mnistlab.evaluate import predictions, report
    from mnistlab.runs import resolve_model
    from mnistlab.runs.folder import read_metrics

    folder = resolve_model(args.model)
    shipped = not Path(args.model).is_dir()
    out = Path(args.out) if args.out else Path(f"plots-{args.model}") if shipped else folder
    if out.exists() and not out.is_dir():
        raise MnistlabError(f"--out {out}: not a folder")
    model, meta, device, dataset, split = _load(args, "test")
    out.mkdir(parents=True, exist_ok=True)
    classes = list(get_dataset(dataset).classes)
    written = []
    metrics = read_metrics(folder)
    if metrics:
        written.append(
            plots.save_training_curves(
                metrics, out / "curves.png", title=f"{meta.model} (seed {meta.seed})"
            )
        )
    predicted, confidence = predictions(model, split, meta.normalization, device)
    result = report(predicted, split.labels, classes)
    written.append(
        plots.save_confusion_matrix(
            np.array(result.confusion),
            classes,
            out / "confusion.png",
            title=f"test confusion matrix: {100 * result.accuracy:.2f}% accuracy",
        )
    )
    wrong = (predicted != split.labels).nonzero().flatten()
    wrong = wrong[confidence[wrong].argsort(descending=True)][:100]  # most confident first
    written.append(
        plots.save_error_gallery(
            split.images[wrong].numpy(),
            split.labels[wrong].tolist(),
            predicted[wrong].tolist(),
            confidence[wrong].tolist(),
            out / "errors.png",
            classes,
            title=f"{result.errors} misclassified test digits (showing {len(wrong)}, most "
            "confident first): true→predicted",
        )
    )
    for path in written:
        print(f"wrote {path}")
    return 0
