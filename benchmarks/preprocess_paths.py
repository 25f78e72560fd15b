"""Digital drawings take a shorter preprocessing path: is it the same digit, and how much faster?

    python -m benchmarks.preprocess_paths [--count 2000] [--model sota-cpu] [--jpeg Q] [--write]

Validation digits are drawn as the page draws them (a 280x280 canvas, a dark digit on white,
PNG; or saved as JPEG of quality Q, whose flat white stays exactly white, so it takes the
drawing path too, ringing and all) and preprocessed twice: by the drawing path
(mnistlab.inference.preprocess._drawing_ink, taken when the border and most of the image are
one exact value) and by the general path that photos take. Reports how far the 28x28
results differ, how often the model reads the same digit from both, each path's accuracy, and
the CPU time per canvas of each (interleaved, best of 3). --write: into docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--model", default="sota-cpu")
    parser.add_argument("--jpeg", type=int, metavar="Q", help="save the canvases as JPEG")
    parser.add_argument("--write", action="store_true")
    return parser.parse_args()


def canvases(count: int, jpeg: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    """Validation digits as the page's canvas, decoded back to grey arrays."""
    from PIL import Image

    from mnistlab.data.splits import load_splits
    from mnistlab.inference.images import open_image, to_gray

    val = load_splits(download=False)["val"]
    grays = []
    for digit in val.images[:count].numpy():
        canvas = Image.new("L", (280, 280), 255)
        canvas.paste(Image.fromarray(255 - digit).resize((200, 200), Image.BILINEAR), (40, 40))
        buffer = io.BytesIO()
        canvas.save(buffer, "JPEG", quality=jpeg) if jpeg else canvas.save(buffer, "PNG")
        grays.append(to_gray(open_image(buffer.getvalue())))
    return grays, val.labels[:count].numpy()


def main() -> int:
    import importlib

    import torch

    from mnistlab.inference.predictor import Predictor
    from mnistlab.system import header

    args = parse_args()
    torch.set_num_threads(1)
    steps = importlib.import_module("mnistlab.inference.preprocess")
    grays, labels = canvases(args.count, args.jpeg)
    drawing_test = steps._is_drawing

    def run(general: bool) -> np.ndarray:
        steps._is_drawing = (lambda work: False) if general else drawing_test
        try:
            return np.stack([steps.preprocess_array(g).pixels for g in grays])
        finally:
            steps._is_drawing = drawing_test

    assert all(drawing_test(steps._shrink(g, steps.COARSE_SIZE)[0]) for g in grays[:50])
    fast, slow = run(False), run(True)
    difference = np.abs(fast.astype(int) - slow.astype(int)).mean((1, 2))
    predictor = Predictor.from_path(args.model)
    read_fast = np.array([p.guess for p in predictor.predict_pixels(fast)])
    read_slow = np.array([p.guess for p in predictor.predict_pixels(slow)])
    timed = grays[: min(300, len(grays))]
    best = {True: float("inf"), False: float("inf")}
    for _ in range(3):
        for general in (False, True):
            steps._is_drawing = (lambda work: False) if general else drawing_test
            start = time.process_time()
            for g in timed:
                steps.preprocess_array(g)
            best[general] = min(best[general], (time.process_time() - start) / len(timed))
            steps._is_drawing = drawing_test
    kind = f"JPEG quality {args.jpeg}" if args.jpeg else "PNG"
    rows = [
        ("canvases", f"{len(grays):,} validation digits, 280x280 {kind}"),
        ("mean absolute difference of the 28x28 results", f"{difference.mean():.2f} of 255"),
        ("the model reads the same digit from both", f"{np.mean(read_fast == read_slow):.2%}"),
        ("accuracy, drawing path", f"{np.mean(read_fast == labels):.2%}"),
        ("accuracy, general path", f"{np.mean(read_slow == labels):.2%}"),
        ("CPU per canvas, drawing path", f"{1000 * best[False]:.2f} ms"),
        ("CPU per canvas, general path", f"{1000 * best[True]:.2f} ms"),
    ]
    table = "\n".join(
        ["| drawing path vs general path | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    )
    setup = (
        f"`python -m benchmarks.preprocess_paths --count {args.count} --model {args.model}"
        f"{f' --jpeg {args.jpeg}' if args.jpeg else ''}` "
        f"(one thread; CPU time, best of 3 interleaved passes over {len(timed)} canvases)"
    )
    print(header())
    print(setup)
    print(table)
    if args.write:
        from benchmarks._report import update_section

        name = f"preprocess_paths_jpeg{args.jpeg}" if args.jpeg else "preprocess_paths"
        update_section(name, f"{header()}\n\n{setup}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
