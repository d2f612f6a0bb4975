"""Training with flush_subnormal_state off and on (benchmarks/_subnormal_cases.py): the
shipped digits, a sparse synthetic set and dense random data of its shape, at batch 1 and
32, one group per (data, batch) so off and on sit side by side.

Timed: untimed warm-up epochs (the moments of weights with zero gradients decay into the
subnormal range as in a long run), then one epoch per round. Under --benchmark-disable
each case trains one short epoch and checks that the option left no subnormal state."""
import numpy as np
import pytest

import _subnormal_cases as cases


@pytest.mark.parametrize("flush", [False, True], ids=["off", "on"])
@pytest.mark.parametrize("batch_size", [1, 32])
@pytest.mark.parametrize("name", ["digits", "sparse", "dense"])
def test_flush_subnormal_state(benchmark, name, batch_size, flush):
    n = 2000 if batch_size == 1 else 20000
    X, y = cases.data(name, n)
    if benchmark.disabled:
        X, y = X[:256], y[:256]
    case = cases.Case(name, X, y, batch_size, flush)
    if not benchmark.disabled:
        case.warm_up(max(1, -(-4000 * batch_size // len(X))))
    benchmark.group = f"flush_subnormal_state, {name}, batch {batch_size}"
    h = benchmark.pedantic(case.run, rounds=1 if benchmark.disabled else 3, iterations=1)
    assert np.isfinite(h.loss[-1])
    benchmark.extra_info.update(subnormal_exp_avg=case.subnormal_share(), rows=len(X))
    if flush:
        assert case.subnormal_share() == 0.0
