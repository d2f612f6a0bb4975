"""Fits overlapping in Python threads: the process-wide BLAS limit and the results."""
import threading

import numpy as np
import pytest

import fastgd
from fastgd._runtime import threads as T

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads():
    return sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()
                   if p["user_api"] == "blas"})


@pytest.fixture
def blas2():
    """Every BLAS at 2 threads around the test (restored after), so a limit of 1 shows."""
    import scipy.linalg  # noqa: F401  (the engine's BLAS: load it so it is limited too)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if _blas_threads() != [2]:
            pytest.skip("cannot set the BLAS thread count")
        yield


def _problem(seed, n=256, sizes=(20, 64, 5)):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], n)
    return X, y


def test_nested_and_overlapping_limits_restore_once(blas2):
    assert T.blas_limit_depth() == 0
    a, b = T.single_threaded_blas(), T.single_threaded_blas()
    a.__enter__()
    assert _blas_threads() == [1]
    b.__enter__()                # a second entrant (another fit, another thread)
    a.__exit__(None, None, None)  # the first leaves while the second still runs
    assert _blas_threads() == [1], "the first exit must not restore while one is inside"
    b.__exit__(None, None, None)
    assert _blas_threads() == [2], "the last exit restores the limit that was there"
    assert T.blas_limit_depth() == 0


def test_limit_restored_after_an_exception(blas2):
    with pytest.raises(RuntimeError):
        with T.single_threaded_blas():
            raise RuntimeError("boom")
    assert _blas_threads() == [2] and T.blas_limit_depth() == 0


def test_overlapping_fits_in_threads(blas2):
    """Two fits in two Python threads, the first ending while the second runs: BLAS stays
    at 1 thread inside both (checked from the second fit's callbacks after the first has
    returned), is restored to 2 once both are done, and each model gets the bits of a
    sequential run with the same seed and thread count."""
    n_threads = 2
    (Xa, ya), (Xb, yb) = _problem(1), _problem(2)

    def train(X, y, epochs, callback=None, seed=0):
        model = fastgd.MLP([20, 64, 5], seed=seed)
        opt = fastgd.Adam(model.parameters(), lr=1e-2)
        fastgd.fit(model, X, y, opt, epochs=epochs, batch_size=32, seed=seed,
                   callbacks=[callback] if callback else (), n_threads=n_threads)
        return model._flat.copy()

    want_a = train(Xa, ya, 2)
    want_b = train(Xb, yb, 6, seed=1)
    assert _blas_threads() == [2]

    a_inside, a_done = threading.Event(), threading.Event()
    seen_in_b, errors, got = [], [], {}

    def a_callback(epoch, logs):
        if epoch == 0:
            a_inside.set()

    def b_callback(epoch, logs):
        if epoch == 0:
            if not a_done.wait(600):           # a guard against a hang, not a timing
                errors.append("fit A did not finish")
        seen_in_b.append(_blas_threads())

    def run_a():
        try:
            got["a"] = train(Xa, ya, 2, a_callback)
        except BaseException as e:             # pragma: no cover - reported below
            errors.append(repr(e))
        finally:
            a_done.set()

    def run_b():
        try:
            if not a_inside.wait(600):
                errors.append("fit A did not start")
            got["b"] = train(Xb, yb, 6, b_callback, seed=1)
        except BaseException as e:             # pragma: no cover
            errors.append(repr(e))

    threads = [threading.Thread(target=run_a), threading.Thread(target=run_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert seen_in_b and all(s == [1] for s in seen_in_b), seen_in_b
    assert _blas_threads() == [2], "BLAS left limited after both fits"
    assert T.blas_limit_depth() == 0
    np.testing.assert_array_equal(got["a"], want_a)
    np.testing.assert_array_equal(got["b"], want_b)


def test_many_concurrent_fits_match_sequential(blas2):
    """Four fits at once (free-running, 1 and 2 threads each) give the sequential bits."""
    cases = [(seed, 1 + seed % 2) for seed in range(4)]

    def train(seed, n_threads):
        X, y = _problem(seed)
        model = fastgd.MLP([20, 64, 5], seed=seed)
        opt = fastgd.Adam(model.parameters(), lr=1e-2)
        fastgd.fit(model, X, y, opt, epochs=3, batch_size=16, seed=seed,
                   n_threads=n_threads)
        return model._flat.copy()

    want = [train(*c) for c in cases]
    got = [None] * len(cases)

    def run(i):
        got[i] = train(*cases[i])
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (w, g) in enumerate(zip(want, got)):
        np.testing.assert_array_equal(g, w, err_msg=f"case {cases[i]}")
    assert _blas_threads() == [2] and T.blas_limit_depth() == 0
