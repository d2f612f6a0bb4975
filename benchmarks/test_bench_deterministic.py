"""What the deterministic mode and the column split of big layers cost, side by side with
the default in one group: one epoch of 784-256-128-10 (Adam, float32) at batch 32, 128 and
1024 with ``set_deterministic`` off and at k = 2, 4 and 8; and one epoch of
784-1024-1024-10 at batch 128 with big layers by columns (the default) and by rows. The
thread count is FASTGD_BENCH_THREADS (default 1). benchmarks/report_deterministic.py and
report_big_models.py make the interleaved tables of benchmarks/results/.

Timed runs use 4 096 rows (8 192 at batch 1024; 1 024 for the big model); under
--benchmark-disable every case runs once on 2 batches and checks that it trained (and, for
the deterministic cases, that 1 and 2 threads give the same bits)."""
import numpy as np
import pytest

import fastgd
from fastgd.model import _engine

import _optim_cases as cases


def _rows(benchmark, batch, timed):
    return timed if not benchmark.disabled else 2 * batch


def _epoch(X, y, sizes, batch, threads):
    m = fastgd.MLP(sizes, seed=0)
    o = fastgd.Adam(m.parameters(), lr=1e-3)

    def run():
        fastgd.fit(m, X, y, o, epochs=1, batch_size=batch, seed=0, n_threads=threads)
        return m
    return run


@pytest.mark.parametrize("batch", [32, 128, 1024])
@pytest.mark.parametrize("blocks", [0, 2, 4, 8])
def test_deterministic_cost(benchmark, batch, blocks):
    n = _rows(benchmark, batch, 8192 if batch >= 1024 else 4096)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n)
    threads = cases.bench_threads()
    benchmark.group = f"deterministic: 784-256-128-10 batch={batch} threads={threads}"
    benchmark.extra_info.update(blocks=blocks, batch=batch, threads=threads)
    previous = fastgd.set_deterministic(blocks)
    try:
        run = _epoch(X, y, [784, 256, 128, 10], batch, threads)
        before = fastgd.MLP([784, 256, 128, 10], seed=0)._flat.copy()
        m = benchmark(run)
        assert np.all(np.isfinite(m._flat)) and not np.array_equal(m._flat, before)
        if blocks and benchmark.disabled:
            ones = [_epoch(X, y, [784, 256, 128, 10], batch, t)()._flat for t in (1, 2)]
            np.testing.assert_array_equal(ones[0], ones[1])
    finally:
        fastgd.set_deterministic(previous)


@pytest.mark.parametrize("by", ["columns", "rows"])
def test_big_layers(benchmark, by):
    n = _rows(benchmark, 128, 1024)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n)
    threads = cases.bench_threads()
    benchmark.group = f"big layers: 784-1024-1024-10 batch=128 threads={threads}"
    benchmark.extra_info.update(by=by, threads=threads)
    previous = _engine.set_wide_layers(by == "columns")
    try:
        m = benchmark(_epoch(X, y, [784, 1024, 1024, 10], 128, threads))
        assert np.all(np.isfinite(m._flat))
    finally:
        _engine.set_wide_layers(previous)
