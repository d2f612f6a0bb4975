"""Samples/s of one training epoch, fastgd against its baselines in the same run:
impl x batch size. Each batch size is one group (fastgd, the NumPy reference, PyTorch's
plain loop and DataLoader loop, scikit-learn's MLPClassifier, JAX with the epoch in
one jit-compiled lax.scan, and fastgd with flush_subnormal_state), so ratios read off one
table; extra_info holds samples/s and GFLOP/s (1.0 MFLOP per sample).

Timed runs use 60 000 samples (6 000 at batch 1); under --benchmark-disable every case
runs once on 512 samples and checks that the loss is finite and falls.
"""
import numpy as np
import pytest

import _train_cases as cases

BATCH_SIZES = [1, 32, 128, 1024]


@pytest.fixture(scope="module")
def data():
    return cases.make_data(60_000)


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("impl", cases.IMPLS)
def test_train_epoch(benchmark, data, impl, batch_size):
    reason = cases.unavailable(impl)
    if reason:
        pytest.skip(reason)
    X, y = data
    n = 512 if benchmark.disabled else (6_000 if batch_size == 1 else 60_000)
    if impl in ("reference", "sklearn", "torch", "torch-dataloader") and batch_size == 1:
        n = min(n, 2_000)   # per-batch Python: keep a timed round under a few seconds
    trainer = cases.Trainer(impl, X[:n], y[:n], min(batch_size, n), cases.bench_threads())
    first = trainer.epoch()
    benchmark.group = f"train epoch, batch {batch_size}"
    last = benchmark.pedantic(trainer.epoch, rounds=3 if not benchmark.disabled else 1,
                              iterations=1)
    assert np.isfinite(first) and np.isfinite(last)
    assert last < np.log(10) + 0.5        # learning, not diverging (chance is log 10)
    benchmark.extra_info.update(impl=impl, batch_size=batch_size, samples=n,
                                threads=cases.bench_threads())
    if benchmark.stats is not None:
        sps = n / benchmark.stats.stats.median
        benchmark.extra_info.update(samples_per_s=sps,
                                    gflops=sps * cases.FLOP_PER_SAMPLE / 1e9)
