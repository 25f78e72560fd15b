"""`finetune`: a person's folder in, the personal model's run folder out (weights, model.json
with its card `adapted`, CARD.md); the adapting itself is mnistlab.train.personal.adapt."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnistlab.calibration.types import Calibration
from mnistlab.data.splits import Split
from mnistlab.errors import MnistlabError
from mnistlab.evaluate import accuracy
from mnistlab.files import write_bytes_atomic
from mnistlab.runs.folder import save_meta, save_weights
from mnistlab.runs.meta import Adaptation, RunMeta
from mnistlab.system import hardware
from mnistlab.train.engine import CallbackList, Callbacks
from mnistlab.train.personal import Adapted, FinetuneConfig, adapt
from mnistlab.train.progress import ProgressBar


def personal_bank(
    adapted: Adapted, base: RunMeta, bank_digits: np.ndarray | None, train: Split
) -> torch.Tensor | None:
    """The personal model's feature bank: its features of the base bank's training digits
    (`bank_digits`, the shipped images of inference.explain.bank_digits_of: a second, and its
    rows stay the digits the page shows as nearest), else of the train split's bank digits as
    training builds them (seconds more: 1,200 of them are drawn as photos). None when the base
    has no feature rule."""
    from mnistlab.calibration.core import feature_layer
    from mnistlab.train.calibrate import bank_from, feature_bank

    if base.calibration is None or base.calibration.features is None:
        return None
    if feature_layer(adapted.model) is None:
        return None
    if bank_digits is None:
        return feature_bank(adapted.model, train, base.normalization)
    return bank_from(adapted.model, bank_digits, base.normalization)


def calibrate_personal(
    adapted: Adapted,
    base: RunMeta,
    splits: dict[str, Split],
    fit: Split,
    cfg: FinetuneConfig,
    folder: Path,
    bank_digits: np.ndarray | None = None,
):
    """The calibration refitted on the person's fit digits plus the validation split (None when
    cfg.calibration is "none" or the base model was never calibrated). A fast refit keeps the
    base's feature rule ("unlike the digits it knows") on a bank rebuilt from `bank_digits`
    (personal_bank), written into `folder`."""
    from mnistlab.train.calibrate import calibrate_model, refit_calibration, store_bank

    if cfg.calibration == "none" or base.calibration is None or "val" not in splits:
        return None
    val = splits["val"]
    both = Split(torch.cat([val.images, fit.images]), torch.cat([val.labels, fit.labels]))
    where = f"validation split ({len(val):,}) and the person's {len(fit)} fit digits"
    if cfg.calibration == "full":
        full = {"val": both, "train": splits["train"], "test": splits["test"]}
        cal = calibrate_model(adapted.model, base, full, "cpu", bank_to=folder)
        cal = dataclasses.replace(cal, fitted_on=f"{where}; {cal.fitted_on}")
        return with_base_reading(cal, base)
    bank = personal_bank(adapted, base, bank_digits, splits["train"])
    cal = refit_calibration(
        adapted.model,
        base.calibration,
        both,
        base.normalization,
        where + " (fast refit)",
        bank,
        same_rows=len(val),
    )
    return with_base_reading(store_bank(folder, cal, bank), base)


def with_base_reading(cal: Calibration, base: RunMeta) -> Calibration:
    """`cal` with the base model's string rule for read numbers, kept as it is: a fit takes
    minutes (900 numbers read), not the seconds a personal model has, and without a rule a
    personal model's readings were "sure" whenever every digit was (4% of strings sure and
    wrong on validation). benchmarks/personal_reading.py measures how the kept rule does."""
    rule = base.calibration.reading if base.calibration is not None else None
    if rule is None:
        return cal
    kept = dataclasses.replace(
        rule, fitted_on=f"{rule.fitted_on}; the base model's rule, kept for the adapted model"
    )
    return dataclasses.replace(cal, reading=kept)


def write_personal_folder(
    folder: Path,
    adapted: Adapted,
    base: RunMeta,
    base_name: str,
    splits: dict[str, Split],
    fit: Split,
    held_out: Split,
    cfg: FinetuneConfig,
    source: str = "",
    bank_digits: np.ndarray | None = None,
) -> RunMeta:
    """Write the folder (atomically, file by file; model.json last, so a folder with one is
    whole) and return its model.json. `bank_digits`: see calibrate_personal."""
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder, adapted.model)
    calibration = calibrate_personal(adapted, base, splits, fit, cfg, folder, bank_digits)
    card = Adaptation(
        base=base_name,
        base_test_acc=base.test_acc,
        fit_digits=len(fit),
        held_out_digits=len(held_out),
        held_out_acc_before=adapted.held_out_before,
        held_out_acc_after=adapted.held_out_after,
        source=source,
        steps=cfg.steps,
        replayed_mnist_digits=cfg.steps * cfg.batch_size
        - round(cfg.steps * cfg.batch_size * cfg.person_share),
        style=adapted.style.describe() if adapted.style else "",
    )
    meta = RunMeta(
        model=base.model,
        config=dict(base.config),
        normalization=base.normalization,
        dataset=base.dataset,
        seed=cfg.seed,
        epochs=1,
        epochs_completed=1,
        complete=True,
        val_acc=accuracy(adapted.model, splits["val"], base.normalization),
        test_acc=accuracy(adapted.model, splits["test"], base.normalization),
        train_seconds=adapted.seconds,
        train=adapted.train.to_dict() | {"finetune": dataclasses.asdict(cfg)},
        device="cpu",
        hardware=hardware("cpu"),
        calibration=calibration,
        adapted=card,
    )
    save_meta(folder, meta)
    write_bytes_atomic(folder / "CARD.md", card_text(meta, cfg).encode())
    return meta


def card_text(meta: RunMeta, cfg: FinetuneConfig) -> str:
    """CARD.md: what a reader of the folder should know first (`cfg`: how it was adapted)."""
    card = meta.adapted
    assert card is not None

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    replay = f"{card.replayed_mnist_digits:,} replayed MNIST training digits" + (
        f" (fitted to {card.base}'s answers, not their labels)" if cfg.distill else ""
    )
    style = (
        f"- the person's hand, measured from their digits: {card.style}; "
        f"{cfg.restyle:.0%} of the replayed digits were redrawn in it\n"
        if card.style
        else ""
    )

    return (
        f"# Personal model adapted from {card.base}\n\n"
        f"- network: {meta.model} {meta.config}\n"
        f"- adapted on {card.fit_digits} of the person's digits ({card.source or 'a folder'}), "
        f"mixed with {replay}, {card.steps} steps\n"
        f"{style}"
        f"- {card.held_out_digits} of the person's digits held out before training: accuracy "
        f"{pct(card.held_out_acc_before)} before, {pct(card.held_out_acc_after)} after\n"
        f"- MNIST test accuracy: {pct(card.base_test_acc)} before, {pct(meta.test_acc)} after\n"
        f"- calibration: {meta.calibration.fitted_on if meta.calibration else 'none'}\n"
        "\nA few dozen digits say little: the held-out accuracy is a rough estimate.\n"
    )


@dataclass
class FinetuneResult:
    """What `finetune` returns (and the CLI prints)."""

    adapted: Adapted
    meta: RunMeta  # the new model.json
    held_out_digits: int
    skipped: list[tuple[Path, str]]  # files of the folder without a readable digit
    base_test_acc: float | None
    run_dir: Path


def finetune(
    model: str | Path,
    images: str | Path,
    out: str | Path,
    config: FinetuneConfig | dict[str, Any] | None = None,
    data_dir: str | Path | None = None,
    callbacks: Callbacks | Sequence[Callbacks] | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Adapt `model` (a folder or shipped name) to the labelled digits in `images`
    (DIR/<label>/<name>.png) and write the personal model's run folder to `out`. `progress`
    shows the steps as `fit` does (a bar in a terminal or notebook), its closing line on
    stderr, so that a caller's stdout stays its own.

    >>> result = mnistlab.finetune("sota-cpu", "my-digits", "runs/me")
    >>> result.adapted.held_out_before, result.adapted.held_out_after
    """
    from mnistlab.data.splits import load_splits
    from mnistlab.inference.explain import bank_digits_of
    from mnistlab.inference.folders import load_image_folder, stratified_split, subset
    from mnistlab.runs import load_model

    cfg = config if isinstance(config, FinetuneConfig) else FinetuneConfig.from_dict(config or {})
    base, meta = load_model(model)
    if meta.is_ensemble:
        raise MnistlabError(f"{model}: an ensemble; finetune adapts a single model")
    person = load_image_folder(images)
    fit_index, held_index = stratified_split(person.split.labels, cfg.held_out, cfg.seed)
    if not fit_index:
        raise MnistlabError(f"{images}: too few digits to fit on (got {len(person.split)})")
    fit, held = subset(person.split, fit_index), subset(person.split, held_index)
    splits = load_splits(meta.dataset, data_dir)
    # the base bank's digits, found while the base model still has its own bank
    digits = bank_digits_of(base, meta)
    every = CallbackList(callbacks).callbacks
    if progress:
        every.append(ProgressBar(1, prefix="finetune: ", lines_file=sys.stderr))
    adapted = adapt(base, meta, fit, splits["train"], held, cfg, every)
    new_meta = write_personal_folder(
        Path(out), adapted, meta, str(model), splits, fit, held, cfg, source=str(images),
        bank_digits=None if digits is None else digits.images,
    )  # fmt: skip
    return FinetuneResult(adapted, new_meta, len(held), person.skipped, meta.test_acc, Path(out))
