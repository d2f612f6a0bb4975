"""Whole fit calls: fastgd.sklearn against scikit-learn's MLP, same parameters and thread
count (scikit-learn's BLAS limited with threadpoolctl, fastgd's ``n_threads``), a fixed
number of epochs (tol=0, n_iter_no_change=max_iter) so both do the same work. Each case is
one group, so the ratio reads off the table; ``benchmarks/report_sklearn.py`` writes the
README's tables (interleaved repeats, medians, and the accuracy both reach).

Under --benchmark-disable (CI) every case runs once on a small slice and checks that both
estimators fit and score alike.
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")   # every benchmark here compares against scikit-learn

from sklearn.exceptions import ConvergenceWarning                      # noqa: E402
from sklearn.neural_network import MLPClassifier as SKClassifier       # noqa: E402
from threadpoolctl import threadpool_limits                            # noqa: E402

import _optim_cases                                                    # noqa: E402
from fastgd import datasets                                            # noqa: E402
from fastgd.sklearn import MLPClassifier                               # noqa: E402


def _digits():
    X, y = datasets.load_digits(return_X_y=True)
    X = X.astype(np.float64)
    return X / X.max(), y


def _mnist_like(n):
    rng = np.random.default_rng(0)
    X = rng.random((n, 784), dtype=np.float32)
    y = np.argmax(X @ rng.standard_normal((784, 10)).astype(np.float32), axis=1)
    return X, y


CASES = {
    "digits-adam-200": (_digits, dict(solver="adam", max_iter=20)),
    "digits-adam-32": (_digits, dict(solver="adam", max_iter=10, batch_size=32)),
    "digits-sgd-200": (_digits, dict(solver="sgd", max_iter=20)),
    "digits-lbfgs": (_digits, dict(solver="lbfgs", max_iter=50)),
    "mnist-sized-adam-200": (lambda: _mnist_like(60_000), dict(solver="adam", max_iter=2)),
}


@pytest.fixture(scope="module")
def data():
    return {name: make() for name, (make, _) in CASES.items()}


@pytest.mark.parametrize("impl", ["fastgd", "sklearn"])
@pytest.mark.parametrize("case", list(CASES))
def test_fit(benchmark, data, case, impl):
    X, y = data[case]
    params = dict(CASES[case][1], random_state=0)
    if benchmark.disabled:
        X, y = X[:300], y[:300]
        params["max_iter"] = 3
    if params["solver"] != "lbfgs":
        params.update(tol=0.0, n_iter_no_change=params["max_iter"])
    threads = _optim_cases.bench_threads()
    benchmark.group = case
    benchmark.extra_info["threads"] = threads

    def run():
        est = MLPClassifier(**params, n_threads=threads) if impl == "fastgd" else \
            SKClassifier(**params)
        with warnings.catch_warnings(), threadpool_limits(limits=threads, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            return est.fit(X, y)

    est = benchmark.pedantic(run, rounds=1 if benchmark.disabled else 3, iterations=1)
    assert np.isfinite(est.loss_) and 0.0 <= est.score(X, y) <= 1.0
    if params["solver"] != "lbfgs":
        assert est.n_iter_ == params["max_iter"]
