"""`mnistlab bench speed`."""

from __future__ import annotations

import argparse
import json

from mnistlab.cli.common import (
    DEVICE_CHOICES,
    add_model_arg,
    non_negative_int,
    note,
    positive_int,
)


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
    speed.add_argument(
        "--isa",
        metavar="LIST",
        help="a CPU matrix: run everything once per instruction set, each in a fresh process "
        "capped to it (comma-separated: native, avx512, avx2), and print a column per set",
    )
    speed.add_argument("--json", action="store_true")
    speed.add_argument("--data-dir", metavar="DIR")
    speed.set_defaults(func=cmd_speed)

    robust = bench_sub.add_parser(
        "robustness",
        help="answers on digits and numbers drawn in real-world conditions",
        description="Render MNIST digits as people photograph, draw, scan and send them (crops, "
        "sizes, pens, paper, light, low resolution, print, compression: mnistlab.synth) and "
        "count MODEL's answers per kind on both sides of 'not sure': right, wrong (a wrong digit "
        "answered), wasted (not sure, best guess right), saved (not sure, best guess wrong); "
        "with each kind's family (mnistlab.synth.families), totals over all kinds and over the "
        "held-out families, the best guess's accuracy beside the same digits as MNIST pixels, "
        "and the share of non-digits refused. Then numbers of 2-8 digits.",
    )
    add_model_arg(robust, optional=True)
    robust.add_argument(
        "--count", type=positive_int, default=300, help="digits per kind (default 300)"
    )
    robust.add_argument(
        "--nondigits",
        type=non_negative_int,
        help="images per non-digit kind (default: --count; 0 skips them)",
    )
    robust.add_argument(
        "--numbers",
        type=non_negative_int,
        default=100,
        help="numbers per kind (default 100; 0 skips them)",
    )
    robust.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="where the digits come from: test for reports, val while tuning (default test)",
    )
    robust.add_argument("--seed", type=non_negative_int, default=0)
    robust.add_argument(
        "--kinds", help="comma-separated kinds (default all; see mnistlab.synth.DIGIT_KINDS)"
    )
    robust.add_argument(
        "--families",
        help="comma-separated families: their kinds (see mnistlab.synth.families.FAMILIES)",
    )
    robust.add_argument("--json", action="store_true")
    robust.add_argument("--data-dir", metavar="DIR")
    robust.set_defaults(func=cmd_robustness)


def cmd_speed(args: argparse.Namespace) -> int:
    if args.isa is not None:  # before torch: each column is a fresh process with its caps
        return speed_matrix(args)
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


def _chosen_kinds(args: argparse.Namespace) -> list[str] | None:
    """--kinds and --families as kinds in the registry's order; None: all."""
    from mnistlab.errors import MnistlabError
    from mnistlab.synth import DIGIT_KINDS
    from mnistlab.synth.families import FAMILIES, kinds_of

    if not args.kinds and not args.families:
        return None
    wanted = {k for k in (args.kinds or "").split(",") if k}
    unknown = sorted(wanted - set(DIGIT_KINDS))
    if unknown:
        raise MnistlabError(
            f"--kinds: unknown {', '.join(unknown)}; known: {', '.join(DIGIT_KINDS)}"
        )
    families = [f for f in (args.families or "").split(",") if f]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise MnistlabError(
            f"--families: unknown {', '.join(unknown)}; known: {', '.join(FAMILIES)}"
        )
    wanted |= set(kinds_of(families))
    return [k for k in DIGIT_KINDS if k in wanted]


def cmd_robustness(args: argparse.Namespace) -> int:
    from mnistlab.bench.robustness import format_digits, format_numbers, run_digits, run_numbers
    from mnistlab.data.splits import load_splits
    from mnistlab.inference.predictor import Predictor
    from mnistlab.runs import default_pretrained

    kinds = _chosen_kinds(args)
    predictor = Predictor.from_path(args.model, notify=note)
    split = load_splits(predictor.meta.dataset, args.data_dir)[args.split]
    report = {"model": args.model or default_pretrained(), "split": args.split}
    nondigits = args.count if args.nondigits is None else args.nondigits
    progress = None if args.json else _progress
    digits = run_digits(predictor, split, args.count, args.seed, kinds, progress, nondigits)
    report["digits"] = digits.to_dict()
    if args.numbers:
        report["numbers"] = run_numbers(predictor, split, args.numbers, args.seed)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['model']} on the {args.split} split")
        print(format_digits(digits))
        if args.numbers:
            print(format_numbers(report["numbers"]))
    return 0


def _progress(result) -> None:
    from mnistlab.bench.robustness import KindResult

    if isinstance(result, KindResult):
        note(f"{result.kind}: {100 * result.tally.share(result.tally.right):.1f}% right")
    else:
        note(f"{result.kind}: {100 * result.refused_share:.1f}% refused")


def speed_matrix(args: argparse.Namespace) -> int:
    """`bench speed --isa LIST`: this command again per instruction set, each a fresh process
    whose torch is capped by its environment (mnistlab.bench.isa), then one table."""
    import sys

    from mnistlab.bench.isa import matrix_table, parse_isas, run_capped
    from mnistlab.errors import MnistlabError

    try:
        isas = parse_isas(args.isa)
    except ValueError as error:
        raise MnistlabError(str(error)) from None
    command = [sys.executable, "-m", "mnistlab", "bench", "speed", "--json"]
    command += ["--device", args.device, "--seeds", str(args.seeds)]
    command += ["--peer-seeds", str(args.peer_seeds), "--peers", args.peers]
    command += ["--smoke"] * args.smoke + ["--also-fp32"] * args.also_fp32
    command += ["--data-dir", args.data_dir] if args.data_dir else []
    reports = {}
    for isa in isas:
        try:
            reports[isa] = run_capped(command, isa, "bench speed")
        except RuntimeError as error:
            raise MnistlabError(str(error)) from None
    print(json.dumps({"isa": reports}) if args.json else matrix_table(reports))
    return 0
