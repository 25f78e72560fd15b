"""Building ensembles: members checked, evaluated together, and saved as a self-contained folder
that every command accepts like a single model (loading it: mnistlab.runs.ensemble)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from torch import nn

from mnistlab.errors import MnistlabError
from mnistlab.runs import folder as checkpoint
from mnistlab.runs.ensemble import Ensemble
from mnistlab.runs.meta import RunMeta

__all__ = ["Ensemble", "evaluate_ensemble", "load_members", "save_ensemble"]


def load_members(folders: list[str | Path]) -> tuple[list[nn.Module], list[RunMeta]]:
    """Load member folders and check that they can be averaged."""
    if not folders:
        raise MnistlabError("an ensemble needs at least one member folder")
    models, metas = [], []
    for folder in folders:
        model, meta = checkpoint.load_model(folder)
        if meta.is_ensemble:
            raise MnistlabError(f"{folder} is itself an ensemble; list its members instead")
        models.append(model)
        metas.append(meta)
    for key in ("normalization", "dataset"):
        values = {getattr(m, key) for m in metas}
        if len(values) > 1:
            raise MnistlabError(
                f"members differ in {key} ({', '.join(sorted(values))}); an "
                "ensemble averages models trained on the same inputs"
            )
    return models, metas


def save_ensemble(
    out: Path,
    folders: list[str | Path],
    metas: list[RunMeta],
    val_acc: float | None,
    test_acc: float | None,
) -> Path:
    """Copy the members' weights into out/members/<i>/ and write out/model.json."""
    check_empty_out(out)
    members = []
    for i, (folder, meta) in enumerate(zip(folders, metas, strict=True)):
        target = out / "members" / str(i)
        target.mkdir(parents=True, exist_ok=True)
        for name in (checkpoint.WEIGHTS, checkpoint.META):
            shutil.copy2(Path(folder) / name, target / name)
        members.append(
            {
                "path": f"members/{i}",
                "model": meta.model,
                "seed": meta.seed,
                "test_acc": meta.test_acc,
                "val_acc": meta.val_acc,
                "full_train": meta.full_train,  # RunMeta.full_train reads it
                "source": str(folder),
            }
        )
    checkpoint.save_meta(
        out,
        RunMeta(
            kind="ensemble",
            model="ensemble",
            config={"members": len(members)},
            normalization=metas[0].normalization,
            dataset=metas[0].dataset,
            members=members,
            val_acc=val_acc,
            test_acc=test_acc,
            seed=[m["seed"] for m in members],
            epochs_completed=0,
            complete=True,
        ),
    )
    return out


def check_empty_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MnistlabError(f"--out {out}: exists and is not an empty folder; choose a new one")


def evaluate_ensemble(
    members: list[str],
    *,
    out: str | None = None,
    tta: bool = False,
    data_dir=None,
    mirrors=None,
    device: str = "auto",
) -> dict[str, Any]:
    """Validation and test accuracy of the members' averaged softmax (test read once);
    with `out`, the ensemble is saved as a folder that loads like a single model."""
    from mnistlab.data.splits import load_splits
    from mnistlab.evaluate import accuracy
    from mnistlab.system import resolve_device

    if out:
        check_empty_out(Path(out))
    models, metas = load_members(members)
    dev = resolve_device(device)
    model = Ensemble(models).to(dev).eval()
    norm = metas[0].normalization
    splits = load_splits(metas[0].dataset, data_dir, mirrors=mirrors)
    # a member trained on all 60,000 images has seen the validation split: no validation
    # accuracy for the ensemble then, as for that member itself
    seen_val = any(m.full_train for m in metas)
    result = {
        "members": len(models),
        "val_acc": None if seen_val else accuracy(model, splits["val"], norm, dev),
        "accuracy": accuracy(model, splits["test"], norm, dev),
        "member_test_acc": [m.test_acc for m in metas],
    }
    if tta:
        result["accuracy_tta"] = accuracy(model, splits["test"], norm, dev, tta=True)
    if out:
        save_ensemble(Path(out), members, metas, result["val_acc"], result["accuracy"])
        result["out"] = out
    return result
