"""Thread sweep: Adam (float32) and the bandwidth probe at 1 and 2 threads, and fastgd at its
automatic default.

Grouped per (impl, size) so the 1- and 2-thread rows sit side by side. The thread count
here is the parameter, not FASTGD_BENCH_THREADS; torch's pool is set to it for the torch
row and restored after. 1e7 runs only when timed (see conftest.py).
"""
import pytest

import fastgd

import _optim_cases as cases

THREADS = (1, 2)
SIZES = (10**6, 10**7)
IMPLS = ("fastgd", "probe", "torch-fused")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("impl", IMPLS)
def test_adam_threads(benchmark, record, skip_large, impl, threads, size):
    skip_large(size)
    reason = cases.unavailable(impl, "Adam")
    if reason:
        pytest.skip(reason)
    benchmark.group = f"threads: {impl} Adam n={size:.0e}"
    old = cases.set_torch_threads(threads)
    try:
        stepper = cases.Stepper(impl, "Adam", size, threads)
        p1 = stepper.warm_up_and_check()
        benchmark(stepper.step)
    finally:
        if old is not None:
            cases.set_torch_threads(old)
    stepper.check_after(p1)
    record(stepper)


@pytest.mark.parametrize("size", SIZES)
def test_adam_default_threads(benchmark, record, skip_large, size):
    """fastgd's automatic default (n_threads=None, re-resolved every step), beside the
    fixed 1- and 2-thread rows of its group: on a loaded host it should sit with 1 thread,
    on a quiet one with 2 (benchmarks/report_threads.py measures both with busy loops)."""
    skip_large(size)
    benchmark.group = f"threads: fastgd Adam n={size:.0e}"
    stepper = cases.Stepper("fastgd", "Adam", size, None)
    p1 = stepper.warm_up_and_check()
    benchmark(stepper.step)
    stepper.check_after(p1)
    record(stepper, default_threads=fastgd.get_num_threads())
