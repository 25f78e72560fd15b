"""The accuracy recipes: several seeds, their ensemble, and test-time augmentation.

    python -m benchmarks.sota --recipe sota-cpu --seeds 0,1,2 [--device cpu] [--write]
    python -m benchmarks.sota --recipe sota --seeds 0-9 --budget-s 300   (on a GPU)
    python -m benchmarks.sota --recipe sota-cpu --seeds 0-4 --isa native,avx2 [--write]

With --isa, the whole run is repeated per instruction set in a fresh process capped to it
(mnistlab.bench.isa), each with tuomaso's epoch measured before and after its seeds under the same
cap, and one table has a column per set: the recipe picks bf16 and its epochs from what the capped
process can use.

Each member trains with the fixed recipe (nothing is chosen on the test set; its accuracy is
read once, at the end of training). The ensemble averages all members' softmax outputs. TTA
(one-pixel shifts) is reported separately from the plain numbers. With --budget-s, no new seed
starts once the budget is spent (at least 3 are trained): how many members there are depends on
the time, never on their accuracy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks._report import mean_std, pct, update_section
from mnistlab.ensemble import evaluate_ensemble
from mnistlab.runs.folder import read_meta
from mnistlab.system import configure_for_training, header, resolve_device
from mnistlab.train.config import build_config
from mnistlab.train.recipes import get_recipe
from mnistlab.train.run import run_training
from mnistlab.train.seeds import parse_seeds


def say(*parts: object) -> None:
    """Progress lines; on stderr, so that `--json-out -` leaves stdout to the record alone."""
    print(*parts, file=sys.stderr, flush=True)


def reference_epoch(args, device) -> float:
    """Seconds of one epoch of tuomaso's recipe (bench/peers.py) on all 60,000 images."""
    from mnistlab.bench.peers import run_tuomaso
    from mnistlab.data.splits import load_splits

    splits = load_splits("mnist", args.data_dir, full_train=True, download=False)
    run_tuomaso(splits["train"], splits["test"], 0, device, max_steps=5)  # warm-up
    run = run_tuomaso(splits["train"], splits["test"], 0, device)
    say(f"  tuomaso one epoch: {run.seconds[-1]:.2f} s")
    return run.seconds[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="sota-cpu")
    parser.add_argument("--seeds", default="0,1,2", help="a list (0,1,2) or a range (0-9)")
    parser.add_argument(
        "--budget-s", type=float, help="start no new seed after this many seconds (min. 3 seeds)"
    )
    parser.add_argument(
        "--json-out", help="also write every figure to this JSON file ('-': stdout, alone)"
    )
    parser.add_argument(
        "--isa",
        metavar="LIST",
        help="a CPU matrix: the run once per instruction set (native, avx512, avx2), each in a "
        "fresh capped process with the reference epoch, and a column per set",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--lr", type=float, help="override the recipe's peak learning rate")
    parser.add_argument(
        "--cuda-graph", action="store_true", help="replay each step as a CUDA graph"
    )
    parser.add_argument(
        "--cpu-bf16", action="store_true", help="bf16 autocast (CPUs with native bf16)"
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="time one epoch of tuomaso's recipe before and after the seeds, in this process, "
        "and report each seed's training time as a multiple of it",
    )
    parser.add_argument("--work", default="runs/bench-sota")
    parser.add_argument("--data-dir")
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    parser.add_argument(
        "--train-only",
        action="store_true",
        help="train the seeds and stop (to run seeds in separate processes); a "
        "later run with all seeds reuses finished runs and evaluates",
    )
    args = parser.parse_args()
    if args.isa is not None:  # before torch starts work: each column is a capped child
        isa_matrix(args)
        return
    device = resolve_device(args.device)
    configure_for_training(device)  # process-wide, at the entry point
    seeds = parse_seeds(args.seeds)
    recipe = get_recipe(args.recipe, device.type)
    command = "python -m benchmarks.sota " + " ".join(sys.argv[1:])
    bf16 = args.cpu_bf16 or bool(recipe.get("cpu_bf16"))  # asked for, or the recipe's own
    say(header(device))
    references = [reference_epoch(args, device)] if args.reference else []
    folders, tests, vals, secs = [], [], [], []
    started = seed_started = time.perf_counter()
    for seed in seeds:
        now = time.perf_counter()
        spent, last_seed_wall = now - started, now - seed_started
        # stop when the next seed, taking as long as the last one, would end past the budget
        if (
            args.budget_s is not None
            and len(folders) >= 3
            and spent + last_seed_wall > args.budget_s
        ):
            say(f"  {spent:.0f} s of the {args.budget_s:.0f} s budget spent: stopping")
            break
        seed_started = now
        cfg = build_config(
            recipe["model"],
            {**recipe, "recipe": args.recipe},
            seed=seed,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            cuda_graph=args.cuda_graph or None,
            cpu_bf16=args.cpu_bf16 or None,
        )
        out = Path(args.work) / args.recipe / f"seed{seed}"
        if (out / "model.json").is_file() and read_meta(out).complete:
            meta = read_meta(out)  # trained by an earlier (--train-only) invocation
        else:
            meta = run_training(cfg, out, data_dir=args.data_dir, device=str(device))
        folders.append(str(out))
        tests.append(meta.test_acc)
        vals.append(meta.val_acc)
        secs.append(meta.train_seconds)
        say(
            f"  seed {seed}: test {100 * meta.test_acc:.2f}%, val "
            f"{100 * meta.val_acc:.2f}%, {meta.train_seconds:.1f} s training "
            f"({meta.hardware})"
        )
    seeds = seeds[: len(folders)]
    if args.reference:
        references.append(reference_epoch(args, device))
    if args.train_only:
        return
    single_tta = [
        evaluate_ensemble([f], tta=True, data_dir=args.data_dir, device=str(device))["accuracy_tta"]
        for f in folders
    ]
    ensemble_dir = Path(args.work) / args.recipe / f"ensemble-of-{len(folders)}"
    shutil.rmtree(ensemble_dir, ignore_errors=True)  # a scratch copy from an earlier invocation
    ensemble = evaluate_ensemble(
        folders,
        tta=True,
        out=str(ensemble_dir),
        data_dir=args.data_dir,
        device=str(device),
    )
    # smaller ensembles: the first k members in seed order (fixed in advance, not picked)
    prefixes = {
        k: evaluate_ensemble(folders[:k], data_dir=args.data_dir, device=str(device))["accuracy"]
        for k in (3, 5)
        if k < len(folders)
    }
    epochs = args.epochs or recipe["epochs"]
    batch, lr = args.batch_size or recipe["batch_size"], args.lr or recipe["lr"]
    lines = [
        f"Command: `{command}`  ",
        header(device),
        "",
        f"Recipe `{args.recipe}` ({recipe['model']} {recipe.get('model_config', {})}, "
        f"{epochs} epochs, batch {batch}, peak lr {lr}"
        f"{', CUDA graph' if args.cuda_graph else ''}"
        f"{', bf16 autocast' if bf16 else ''}), "
        f"seeds {','.join(map(str, seeds))}:",
        "",
        "| what | test acc, % | notes |",
        "|---|---|---|",
        f"| single model (mean ± std over {len(seeds)} seeds) | {pct(tests)} | val {pct(vals)}; "
        f"training s per seed: {', '.join(f'{t:.1f}' for t in secs)} |",
        f"| single model + TTA (5 one-pixel shifts) | {pct(single_tta)} | reported apart |",
        f"| ensemble of {len(seeds)} | {100 * ensemble['accuracy']:.2f} | softmax average |",
        f"| ensemble of {len(seeds)} + TTA | {100 * ensemble['accuracy_tta']:.2f} | |",
        *(
            f"| ensemble of the first {k} | {100 * a:.2f} | softmax average |"
            for k, a in prefixes.items()
        ),
    ]
    if references:
        ref = sum(references) / len(references)
        multiples = ", ".join(f"{t / ref:.1f}x" for t in secs)
        lines += [
            "",
            f"tuomaso's one epoch in this run: {', '.join(f'{r:.2f}' for r in references)} s "
            f"(before and after the seeds); each seed's training time as a multiple of its "
            f"mean: {multiples}",
        ]
    text = "\n".join(lines)
    print(text, file=sys.stderr if args.json_out == "-" else sys.stdout)
    if args.json_out:
        record = {
            "command": command,
            "header": header(device),
            "recipe": args.recipe,
            "epochs": epochs,
            "batch_size": batch,
            "lr": lr,
            "cuda_graph": args.cuda_graph,
            "seeds": seeds,
            "test_acc": tests,
            "val_acc": vals,
            "train_seconds": secs,
            "test_acc_tta": single_tta,
            "ensemble": ensemble,
            "ensemble_prefixes": prefixes,
            "reference_epoch_seconds": references,
            "cpu_bf16": bf16,
            # what ATen dispatches to in this process (a cap in the environment lowers it)
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        }
        if args.json_out == "-":
            print(json.dumps(record))
        else:
            Path(args.json_out).write_text(json.dumps(record, indent=1))
    if args.write:
        update_section(f"sota_{args.recipe}_{device.type}", text)


def isa_matrix(args: argparse.Namespace) -> None:
    """This benchmark again per instruction set, each in a fresh process capped to it, with
    tuomaso's epoch before and after the seeds under the same cap; then one table."""
    from mnistlab.bench.isa import cpu_flags, parse_isas, run_capped

    try:
        isas = parse_isas(args.isa)
    except ValueError as error:
        sys.exit(str(error))
    records = {}
    for isa in isas:
        say(f"--isa {isa}:")
        command = [sys.executable, "-m", "benchmarks.sota", *child_argv(sys.argv[1:])]
        command += ["--reference", "--json-out", "-", "--work", f"{args.work}/{isa}"]
        records[isa] = run_capped(command, isa, "benchmarks.sota")
    text = isa_table(records, "python -m benchmarks.sota " + " ".join(sys.argv[1:]), cpu_flags())
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(records, indent=1))
    if args.write:
        update_section(f"sota_isa_{args.recipe}", text)


def child_argv(argv: list[str]) -> list[str]:
    """The matrix's own arguments less what each column sets itself (--isa, --json-out,
    --work) and --write (the parent writes the one table)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--isa", "--json-out", "--work"):
            skip = True
        elif not arg.startswith(("--isa=", "--json-out=", "--work=")) and arg != "--write":
            kept.append(arg)
    return kept


def isa_table(records: dict[str, dict], command: str, cpu: str) -> str:
    """A column per instruction set: what the recipe chose there, its accuracy and its
    training time as a multiple of tuomaso's epoch under the same cap."""
    isas = list(records)

    def row(name: str, cell) -> str:
        return f"| {name} | " + " | ".join(cell(records[isa]) for isa in isas) + " |"

    def multiples(r: dict) -> str:
        ref = statistics.fmean(r["reference_epoch_seconds"])
        times = [t / ref for t in r["train_seconds"]]
        return f"{statistics.fmean(times):.1f}x ({min(times):.1f}-{max(times):.1f}x)"

    return "\n".join(
        [
            f"Command: `{command}`  ",
            records[isas[0]]["header"] + "  ",
            f"CPU: {cpu}",
            "",
            "| | " + " | ".join(isas) + " |",
            "|---|" + "---|" * len(isas),
            row("ATen capability", lambda r: r["cpu_capability"]),
            row("precision, epochs", lambda r: f"{'bf16' if r['cpu_bf16'] else 'fp32'}, "
                f"{r['epochs']}"),
            row("test acc % (mean ± std)", lambda r: f"{pct(r['test_acc'])} "
                f"({len(r['test_acc'])} seeds)"),
            row("val acc %", lambda r: pct(r["val_acc"])),
            row("training s per seed", lambda r: "{:.0f} ± {:.0f}".format(
                *mean_std(r["train_seconds"]))),
            row("tuomaso's epoch, s (before, after)", lambda r: ", ".join(
                f"{s:.2f}" for s in r["reference_epoch_seconds"])),
            row("training / tuomaso's epoch", multiples),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
