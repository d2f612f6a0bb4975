"""fastgd's small-product kernel against OpenBLAS inside a fit: the 784-256-128-10 model at
batch 32 (float32) and the digits model at batch 200 (float64), Adam, one thread, one epoch.
``own`` is the default (csrc/fg_small_gemm.h where it applies), ``openblas`` every product
in SciPy's OpenBLAS (``_engine.set_small_gemm(0)``); compare the two means of a group.
benchmarks/report_small_gemm.py makes the alternating-rounds table. Under
--benchmark-disable each runs once and checks the two trained the same model to float
tolerance (the kernel changes the products' summation order, nothing else)."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fastgd
from fastgd import datasets
from fastgd.model import _engine

CASES = {
    "784-256-128-10 float32 batch 32": ((784, 256, 128, 10), np.float32, 32),
    "digits 64-100-10 float64 batch 200": ((64, 100, 10), np.float64, 200),
}
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}   # measured: 3.7e-6 and 5.6e-17


def _data(sizes, dtype):
    if sizes[0] == 64:
        X, y = datasets.load_digits(return_X_y=True)
        return np.ascontiguousarray(X / 16.0, dtype=dtype), y
    rng = np.random.default_rng(0)
    return rng.random((1024, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], 1024)


def _fit(sizes, dtype, batch, X, y):
    model = fastgd.MLP(list(sizes), seed=0, dtype=dtype)
    opt = fastgd.Adam(model.parameters(), lr=1e-3)
    fastgd.fit(model, X, y, opt, epochs=1, batch_size=batch, seed=1, n_threads=1)
    return model


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("contender", ["own", "openblas"])
def test_fit_with_and_without_the_kernel(benchmark, contender, case):
    sizes, dtype, batch = CASES[case]
    benchmark.group = f"small products: {case}"
    X, y = _data(sizes, dtype)
    default = _engine.small_gemm_limit()
    limit = default if contender == "own" else 0
    try:
        with threadpool_limits(1):
            _engine.set_small_gemm(limit)
            model = benchmark.pedantic(_fit, args=(sizes, dtype, batch, X, y),
                                       rounds=1 if benchmark.disabled else 5, iterations=1,
                                       warmup_rounds=0 if benchmark.disabled else 1)
            _engine.set_small_gemm(0 if limit else default)
            other = _fit(sizes, dtype, batch, X, y)
    finally:
        _engine.set_small_gemm(default)
    np.testing.assert_allclose(model._flat, other._flat, rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype])
