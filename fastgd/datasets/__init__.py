"""Small real and synthetic data sets for the experiments, and a train/test split.

* :func:`load_digits` — the UCI handwritten digits (1797 images of 8×8 pixels, 10
  classes), shipped with the package (``data/README.md`` gives source and license).
* :func:`make_classification`, :func:`make_regression` — seeded synthetic problems of any
  size, cheap enough that 60000 × 784 takes a fraction of a second.
* :func:`train_test_split` — shuffled, optionally stratified.

``seed`` everywhere accepts None, a non-negative int or a ``numpy.random.Generator``.
"""

import functools
import gzip
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ..init import _rng

__all__ = ["Dataset", "load_digits", "make_classification", "make_regression",
           "train_test_split"]

_DIGITS_DESCR = """\
Optical Recognition of Handwritten Digits (UCI ML repository), E. Alpaydin and
C. Kaynak, 1998: the 1797-sample set as redistributed by scikit-learn.
Each sample is an 8x8 image; each pixel counts the 'on' pixels of a 4x4 block of a
32x32 bitmap, an integer 0..16. 10 classes (digits 0..9), about 180 samples each.
License: CC BY 4.0 (UCI). See fastgd/datasets/data/README.md."""


@dataclass(frozen=True)
class Dataset:
    """A loaded data set: ``X`` (n_samples, n_features), ``y`` (n_samples,) int64."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple
    target_names: tuple
    description: str

    @property
    def images(self):
        """``X`` as (n_samples, 8, 8) images (a view)."""
        return self.X.reshape(-1, 8, 8)


# ------------------------------------------------------------------------- validation

def _float_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be a NumPy floating dtype, got {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating dtype, got {dt}")
    return dt


def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _nonneg(name, value):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


# ----------------------------------------------------------------------------- digits

@functools.lru_cache(maxsize=1)
def _digits_raw():
    # importlib.resources, not __file__: works from a wheel, a zip or an editable install.
    ref = resources.files(__name__).joinpath("data", "digits.csv.gz")
    with ref.open("rb") as f, gzip.open(f, "rt") as text:
        raw = np.loadtxt(text, delimiter=",", dtype=np.int64)
    raw.setflags(write=False)  # cached and shared between calls: callers get copies
    return raw


def load_digits(*, dtype=np.float64, scale=True, return_X_y=False):
    """The UCI handwritten digits: X (1797, 64) pixel counts 0..16, y (1797,) int64 0..9.

    ``scale=True`` divides by 16 so X lies in [0, 1] (exact: 16 is a power of two).
    Returns a :class:`Dataset`, or ``(X, y)`` when ``return_X_y``. Arrays are fresh
    copies on every call.
    """
    dt = _float_dtype(dtype)
    raw = _digits_raw()
    X = raw[:, :64].astype(dt)
    if scale:
        X /= 16
    y = raw[:, 64].copy()
    if return_X_y:
        return X, y
    return Dataset(X=X, y=y,
                   feature_names=tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)),
                   target_names=tuple(range(10)),
                   description=_DIGITS_DESCR)


# -------------------------------------------------------------------------- synthetic

_BLOCK = 4096  # rows per block: temporaries stay in cache, cost stays linear
# Variance of a uniform byte (-128..127) is (256² - 1) / 12.
_BYTE_SCALE = 1.0 / math.sqrt((256 ** 2 - 1) / 12)


def _uniform_noise(rng, out, scale, *, add):
    """out (+)= scale * u, u i.i.d. zero-mean unit-variance uniform (float32 math).

    Uniform from raw bytes, not Gaussian: on a 60000 × 784 matrix Gaussian draws alone
    take most of a second; random bytes are ~20× cheaper, and the features that get this
    noise are filler whose exact distribution the experiments do not depend on.
    """
    n, m = out.shape
    if n * m == 0:
        return
    raw = np.frombuffer(rng.bytes(n * m), dtype=np.int8).reshape(n, m)
    s = np.float32(scale * _BYTE_SCALE)
    for r0 in range(0, n, _BLOCK):
        blk = raw[r0:r0 + _BLOCK].astype(np.float32)
        blk += np.float32(0.5)  # centres -128..127 on 0
        blk *= s
        if add:
            out[r0:r0 + _BLOCK] += blk
        else:
            out[r0:r0 + _BLOCK] = blk


def make_classification(n_samples, n_features, n_classes=2, *, n_informative=None,
                        class_sep=1.0, noise=1.0, dtype=np.float32, seed=None):
    """A seeded classification problem; returns ``(X, y)``, y int64 in 0..n_classes-1.

    * Classes are balanced (counts differ by at most 1) and shuffled.
    * The first ``n_informative`` columns (default ``min(n_features, max(2, n_classes))``)
      are ``c[y] + noise·N(0, 1)``, where the class centroids c are distinct vertices of
      the hypercube {−class_sep, +class_sep}^n_informative (as scikit-learn's), so two
      classes differ by at least 2·class_sep along some axis.
    * The other columns are a random projection of the informative ones,
      ``Z @ P`` with P ~ N(0, 1/n_informative) (correlated, redundant features, like
      pixels), plus unit-variance uniform noise times ``noise``.

    Values are computed in float32 and cast, so float32 and float64 outputs from one seed
    hold identical numbers.
    """
    n = _count("n_samples", n_samples, 1)
    d = _count("n_features", n_features, 1)
    k = _count("n_classes", n_classes, 2)
    n_inf = min(d, max(2, k)) if n_informative is None else _count("n_informative",
                                                                   n_informative, 1)
    if n_inf > d:
        raise ValueError(f"n_informative must be <= n_features={d}, got {n_inf}")
    if n_inf < 63 and k > 2 ** n_inf:
        raise ValueError(f"n_classes={k} needs n_informative >= {math.ceil(math.log2(k))} "
                         f"(distinct hypercube vertices), got n_informative={n_inf}")
    class_sep = _nonneg("class_sep", class_sep)
    noise = _nonneg("noise", noise)
    dt = _float_dtype(dtype)
    rng = _rng(seed)

    centroids = _hypercube_vertices(rng, k, n_inf) * np.float32(class_sep)
    y = rng.permutation(np.arange(n, dtype=np.int64) % k)
    Z = rng.standard_normal((n, n_inf), dtype=np.float32)
    Z *= np.float32(noise)
    Z += centroids[y]
    X = np.empty((n, d), dtype=np.float32)
    X[:, :n_inf] = Z
    if d > n_inf:
        P = rng.standard_normal((n_inf, d - n_inf), dtype=np.float32)
        P *= np.float32(1.0 / math.sqrt(n_inf))
        rest = X[:, n_inf:]
        for r0 in range(0, n, _BLOCK):
            np.matmul(Z[r0:r0 + _BLOCK], P, out=rest[r0:r0 + _BLOCK])
        _uniform_noise(rng, rest, noise, add=True)
    return (X if dt == np.float32 else X.astype(dt)), y


def _hypercube_vertices(rng, k, dim):
    """``k`` distinct random rows of {−1, +1}^dim as float32."""
    if dim <= 20:
        codes = rng.choice(2 ** dim, size=k, replace=False)
        bits = (codes[:, None] >> np.arange(dim)) & 1
    else:  # 2**dim too large to enumerate; collisions are (near) impossible but checked
        while True:
            bits = rng.integers(0, 2, size=(k, dim))
            if len(np.unique(bits, axis=0)) == k:
                break
    return (2 * bits - 1).astype(np.float32)


def make_regression(n_samples, n_features, *, n_informative=None, noise=0.1, bias=0.0,
                    dtype=np.float32, seed=None, return_coef=False):
    """A seeded linear regression problem ``y = X[:, :n_informative] @ w + bias + noise·ε``.

    X has i.i.d. zero-mean unit-variance (uniform) entries, w ~ N(0, 1),
    ε ~ N(0, 1); ``n_informative`` defaults to ``n_features``. Returns ``(X, y)``, y of
    ``dtype`` and shape (n_samples,), or ``(X, y, w)`` when ``return_coef`` (w float64 of
    length n_features, zero beyond the informative columns), so a fitted model can be
    compared with the truth. The noise variance noise² is the least reachable MSE.
    """
    n = _count("n_samples", n_samples, 1)
    d = _count("n_features", n_features, 1)
    n_inf = d if n_informative is None else _count("n_informative", n_informative, 0)
    if n_inf > d:
        raise ValueError(f"n_informative must be <= n_features={d}, got {n_inf}")
    noise = _nonneg("noise", noise)
    try:
        bias = float(bias)
    except (TypeError, ValueError):
        raise ValueError(f"bias must be a finite number, got {bias!r}") from None
    if not math.isfinite(bias):
        raise ValueError(f"bias must be a finite number, got {bias!r}")
    dt = _float_dtype(dtype)
    rng = _rng(seed)

    X = np.empty((n, d), dtype=np.float32)
    _uniform_noise(rng, X, 1.0, add=False)
    w = np.zeros(d)
    w[:n_inf] = rng.standard_normal(n_inf)
    # The target is computed in float64 from the float32 features (blockwise: no full
    # float64 copy of X), so it does not depend on the output dtype beyond rounding.
    y = bias + noise * rng.standard_normal(n)
    for r0 in range(0, n, _BLOCK):
        y[r0:r0 + _BLOCK] += X[r0:r0 + _BLOCK, :n_inf].astype(np.float64) @ w[:n_inf]
    X = X if dt == np.float32 else X.astype(dt)
    y = y.astype(dt)
    return (X, y, w) if return_coef else (X, y)


# ----------------------------------------------------------------------------- split

def train_test_split(X, y, test_size=0.2, *, seed=None, stratify=False):
    """Shuffle and split into ``(X_train, X_test, y_train, y_test)`` (scikit-learn order).

    ``test_size``: a fraction in (0, 1) (the test set gets ``ceil(test_size · n)`` rows)
    or an int count in [1, n − 1]. ``stratify=True`` keeps each class's share of ``y``
    in both parts (largest-remainder rounding; every class needs >= 2 samples).
    Returns new arrays; the inputs are not modified.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 1 or y.ndim != 1:
        raise ValueError(f"y must be 1-D and X at least 1-D, got shapes {X.shape}, {y.shape}")
    n = len(y)
    if len(X) != n:
        raise ValueError(f"X and y must have the same length, got {len(X)} and {n}")
    if n < 2:
        raise ValueError(f"X must have at least 2 samples to split, got {n}")
    if isinstance(test_size, bool):
        raise ValueError(f"test_size must be a fraction or an int, got {test_size!r}")
    if isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        n_test = math.ceil(float(test_size) * n)
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or an int, got {test_size!r}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"test_size gives {n_test} test samples of {n}; need 1..{n - 1}")
    rng = _rng(seed)

    if not stratify:
        perm = rng.permutation(n)
        test, train = perm[:n_test], perm[n_test:]
    else:
        classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        if counts.min() < 2:
            raise ValueError("stratify=True needs every class of y to have >= 2 samples, "
                             f"class {classes[counts.argmin()]!r} has {counts.min()}")
        share = counts * (n_test / n)
        take = np.floor(share).astype(np.int64)
        # Largest remainder: hand the leftover test slots to the most under-served classes.
        extra = n_test - take.sum()
        take[np.argsort(-(share - take), kind="stable")[:extra]] += 1
        tests, trains = [], []
        for c, t in enumerate(take):
            idx = rng.permutation(np.flatnonzero(inverse == c))
            tests.append(idx[:t])
            trains.append(idx[t:])
        # Shuffle again so neither part is sorted by class (mini-batches would be biased).
        test = rng.permutation(np.concatenate(tests))
        train = rng.permutation(np.concatenate(trains))
    return X[train], X[test], y[train], y[test]
