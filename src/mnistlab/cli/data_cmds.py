"""`mnistlab data fetch|verify|info` and `mnistlab show`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnistlab.cli.common import add_data_args, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser(
        "data",
        help="fetch, verify and describe the dataset files",
        description="Fetch, verify and describe the dataset files.",
    )
    data_sub = data.add_subparsers(
        dest="data_command", metavar="ACTION", required=True, parser_class=type(data)
    )
    data_sub.add_parser(
        "fetch", help="download missing files and verify them", options=_fetch_options
    )
    data_sub.add_parser(
        "verify", help="check every file's checksum (exit 0 if all pass)", options=_verify_options
    )
    data_sub.add_parser(
        "info", help="location, counts per split and class, checksums", options=_info_options
    )
    sub.add_parser(
        "show",
        help="save the first N images of a split as a PNG grid",
        description="Draw the first N images of a split with their labels.",
        options=_show_options,
    )


def _fetch_options(fetch: argparse.ArgumentParser) -> None:
    add_data_args(fetch)
    fetch.set_defaults(func=cmd_fetch)


def _verify_options(verify: argparse.ArgumentParser) -> None:
    add_data_args(verify, mirrors=False)
    verify.set_defaults(func=cmd_verify)


def _info_options(info: argparse.ArgumentParser) -> None:
    info.add_argument("--json", action="store_true", help="print one JSON object")
    add_data_args(info)
    info.set_defaults(func=cmd_info)


def _show_options(show: argparse.ArgumentParser) -> None:
    from mnistlab.data.datasets import SPLITS

    show.add_argument("--n", type=positive_int, default=16, help="number of images (default 16)")
    show.add_argument("--split", choices=SPLITS, default="train")
    show.add_argument("--out", default="samples.png", help="PNG file to write")
    add_data_args(show)
    show.set_defaults(func=cmd_show)


def cmd_fetch(args: argparse.Namespace) -> int:
    from mnistlab.data import inspect
    from mnistlab.data.datasets import get_dataset
    from mnistlab.data.download import ensure_files

    spec = get_dataset(args.dataset)
    if args.data_dir:  # like torchvision's root: a folder to fetch into is created for you
        Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    paths = ensure_files(spec, args.data_dir, mirrors=args.mirrors)
    checks = inspect.verify_files(spec, args.data_dir)
    for check in checks:
        print(f"{'ok' if check.ok else 'FAILED':6} {check.name}  {check.path}")
    bad = [c for c in checks if not c.ok]
    if bad:
        print(
            f"mnistlab: error: {len(bad)} file(s) failed verification; run "
            "`mnistlab data verify` for details",
            file=sys.stderr,
        )
        return 1
    print(f"{spec.name}: all {len(paths)} files present and verified")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from mnistlab.data import inspect
    from mnistlab.data.datasets import get_dataset

    spec = get_dataset(args.dataset)
    checks = inspect.verify_files(spec, args.data_dir)
    for check in checks:
        if check.ok:
            print(f"ok      {check.name}  md5 {check.actual_md5}  {check.path}")
        elif check.actual_md5:
            print(
                f"FAILED  {check.name}  md5 {check.actual_md5}, expected {check.expected_md5}"
                f"  {check.path}"
            )
        else:
            print(f"FAILED  {check.name}  {check.problem}  {check.path or ''}".rstrip())
    failed = sum(not c.ok for c in checks)
    damaged = sum(not c.ok and bool(c.actual_md5) for c in checks)
    if failed and not damaged:  # nothing there to delete: they were never fetched
        print(
            f"{failed} of {len(checks)} files missing; run `mnistlab data fetch`, or give "
            "--data-dir the folder that holds them"
        )
        return 1
    if failed:
        print(
            f"{failed} of {len(checks)} files failed; delete the damaged ones and run "
            "`mnistlab data fetch`, or copy good files into the data folder"
        )
        return 1
    print(f"all {len(checks)} files match the official checksums")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from mnistlab.data import inspect, store
    from mnistlab.data.datasets import get_dataset
    from mnistlab.data.download import ensure_files
    from mnistlab.data.splits import SPLIT_SEED, SPLITS, load_splits

    spec = get_dataset(args.dataset)
    ensure_files(spec, args.data_dir, mirrors=args.mirrors)
    splits = load_splits(spec.name, args.data_dir, download=False)
    paths = store.locate(spec, args.data_dir)
    counts = {
        name: inspect.class_counts(splits[name].labels.numpy(), len(spec.classes))
        for name in SPLITS
    }
    if args.json:
        info = {
            "dataset": spec.name,
            "title": spec.title,
            "location": str(paths["train-images"].parent),
            "files": {f.name: {"md5": f.md5, "path": str(paths[f.key])} for f in spec.files},
            "split_seed": SPLIT_SEED,
            "classes": list(spec.classes),
            "splits": {n: {"images": len(splits[n]), "per_class": counts[n]} for n in SPLITS},
        }
        print(json.dumps(info, indent=2))
        return 0
    print(f"dataset   {spec.name}: {spec.title}")
    print(f"location  {paths['train-images'].parent}")
    for file in spec.files:
        print(f"  {file.name:26} md5 {file.md5}  ({paths[file.key].name})")
    print(f"splits    (validation split: fixed permutation, seed {SPLIT_SEED})")
    header = "  split  images  " + " ".join(f"{c[:6]:>6}" for c in spec.classes)
    print(header)
    for name in SPLITS:
        print(f"  {name:5} {len(splits[name]):7}  " + " ".join(f"{c:6}" for c in counts[name]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from mnistlab.data.datasets import get_dataset
    from mnistlab.data.splits import load_splits
    from mnistlab.plots import save_sample_grid

    splits = load_splits(args.dataset, args.data_dir, mirrors=args.mirrors)
    split = splits[args.split]
    n = min(args.n, len(split))
    classes = get_dataset(args.dataset).classes
    labels = [classes[int(y)] for y in split.labels[:n]]
    path = save_sample_grid(
        split.images[:n].numpy(),
        labels,
        args.out,
        title=f"{args.dataset} {args.split}: first {n} images",
    )
    print(f"wrote {path}")
    return 0
