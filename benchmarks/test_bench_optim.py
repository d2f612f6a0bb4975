"""One optimizer step, fastgd against its baselines: impl x optimizer x size (float32).

Each (optimizer, size) is one benchmark group, so fastgd, the NumPy reference, torch's
foreach and fused CPU optimizers and the bandwidth probe sit side by side and the ratios
are read off one table. The probe (``fastgd.optim._optim.bandwidth_probe``) moves Adam's bytes
with no math -- the practical roof for the 28 B/param rules; compare other rules to it
through the GB/s in ``extra_info``. fastgd runs on one array (one fused kernel call).
"""
import pytest

import _optim_cases as cases


@pytest.mark.parametrize("size", cases.SIZES)
@pytest.mark.parametrize("optimizer", list(cases.CASES))
@pytest.mark.parametrize("impl", cases.IMPLS)
def test_optimizer_step(benchmark, record, skip_large, bench_threads, impl, optimizer, size):
    skip_large(size)
    reason = cases.unavailable(impl, optimizer)
    if reason:
        pytest.skip(reason)
    benchmark.group = f"{optimizer} n={size:.0e}"
    stepper = cases.Stepper(impl, optimizer, size, bench_threads)
    p1 = stepper.warm_up_and_check()
    benchmark(stepper.step)
    stepper.check_after(p1)
    record(stepper)
