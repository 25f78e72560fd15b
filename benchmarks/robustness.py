"""Answers of a model on digits and numbers drawn in real-world conditions (mnistlab.synth),
on MNIST's test split, per kind with its family, counted on both sides of "not sure"; best-guess
accuracy mean ± std over rendering seeds.

    python -m benchmarks.robustness [--model sota-cpu] [--seeds 0,1] [--count 300]
        [--numbers 100] [--write]

Each seed draws its own digits from the split and its own renders. The preprocessing was tuned
on the validation split (`mnistlab bench robustness --split val`); this touches the test split.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks._report import mean_std, pct, update_section
from mnistlab.bench.robustness import run_digits, run_numbers
from mnistlab.data.splits import load_splits
from mnistlab.inference.predictor import Predictor
from mnistlab.synth.families import HELD_OUT_FAMILIES
from mnistlab.system import header

OUT = Path(__file__).parent / "results" / "robustness.json"


def _row(name: str, family: str, cells: list[dict], reference: list[float]) -> str:
    """One kind (or total) over the seeds: the four sides summed, the best guess mean ± std."""
    images = sum(c["images"] for c in cells)
    sides = [
        f"{100 * sum(c[s] for c in cells) / images:.1f}"
        for s in ("right", "wrong", "wasted", "saved")
    ]
    accs = [c["accuracy"] for c in cells]
    drop, _ = mean_std([a - b for a, b in zip(accs, reference, strict=True)])
    blank = sum(c["blank"] for c in cells)
    return (
        f"| {name} | {family} | {' | '.join(sides)} | {blank} | {pct(accs)} | {100 * drop:+.2f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="default: the default shipped model")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--count", type=int, default=300, help="digits per kind and seed")
    parser.add_argument("--numbers", type=int, default=100, help="numbers per kind and seed")
    parser.add_argument("--write", action="store_true", help="update docs/RESULTS.md")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    predictor = Predictor.from_path(args.model)
    split = load_splits(predictor.meta.dataset)["test"]
    started = time.perf_counter()
    runs = []
    for seed in seeds:
        digits = run_digits(predictor, split, args.count, seed, nondigits=args.count).to_dict()
        numbers = run_numbers(predictor, split, args.numbers, seed) if args.numbers else None
        runs.append({"seed": seed, "digits": digits, "numbers": numbers})
        print(f"seed {seed} done after {time.perf_counter() - started:.0f} s", flush=True)
    name = args.model or "sota-cpu (default shipped)"
    command = (
        f"`python -m benchmarks.robustness --seeds {args.seeds} --count {args.count} "
        f"--numbers {args.numbers}`"
    )
    lines = [
        f"{command}; model {name}; {header('cpu')}",
        "",
        f"{args.count} test digits per kind and seed. right: answered the right digit; wrong: "
        "answered a wrong one (confidently wrong); wasted: 'not sure' though the best guess was "
        "right; saved: 'not sure' and the best guess was wrong (shares summed over seeds); "
        "guess: the best guess's accuracy, refused or not (as test accuracy counts it), and "
        "'vs pixels' its difference to the same digits given as MNIST pixels. Families: "
        "mnistlab.synth.families; * marks the held-out families "
        f"({', '.join(HELD_OUT_FAMILIES)}).",
        "",
        "| kind | family | right | wrong | wasted | saved | blank | guess (%) | vs pixels |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    reference = [r["digits"]["mnist_pixels_accuracy"] for r in runs]
    ref_mean, ref_std = mean_std(reference)
    lines.append(f"| MNIST pixels | | | | | | | {100 * ref_mean:.2f} ± {100 * ref_std:.2f} | |")
    rows = [
        (row["kind"], row["family"] + ("\\*" if row["held_out"] else ""))
        for row in runs[0]["digits"]["kinds"]
    ]
    for i, (name, family) in enumerate(rows):
        lines.append(_row(name, family, [r["digits"]["kinds"][i] for r in runs], reference))
    lines.append(_row("all benign kinds", "", [r["digits"]["total"] for r in runs], reference))
    lines.append(
        _row("held-out families", "", [r["digits"]["held_out_total"] for r in runs], reference)
    )
    lines += [
        "",
        f"{args.count} non-digits per kind and seed (mnistlab.synth.nondigits): refusing is right.",
        "",
        "| kind | refused (%) | answered a digit |",
        "|---|---|---|",
    ]
    for i, row in enumerate(runs[0]["digits"]["nondigits"]):
        cells = [r["digits"]["nondigits"][i] for r in runs]
        refused = sum(c["refused"] for c in cells) / sum(c["images"] for c in cells)
        answered = sum(c["answered"] for c in cells)
        lines.append(f"| {row['kind']} | {100 * refused:.1f} | {answered} |")
    if args.numbers:
        lines += [
            "",
            f"{args.numbers} numbers of 2-8 test digits per kind and seed "
            "(`mnistlab read`; a string counts only when every digit is right, and every sign: "
            "a minus, a decimal point, in the signs kind; digits right: at their place in a "
            "string of the right number of digits). strings right: "
            "the best reading, sure or not; sure and wrong; wasted: not sure though the best "
            "reading was right; saved: not sure and it was wrong (summed over seeds). * a kind "
            "the string rule's fit left out (mnistlab.synth.numbers.HELD_OUT_NUMBER_KINDS).",
            "",
            "| kind | strings right (%) | digits right (%) | sure and wrong | wasted | saved |",
            "|---|---|---|---|---|---|",
        ]
        for i, row in enumerate(runs[0]["numbers"]["kinds"]):
            cells = [r["numbers"]["kinds"][i] for r in runs]
            s_mean, s_std = mean_std([c["string_accuracy"] for c in cells])
            d_mean, d_std = mean_std([c["digit_accuracy"] for c in cells])
            total = sum(c["numbers"] for c in cells)
            sides = [sum(c[key] for c in cells) for key in ("sure_wrong", "wasted", "saved")]
            shares = " | ".join(f"{100 * n / total:.1f}% ({n})" for n in sides)
            kind = row["kind"] + ("\\*" if row["held_out"] else "")
            lines.append(
                f"| {kind} | {100 * s_mean:.2f} ± {100 * s_std:.2f} "
                f"| {100 * d_mean:.2f} ± {100 * d_std:.2f} | {shares} |"
            )
    table = "\n".join(lines)
    print(table)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"header": header("cpu"), "args": vars(args), "runs": runs}) + "\n")
    if args.write:
        update_section("robustness", "### Real-world digits and numbers\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
