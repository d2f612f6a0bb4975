"""Tests for fastgd.datasets: the shipped digits, the synthetic generators, the split."""

import gzip
import hashlib
from importlib import resources

import numpy as np
import pytest

from fastgd import datasets as D

DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_file_is_the_documented_one():
    ref = resources.files("fastgd.datasets").joinpath("data", "digits.csv.gz")
    blob = ref.read_bytes()
    assert hashlib.sha256(blob).hexdigest() == (
        "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22")
    assert len(gzip.decompress(blob).splitlines()) == 1797
    readme = resources.files("fastgd.datasets").joinpath("data", "README.md").read_text()
    assert "CC BY 4.0" in readme and "Alpaydin" in readme


def test_load_digits_scaled():
    d = D.load_digits()
    assert d.X.shape == (1797, 64) and d.y.shape == (1797,)
    assert d.X.dtype == np.float64 and d.y.dtype == np.int64
    assert d.X.min() == 0.0 and d.X.max() == 1.0
    assert np.bincount(d.y).tolist() == DIGIT_COUNTS
    assert len(d.feature_names) == 64 and d.feature_names[9] == "pixel_1_1"
    assert d.target_names == tuple(range(10))
    assert "Alpaydin" in d.description and "CC BY 4.0" in d.description
    assert d.images.shape == (1797, 8, 8) and np.shares_memory(d.images, d.X)
    # First row of the file (a zero) as a sanity anchor.
    assert d.y[0] == 0 and d.X[0, :8].tolist() == [0, 0, 5 / 16, 13 / 16, 9 / 16, 1 / 16, 0, 0]


def test_load_digits_unscaled_float32_and_fresh_copies():
    X, y = D.load_digits(dtype=np.float32, scale=False, return_X_y=True)
    assert X.dtype == np.float32 and X.max() == 16.0
    assert np.array_equal(X, np.round(X)) and set(np.unique(X)) <= set(range(17))
    Xs, _ = D.load_digits(dtype=np.float32, return_X_y=True)
    np.testing.assert_array_equal(Xs * 16, X)  # scaling by 1/16 is exact
    X[:] = -1
    y[:] = -1
    X2, y2 = D.load_digits(scale=False, return_X_y=True)
    assert X2.min() == 0 and y2.min() == 0  # the cache was not mutated through a result
    with pytest.raises(ValueError, match="dtype"):
        D.load_digits(dtype=np.int64)


def test_make_classification_shape_seed_and_signal():
    X, y = D.make_classification(3000, 20, 3, seed=0)
    assert X.shape == (3000, 20) and X.dtype == np.float32
    assert y.shape == (3000,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [1000, 1000, 1000]  # balanced
    X2, y2 = D.make_classification(3000, 20, 3, seed=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = D.make_classification(3000, 20, 3, seed=1)
    assert not np.array_equal(X, X3)
    X64, y64 = D.make_classification(3000, 20, 3, seed=0, dtype=np.float64)
    assert X64.dtype == np.float64
    np.testing.assert_array_equal(X64, X.astype(np.float64))  # same numbers in both dtypes
    np.testing.assert_array_equal(y64, y)
    # Learnability: class means differ by >= 2·class_sep on some informative axis, far
    # more than their standard error, and a nearest-class-mean rule beats chance by a lot.
    means = np.stack([X[y == c, :3].mean(0) for c in range(3)])
    for a in range(3):
        for b in range(a):
            assert np.abs(means[a] - means[b]).max() > 1.5
    pred = np.argmin(((X[:, None, :3] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y).mean() > 0.6


def test_make_classification_informative_and_noise():
    X, y = D.make_classification(2000, 10, 2, n_informative=4, class_sep=2.0, noise=0.0,
                                 seed=3)
    # Without noise the informative columns are exactly the ±class_sep centroids ...
    assert set(np.unique(X[:, :4])) == {-2.0, 2.0}
    # ... and the redundant ones are linear in them.
    coef, *_ = np.linalg.lstsq(X[:, :4], X[:, 4:], rcond=None)
    np.testing.assert_allclose(X[:, :4] @ coef, X[:, 4:], atol=1e-4)
    assert D.make_classification(10, 1, 2, seed=0)[0].shape == (10, 1)


def test_make_classification_benchmark_size():
    # Speed is measured in benchmarks/, never asserted here; this checks the benchmark's
    # shape and dtype are produced.
    X, y = D.make_classification(60000, 784, 10, seed=0)
    assert X.shape == (60000, 784) and X.dtype == np.float32 and y.shape == (60000,)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_samples=0, n_features=5), "n_samples"),
    (dict(n_samples=10, n_features=0), "n_features"),
    (dict(n_samples=10, n_features=5, n_classes=1), "n_classes"),
    (dict(n_samples=10, n_features=5, n_informative=6), "n_informative"),
    (dict(n_samples=10, n_features=5, n_classes=5, n_informative=2), "n_informative"),
    (dict(n_samples=10, n_features=5, class_sep=-1.0), "class_sep"),
    (dict(n_samples=10, n_features=5, noise=float("inf")), "noise"),
    (dict(n_samples=10, n_features=5, dtype=np.int32), "dtype"),
    (dict(n_samples=10.0, n_features=5), "n_samples"),
])
def test_make_classification_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.make_classification(**kwargs)


def test_make_regression():
    X, y, w = D.make_regression(5000, 8, n_informative=5, noise=0.1, bias=2.0, seed=0,
                                return_coef=True)
    assert X.shape == (5000, 8) and X.dtype == np.float32 and y.dtype == np.float32
    assert np.all(w[5:] == 0) and np.all(w[:5] != 0)
    np.testing.assert_allclose(X.std(0), 1.0, rtol=0.05)
    np.testing.assert_allclose(X.mean(0), 0.0, atol=0.05)
    resid = y - (X.astype(np.float64) @ w + 2.0)
    assert resid.std() == pytest.approx(0.1, rel=0.05)
    # Least squares recovers the true coefficients.
    A = np.hstack([X, np.ones((5000, 1), np.float32)]).astype(np.float64)
    fit, *_ = np.linalg.lstsq(A, y, rcond=None)
    np.testing.assert_allclose(fit[:8], w, atol=0.01)
    X2, y2 = D.make_regression(5000, 8, n_informative=5, noise=0.1, bias=2.0, seed=0,
                               dtype=np.float64)
    np.testing.assert_array_equal(X2, X.astype(np.float64))
    np.testing.assert_allclose(y2, y, rtol=1e-6)
    with pytest.raises(ValueError, match="noise"):
        D.make_regression(10, 2, noise=-1)
    with pytest.raises(ValueError, match="bias"):
        D.make_regression(10, 2, bias="x")


def test_train_test_split_sizes_and_disjoint():
    X = np.arange(200, dtype=np.float64).reshape(100, 2)
    y = np.arange(100)
    X_tr, X_te, y_tr, y_te = D.train_test_split(X, y, seed=0)
    assert len(X_tr) == len(y_tr) == 80 and len(X_te) == len(y_te) == 20
    np.testing.assert_array_equal(X_tr[:, 0] // 2, y_tr)  # rows stay paired with labels
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(100))
    assert len(D.train_test_split(X, y, 0.25, seed=0)[1]) == 25
    assert len(D.train_test_split(X, y, 0.333, seed=0)[1]) == 34  # ceil
    assert len(D.train_test_split(X, y, 7, seed=0)[1]) == 7
    again = D.train_test_split(X, y, seed=0)
    np.testing.assert_array_equal(again[3], y_te)
    assert not np.array_equal(D.train_test_split(X, y, seed=1)[3], y_te)


def test_train_test_split_stratified():
    d = D.load_digits()
    X_tr, X_te, y_tr, y_te = D.train_test_split(d.X, d.y, 0.2, seed=0, stratify=True)
    assert len(y_te) == 360 and len(y_tr) == 1437
    full = np.bincount(d.y) / len(d.y)
    np.testing.assert_allclose(np.bincount(y_te) / len(y_te), full, atol=1 / len(y_te) + 1e-12)
    np.testing.assert_allclose(np.bincount(y_tr) / len(y_tr), full, atol=1 / len(y_tr) + 1e-12)
    assert not np.all(np.diff(y_te) >= 0)  # shuffled, not grouped by class
    # Unstratified on a skewed y can miss a class; stratified cannot.
    y = np.array([0] * 95 + [1] * 5)
    X = np.zeros((100, 1))
    for seed in range(20):
        assert (D.train_test_split(X, y, 0.2, seed=seed, stratify=True)[3] == 1).sum() == 1


@pytest.mark.parametrize("args, kwargs, match", [
    ((np.zeros((5, 2)), np.zeros(4)), {}, "same length"),
    ((np.zeros((5, 2)), np.zeros(5)), dict(test_size=1.0), "test_size"),
    ((np.zeros((5, 2)), np.zeros(5)), dict(test_size=5), "test_size"),
    ((np.zeros((5, 2)), np.zeros(5)), dict(test_size=True), "test_size"),
    ((np.zeros((5, 2)), np.array([0, 0, 1, 1, 2])), dict(stratify=True), "stratify"),
    ((np.zeros((5, 2)), np.zeros((5, 1))), {}, "y must be 1-D"),
])
def test_train_test_split_validation(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.train_test_split(*args, **kwargs)
