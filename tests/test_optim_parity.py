"""The C kernels against their NumPy twins: parameters and every state entry.

Tolerances: float64 rtol 1e-12, float32 rtol 1e-5 (atol scaled to the values' size).
On x86-64 with the shipped flags (-ffp-contract=off) the two agree bit for bit, because
the kernels evaluate each expression in the reference's order and precision; the
tolerances leave room for a platform whose libm or compiler rounds differently."""
import numpy as np
import pytest

import fastgd
from fastgd import reference
from optim_cases import CASES, case_id

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
SIZES = [0, 1, 7, 1023, 100003]
STEPS = 50


def _pair(name, kwargs, shapes, dtype, n_threads, seed):
    rng = np.random.default_rng(seed)
    fast_params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ref_params = [p.copy() for p in fast_params]
    fast = fastgd.optim.OPTIMIZERS[name](fast_params, n_threads=n_threads, **kwargs)
    ref = reference.OPTIMIZERS[name](ref_params, **kwargs)
    return rng, fast, ref, fast_params, ref_params


def _assert_same(fast, ref, fast_params, ref_params, dtype, msg):
    for i, (a, b) in enumerate(zip(fast_params, ref_params)):
        np.testing.assert_allclose(a, b, err_msg=f"{msg} param {i}", **TOL[dtype])
        assert a.dtype == dtype
    fs, rs = fast.state, ref.state
    assert fs.keys() == rs.keys()
    for i in fs:
        assert fs[i].keys() == rs[i].keys(), msg
        for k in fs[i]:
            np.testing.assert_allclose(fs[i][k], rs[i][k], err_msg=f"{msg} state {i}.{k}",
                                       **TOL[dtype])


def _run(case, shapes, dtype, n_threads, seed=0, strided=False, steps=STEPS):
    name, kwargs = case
    rng, fast, ref, fp, rp = _pair(name, kwargs, shapes, dtype, n_threads, seed)
    for _ in range(steps):
        if strided:   # every second element: a non-contiguous view of the same shape
            grads = [rng.standard_normal(tuple(s) + (2,)).astype(dtype)[..., 0] for s in shapes]
            assert all(not g.flags.c_contiguous for g in grads if g.size > 1)
        else:
            grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        fast.step(grads)
        ref.step(grads)
    msg = f"{case_id(case)} dtype={dtype.__name__} shapes={shapes} threads={n_threads} seed={seed}"
    _assert_same(fast, ref, fp, rp, dtype, msg)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", SIZES)
def test_single_array_matches_reference(case, dtype, size):
    threads = (1, 2) if size >= 1023 else (1,)
    steps = 12 if size == 100003 else STEPS
    for n_threads in threads:
        _run(case, [(size,)], dtype, n_threads, seed=size, steps=steps)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_arrays_and_strided_grads(case, dtype):
    shapes = [(17, 9), (9,), (0,), (1,), (40000,), (3, 5, 2)]
    _run(case, shapes, dtype, n_threads=3, seed=7, strided=True, steps=20)


@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_flat_buffer_views_take_one_call_and_match(case):
    name, kwargs = case
    shapes = [(64, 33), (33,), (33, 10), (10,)]
    flat, views = fastgd.flat_parameters(shapes, np.float64)
    gflat, gviews = fastgd.flat_parameters(shapes, np.float64)
    rng = np.random.default_rng(3)
    flat[...] = rng.standard_normal(flat.size)
    ref_params = [v.copy() for v in views]
    fast = fastgd.optim.OPTIMIZERS[name](views, n_threads=2, **kwargs)
    ref = reference.OPTIMIZERS[name](ref_params, **kwargs)
    for _ in range(30):
        gflat[...] = rng.standard_normal(gflat.size)
        fast.step(gviews)
        ref.step([g.copy() for g in gviews])
    _assert_same(fast, ref, views, ref_params, np.float64, case_id(case))


@pytest.mark.parametrize("n_threads", [1, 2, 3, 5])
def test_results_do_not_depend_on_thread_count(n_threads):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(300001).astype(np.float32)
    grads = [rng.standard_normal(p0.size).astype(np.float32) for _ in range(5)]
    out = []
    for threads in (1, n_threads):
        p = p0.copy()
        opt = fastgd.Adam([p], lr=1e-2, amsgrad=True, n_threads=threads)
        for g in grads:
            opt.step([g])
        out.append(p)
    np.testing.assert_array_equal(out[0], out[1])


def test_set_num_threads_is_used_and_restored():
    fastgd.set_num_threads(3)
    try:
        assert fastgd.get_num_threads() == 3
    finally:
        fastgd.set_num_threads(None)
    assert fastgd.get_num_threads() >= 1
    with pytest.raises(ValueError, match="n"):
        fastgd.set_num_threads(0)
