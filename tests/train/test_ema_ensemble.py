"""EMA of weights, ensembles, test-time augmentation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from mnistlab.data.splits import Split
from mnistlab.ensemble import Ensemble, load_members, save_ensemble
from mnistlab.evaluate import predict_logits, shift_images
from mnistlab.models import create_model
from mnistlab.runs import folder as checkpoint
from mnistlab.runs.meta import RunMeta
from mnistlab.train.ema import make_ema


def test_ema_equals_hand_computed_average():
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)  # where the average starts: it must get no share
    decay = 0.9
    ema = make_ema(model, decay)
    values = [2.0, 4.0, -1.0, 3.0]
    for n, value in enumerate(values, start=1):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update_parameters(model)
        # the closed form, not the recurrence the class uses
        shares = [(1 - decay) * decay ** (n - k) for k in range(1, n + 1)]
        expected = sum(s * v for s, v in zip(shares, values, strict=False)) / sum(shares)
        assert ema.module.weight[0, 0].item() == pytest.approx(expected, abs=1e-6), n
    assert ema.n_averaged == len(values)


def test_ema_first_update_copies_and_later_ones_tend_to_plain_ema():
    model = nn.Linear(3, 2)
    ema = make_ema(nn.Linear(3, 2), 0.99)
    ema.update_parameters(model)
    assert torch.equal(ema.module.weight, model.weight) and torch.equal(ema.module.bias, model.bias)
    ema.n_averaged = 5000  # 0.99^5000 is 0: the share is 1 - decay
    ema.count_update()
    assert ema.share.item() == pytest.approx(0.01, rel=1e-6)


def test_ema_state_round_trip_continues_identically():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = make_ema(model, 0.8)
    for _ in range(3):
        model(torch.randn(8, 3))  # moves BN's running statistics
        with torch.no_grad():
            model[0].weight.add_(0.1)
        ema.update_parameters(model)
    saved = {
        k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in ema.state_dict().items()
    }
    restored = make_ema(model, 0.8)
    restored.load_state_dict(saved)
    assert restored.n_averaged == ema.n_averaged == 3
    for averaged in (ema, restored):
        averaged.update_parameters(model)
    for key, value in ema.module.state_dict().items():
        assert torch.equal(value, restored.module.state_dict()[key]), key


def test_batchnorm_refresh_gives_the_data_statistics():
    from mnistlab.data.loader import DeviceLoader
    from mnistlab.train.ema import refresh_batchnorm

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    ema = make_ema(model, 0.5)
    images = torch.randint(0, 256, (400, 28, 28), dtype=torch.uint8)
    loader = DeviceLoader(Split(images, torch.zeros(400, dtype=torch.int64)), 100)
    refresh_batchnorm(ema, loader)
    bn = ema.module[1]
    with torch.no_grad():
        x = torch.cat([x for x, _ in DeviceLoader(Split(images, torch.zeros(400)), 400)])
        features = ema.module[0](x).transpose(0, 1).flatten(1)  # (3, N * 26 * 26)
    torch.testing.assert_close(bn.running_mean, features.mean(1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(bn.running_var, features.var(1), atol=1e-4, rtol=1e-3)


def _save_member(folder, seed, full_train=False):
    torch.manual_seed(seed)
    model = create_model("lenet5")
    checkpoint.save_weights(folder, model)
    checkpoint.save_meta(
        folder,
        RunMeta.from_dict(
            {
                "kind": "single",
                "model": "lenet5",
                "config": {},
                "normalization": "mnist",
                "dataset": "mnist",
                "seed": seed,
                "test_acc": 0.1,
                "val_acc": None if full_train else 0.1,
                "train": {"full_train": True} if full_train else None,
            }
        ),
    )
    return model.eval()


def test_two_copies_predict_exactly_like_the_model(tmp_path):
    model = _save_member(tmp_path / "a", 0)
    models, _ = load_members([tmp_path / "a", tmp_path / "a"])
    x = torch.randn(16, 1, 28, 28)
    with torch.inference_mode():
        single = model(x).softmax(1)
        double = Ensemble(models)(x).softmax(1)
    torch.testing.assert_close(double, single, atol=1e-6, rtol=1e-5)
    assert torch.equal(double.argmax(1), single.argmax(1))


def test_saved_ensemble_reloads(tmp_path):
    _save_member(tmp_path / "a", 0)
    _save_member(tmp_path / "b", 1)
    models, metas = load_members([tmp_path / "a", tmp_path / "b"])
    save_ensemble(tmp_path / "ens", [tmp_path / "a", tmp_path / "b"], metas, 0.5, 0.5)
    loaded, meta = checkpoint.load_model(tmp_path / "ens")
    assert meta["kind"] == "ensemble" and len(meta["members"]) == 2
    split = Split(
        torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (50,))
    )
    original = predict_logits(Ensemble(models), split, "mnist")
    torch.testing.assert_close(predict_logits(loaded, split, "mnist"), original)


def test_an_ensemble_with_a_member_that_saw_the_validation_split(tmp_path, real_data_dir, capsys):
    """A member trained with --full-train has seen the validation split: the ensemble reports
    no validation accuracy, and eval --split val and calibrate refuse it, as for the member."""
    from mnistlab.cli import main

    _save_member(tmp_path / "a", 0)
    _save_member(tmp_path / "b", 1, full_train=True)
    args = ["--data-dir", str(real_data_dir), "--device", "cpu"]
    ens = tmp_path / "ens"
    assert (
        main(["ensemble", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(ens), *args]) == 0
    )
    assert "no validation accuracy" in capsys.readouterr().out
    meta = checkpoint.read_meta(ens)
    assert meta.val_acc is None and meta.full_train and meta.test_acc is not None
    assert main(["eval", str(ens), "--split", "val", *args]) != 0
    assert "evaluate it on --split test" in capsys.readouterr().err
    assert main(["calibrate", str(ens), "--data-dir", str(real_data_dir)]) != 0
    assert "stays uncalibrated" in capsys.readouterr().err
    # an ensemble saved before members recorded full_train: a member without a val accuracy
    older = meta.to_dict()
    for member in older["members"]:
        del member["full_train"]
    assert RunMeta.from_dict(older).full_train
    del older["members"][1]
    assert not RunMeta.from_dict(older).full_train


def test_ensemble_member_path_cannot_escape(tmp_path):
    _save_member(tmp_path / "a", 0)
    _, metas = load_members([tmp_path / "a"])
    save_ensemble(tmp_path / "ens", [tmp_path / "a"], metas, None, None)
    meta = json.loads((tmp_path / "ens" / "model.json").read_text())
    meta["members"][0]["path"] = "../a"
    (tmp_path / "ens" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(checkpoint.CheckpointError, match="leaves the ensemble folder"):
        checkpoint.load_model(tmp_path / "ens")


def test_shift_images_moves_by_whole_pixels():
    images = torch.zeros(1, 28, 28, dtype=torch.uint8)
    images[0, 5, 7] = 200
    moved = shift_images(images, 1, -1)
    assert moved[0, 6, 6] == 200 and int(moved.sum()) == 200


@pytest.mark.slow
def test_ensemble_cli_on_real_members(tmp_path, real_data_dir):
    """Two real 1-epoch members: the ensemble's accuracy is reported once, and saved."""
    for seed in (0, 1):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mnistlab",
                "train",
                "--model",
                "mlp",
                "--epochs",
                "1",
                "--batch-size",
                "500",
                "--seed",
                str(seed),
                "--quiet",
                "--device",
                "cpu",
                "--data-dir",
                str(real_data_dir),
                "--out",
                str(tmp_path / f"m{seed}"),
            ],
            check=True,
            capture_output=True,
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistlab",
            "ensemble",
            str(tmp_path / "m0"),
            str(tmp_path / "m1"),
            "--json",
            "--out",
            str(tmp_path / "ens"),
            "--device",
            "cpu",
            "--data-dir",
            str(real_data_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    assert 0.8 < report["accuracy"] <= 1
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistlab",
            "eval",
            str(tmp_path / "ens"),
            "--json",
            "--device",
            "cpu",
            "--data-dir",
            str(real_data_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(evaluated.stdout)["accuracy"] == report["accuracy"]
