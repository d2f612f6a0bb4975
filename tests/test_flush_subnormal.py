"""flush_subnormal_state: the specification by hand, and the fast paths (opt.step, fit's
C loop at batch 1 and 32) against it.

With the option on, after each step every state entry whose magnitude is below the
dtype's smallest normal is +0.0; the update of that step used the unflushed value. Off
(the default), nothing changes: torch's bits."""
import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.reference import optim as R


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flush_subnormal_by_hand(dtype):
    tiny = np.finfo(dtype).tiny
    sub = np.finfo(dtype).smallest_subnormal
    a = np.array([tiny, -tiny, tiny / 2, -sub, 0.0, -0.0, np.nan, np.inf, 1.0], dtype=dtype)
    R.flush_subnormal(a, None)
    expected = np.array([tiny, -tiny, 0.0, 0.0, 0.0, 0.0, np.nan, np.inf, 1.0], dtype=dtype)
    np.testing.assert_array_equal(a, expected)
    assert not np.signbit(a[2:6]).any()   # -0.0 and negative subnormals become +0.0


def test_adam_update_uses_the_unflushed_moment():
    """m = 0.9 * m_prev + 0.1 * g lands below tiny: the step divides that m, then stores 0."""
    tiny = float(np.finfo(np.float32).tiny)
    p = np.zeros(1, np.float32)
    m = np.array([tiny], np.float32)         # 0.9 * tiny is subnormal
    v = np.ones(1, np.float32)
    g = np.zeros(1, np.float32)
    q = p.copy()
    R.adam_step(p, g, m, v, 5, lr=1.0, flush_subnormal_state=True)
    m2, v2 = np.array([tiny], np.float32), np.ones(1, np.float32)
    R.adam_step(q, g, m2, v2, 5, lr=1.0)
    np.testing.assert_array_equal(p, q)      # same update
    assert m[0] == 0.0 and m2[0] != 0.0      # only the stored moment differs


@pytest.mark.parametrize("name", ["Adam", "SGD", "RMSprop", "NAdam", "Adadelta"])
def test_decaying_state_is_flushed_and_matches_the_reference(name):
    """Zero gradients after the first step: the moments decay through the subnormal range
    (hundreds of steps); with the option no state entry is ever subnormal, and the fast
    class's parameters and state equal the reference's bit for bit."""
    kwargs = {"SGD": dict(momentum=0.9), "RMSprop": dict(alpha=0.9)}.get(name, {})
    rng = np.random.default_rng(0)
    p = rng.standard_normal(1000).astype(np.float32)
    q = p.copy()
    fast = fastgd.optim.OPTIMIZERS[name]([p], flush_subnormal_state=True, **kwargs)
    ref = reference.OPTIMIZERS[name]([q], flush_subnormal_state=True, **kwargs)
    off = fastgd.optim.OPTIMIZERS[name]([p.copy()], **kwargs)
    g0 = rng.standard_normal(1000).astype(np.float32) * np.float32(1e-3)
    zero = np.zeros(1000, np.float32)
    tiny = np.finfo(np.float32).tiny
    seen_subnormal = False
    for t in range(1200):
        g = g0 if t == 0 else zero
        fast.step([g])
        ref.step([g])
        off.step([g])
        for state in fast.state[0].values():
            if isinstance(state, np.ndarray):
                assert not ((state != 0) & (np.abs(state) < tiny)).any(), (name, t)
        seen_subnormal |= any(((s != 0) & (np.abs(s) < tiny)).any()
                              for s in off.state[0].values() if isinstance(s, np.ndarray))
    assert seen_subnormal, f"{name}: the run never reached the subnormal range"
    np.testing.assert_array_equal(p, q)
    for k, s in fast.state[0].items():
        if isinstance(s, np.ndarray):
            np.testing.assert_array_equal(s, ref.state[0][k], err_msg=f"{name} {k}")


def _sparse_data(n=300, d=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    X[5:, d // 2:] = 0.0       # half the features are zero after the first rows
    y = rng.integers(0, 3, n)
    return X, y


@pytest.mark.parametrize("batch_size", [1, 32])
def test_fit_flushes_and_equals_the_per_batch_steps(batch_size):
    """fit's C loop (the fused batch-1 update, the blocked batch-32 one) with the option
    on: no subnormal state, and the same bits as per-batch opt.step (the fallback path,
    forced by a step() override)."""
    X, y = _sparse_data()

    class Stepwise(fastgd.Adam):
        def step(self, grads):
            return super().step(grads)

    runs = []
    for cls in (fastgd.Adam, Stepwise):
        model = fastgd.MLP([20, 16, 3], seed=1)
        opt = cls(model.parameters(), lr=1e-2, flush_subnormal_state=True)
        fastgd.fit(model, X, y, opt, epochs=4, batch_size=batch_size, seed=0, n_threads=1)
        runs.append((model, opt))
    (m1, o1), (m2, o2) = runs
    np.testing.assert_array_equal(m1._flat, m2._flat)
    tiny = np.finfo(np.float32).tiny
    for i, entry in o1.state.items():
        for k, s in entry.items():
            if isinstance(s, np.ndarray):
                assert not ((s != 0) & (np.abs(s) < tiny)).any(), (i, k)
                np.testing.assert_array_equal(s, o2.state[i][k])


def test_the_option_is_checked_and_off_by_default():
    p = np.zeros(3)
    assert fastgd.Adam([p]).defaults["flush_subnormal_state"] is False
    with pytest.raises((TypeError, ValueError), match="flush_subnormal_state"):
        fastgd.Adam([p], flush_subnormal_state=1)
    with pytest.raises((TypeError, ValueError), match="flush_subnormal_state"):
        reference.Adam([p], flush_subnormal_state="yes")


def test_a_state_dict_from_before_the_option_loads_as_off():
    """Checkpoints written before flush_subnormal_state existed hold no such option: they
    ran with it off, and load so."""
    p = np.ones(4, np.float32)
    opt = fastgd.Adam([p], flush_subnormal_state=True)
    opt.step([np.ones(4, np.float32)])
    sd = opt.state_dict()
    del sd["param_groups"][0]["flush_subnormal_state"]
    fresh = fastgd.Adam([p.copy()], flush_subnormal_state=True)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["flush_subnormal_state"] is False
    assert fresh.state[0]["step"] == 1
