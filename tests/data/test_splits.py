"""The train/val/test split: fixed, disjoint, covering, and pinned across versions."""

from __future__ import annotations

import hashlib

import numpy as np

from mnistlab.data.splits import SPLIT_SEED, make_splits, split_indices, split_permutation

# sha256 of the sorted validation indices (int64, little-endian) for n=60000, val=5000, seed
# SPLIT_SEED. A change here means every published validation number changes meaning: only
# update it together with the split's documentation and a note in docs/RESULTS.md.
VAL_SHA256 = "a62f8106536a319ba6ccfed4bad5da4d98cc889a960e1291bccb5f10978dd064"


def test_split_is_pinned():
    train, val = split_indices()
    assert SPLIT_SEED == 20240229
    assert hashlib.sha256(val.astype("<i8").tobytes()).hexdigest() == VAL_SHA256
    assert val[:8].tolist() == [7, 21, 29, 75, 76, 90, 96, 97]


def test_split_sizes_disjoint_and_covering():
    train, val = split_indices(60000)
    assert len(train) == 55000 and len(val) == 5000
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(60000))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)  # sorted, no repeats


def test_split_is_the_same_on_every_call_and_depends_on_the_seed():
    np.testing.assert_array_equal(split_indices()[1], split_indices()[1])
    assert not np.array_equal(split_indices(seed=1)[1], split_indices()[1])
    perm = split_permutation(1000, seed=3)
    np.testing.assert_array_equal(np.sort(perm), np.arange(1000))


def test_validation_set_is_class_balanced_enough(real_raw):
    # A random 5,000 of the real labels holds every digit near its share (~500); a sliced or
    # sorted "split" of the training file would not.
    counts = np.bincount(real_raw.train_labels[split_indices()[1]], minlength=10)
    assert counts.min() > 400 and counts.max() < 600


def test_real_splits(real_raw, real_splits):
    sizes = {name: len(split) for name, split in real_splits.items()}
    assert sizes == {"train": 55000, "val": 5000, "test": 10000}
    train_idx, val_idx = split_indices()
    val = real_splits["val"]
    np.testing.assert_array_equal(val.images.numpy(), real_raw.train_images[val_idx])
    np.testing.assert_array_equal(val.labels.numpy(), real_raw.train_labels[val_idx])
    np.testing.assert_array_equal(
        real_splits["train"].labels.numpy(), real_raw.train_labels[train_idx]
    )
    np.testing.assert_array_equal(real_splits["test"].images.numpy(), real_raw.test_images)
    for split in real_splits.values():
        assert split.images.dtype.is_floating_point is False
        assert str(split.images.dtype) == "torch.uint8" and str(split.labels.dtype) == "torch.int64"
        assert split.images.shape[1:] == (28, 28)


def test_full_train_uses_all_60000(real_raw):
    splits = make_splits(real_raw, full_train=True)
    assert len(splits["train"]) == 60000 and len(splits["val"]) == 0
    assert len(splits["test"]) == 10000
    np.testing.assert_array_equal(splits["train"].labels.numpy(), real_raw.train_labels)
