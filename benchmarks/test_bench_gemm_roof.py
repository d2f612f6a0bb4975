"""A training step beside its GEMM-only time (issue 15's "≥ 92% of GEMM-only"): the
784-256-128-10 model at batch 128 and 1024, Adam, float32, one thread. ``gemm-only`` runs
the step's 8 products alone through SciPy's OpenBLAS (benchmarks/_gemm_roof.py),
``engine-gemm-only`` the same products through the engine's GEMM shim (the step's own
calls: fastgd's small-product kernel where it applies);
``fastgd-step`` one ``fit`` epoch of 8 batches. Compare the two means of a group (per
epoch of 8 batches each). Under --benchmark-disable each runs once on the real shapes
and checks itself (the products against NumPy's, the fit trained)."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fastgd
from _gemm_roof import GemmOnlyStep

SIZES = (784, 256, 128, 10)
N_BATCHES = 8


@pytest.mark.parametrize("batch_size", [128, 1024])
@pytest.mark.parametrize("contender", ["gemm-only", "engine-gemm-only", "fastgd-step"])
def test_step_against_gemm_only(benchmark, contender, batch_size):
    benchmark.group = f"step vs GEMM-only, batch {batch_size}"
    if contender != "fastgd-step":
        gemms = GemmOnlyStep(SIZES, batch_size, engine=contender == "engine-gemm-only")
        gemms.check()

        def run():
            for _ in range(N_BATCHES):
                gemms.run()
    else:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((batch_size * N_BATCHES, SIZES[0])).astype(np.float32)
        y = rng.integers(0, SIZES[-1], len(X))
        model = fastgd.MLP(list(SIZES), seed=0)
        opt = fastgd.Adam(model.parameters(), lr=1e-4)
        before = model._flat.copy()

        def run():
            return fastgd.fit(model, X, y, opt, epochs=1, batch_size=batch_size, seed=1,
                              n_threads=1)
    with threadpool_limits(1):
        benchmark.pedantic(run, rounds=1 if benchmark.disabled else 5, iterations=1,
                           warmup_rounds=0 if benchmark.disabled else 1)
    if contender == "fastgd-step":
        assert np.isfinite(model._flat).all() and not np.array_equal(model._flat, before)
