"""Shared fixtures for fastgd's pytest-benchmark files.

Run (from the repository root, like the tests)::

    python -m pytest benchmarks --benchmark-only --benchmark-group-by=param:size,group
    FASTGD_BENCH_THREADS=2 python -m pytest benchmarks/test_bench_optim.py --benchmark-only
    python -m pytest benchmarks --benchmark-disable      # CI: every benchmark once, as a test

Environment:

* ``FASTGD_BENCH_THREADS`` (default 1): the thread count of every implementation in the
  run -- fastgd's ``n_threads``, the probe's, and ``torch.set_num_threads`` -- so ratios
  compare like with like. test_bench_threads.py sweeps it instead.
* ``FASTGD_BENCH_LARGE=1``: also run the 1e7-element cases under ``--benchmark-disable``.
  By default they only run when benchmarks are timed: run once they cost seconds (and
  ~0.5 GB) and cover nothing the smaller sizes do not.

Every benchmark takes one untimed warm-up step checked against the NumPy reference, and
checks after the timing that parameters moved and stayed finite, so the run-once CI mode
is a real (if coarse) test.
"""
import pytest

import _optim_cases as cases


@pytest.fixture(scope="session")
def bench_threads():
    return cases.bench_threads()


@pytest.fixture(scope="session", autouse=True)
def _torch_threads(bench_threads):
    old = cases.set_torch_threads(bench_threads)
    yield
    if old is not None:
        cases.set_torch_threads(old)


@pytest.fixture
def skip_large(benchmark):
    """Call with a size: skips it when it is large and the benchmark would only run once."""
    def check(size):
        if size >= cases.LARGE and benchmark.disabled and not cases.large_enabled():
            pytest.skip(f"n={size:.0e} only runs timed (or with FASTGD_BENCH_LARGE=1)")
    return check


@pytest.fixture
def record(benchmark):
    """``record(stepper, **extra)``: put the case's parameters in ``benchmark.extra_info``
    and, once timed, its params/s and the GB/s of the bytes the rule must move."""
    def put(stepper, **extra):
        info = benchmark.extra_info
        info.update(impl=stepper.impl, optimizer=stepper.case_name, size=stepper.n,
                    threads=stepper.n_threads, bytes_per_param=stepper.bytes_per_param,
                    **extra)
        if benchmark.stats is not None:   # None under --benchmark-disable
            median = benchmark.stats.stats.median
            pps, gbs = cases.throughput(stepper.n, stepper.bytes_per_param, median)
            info.update(params_per_s=round(pps), GB_per_s=round(gbs, 2),
                        us_per_step=round(median * 1e6, 3))
    return put
