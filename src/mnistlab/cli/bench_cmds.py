"""`mnistlab bench speed`."""

from __future__ import annotations

import argparse
import json

from mnistlab.cli.common import DEVICE_CHOICES, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="measure speed against the peers")
    bench_sub = bench.add_subparsers(
        dest="bench_command", metavar="WHAT", required=True, parser_class=type(bench)
    )
    speed = bench_sub.add_parser(
        "speed",
        help="time to 99%% test accuracy: mnistlab's fast recipe and its peers",
        description="Train the fast recipe and the peers in this process and print T@99.",
    )
    speed.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    speed.add_argument(
        "--seeds",
        type=positive_int,
        default=10,
        help="seeds for the one-epoch recipes (default 10)",
    )
    speed.add_argument(
        "--peer-seeds",
        type=positive_int,
        default=1,
        help="seeds for the slow multi-epoch peers (default 1)",
    )
    speed.add_argument(
        "--peers",
        default="tuomaso,examples,tutorial",
        help="comma-separated subset of tuomaso,examples,tutorial (or none)",
    )
    speed.add_argument(
        "--smoke",
        action="store_true",
        help="a few steps on 2,000 images: checks the code, measures nothing",
    )
    speed.add_argument(
        "--also-fp32",
        action="store_true",
        help="also time the fast recipe in fp32 (where it uses bf16 autocast: CPUs with AMX)",
    )
    speed.add_argument("--json", action="store_true")
    speed.add_argument("--data-dir", metavar="DIR")
    speed.set_defaults(func=cmd_speed)


def cmd_speed(args: argparse.Namespace) -> int:
    from mnistlab.bench.speed import format_table, run_speed_bench
    from mnistlab.errors import MnistlabError

    wanted = tuple(p for p in args.peers.split(",") if p and p != "none")
    from mnistlab.bench.speed import PEERS

    unknown = set(wanted) - set(PEERS)
    if unknown:
        raise MnistlabError(f"--peers: unknown peer(s) {', '.join(sorted(unknown))}")
    from mnistlab.system import configure_for_training, resolve_device

    configure_for_training(resolve_device(args.device))  # process-wide: the CLI's choice
    result = run_speed_bench(
        args.device,
        args.seeds,
        args.peer_seeds,
        wanted,
        args.smoke,
        args.data_dir,
        also_fp32=args.also_fp32,
    )
    print(json.dumps(result) if args.json else format_table(result))
    return 0
