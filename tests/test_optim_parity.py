"""The C kernels against their NumPy twins, through the classes: parameters and every
state entry, for every row of the table with its defaults and with each option set to a
non-default value (tests/registry.py), so a user's option that does not reach the C rule
as the reference reads it fails here.

The claim is bit for bit on x86-64 with the shipped flags (-ffp-contract=off; each C
expression evaluated in the reference's order and precision), so there the comparison is
``assert_array_equal``. Elsewhere (another libm or compiler may round sqrt/pow
differently) the stated tolerances are float64 rtol 1e-12, float32 rtol 1e-5."""
import platform

import numpy as np
import pytest

import fastgd
from registry import BY_NAME, CASES, INPUTS, SIZES, case_id

BITWISE = platform.machine().lower() in ("x86_64", "amd64")
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
STEPS = 20


def assert_same(a, b, dtype, msg):
    if BITWISE:
        np.testing.assert_array_equal(a, b, err_msg=msg)
    else:
        np.testing.assert_allclose(a, b, err_msg=msg, **TOL[dtype])


def _assert_states(fast, ref, fast_params, ref_params, dtype, msg):
    for i, (a, b) in enumerate(zip(fast_params, ref_params)):
        assert a.dtype == dtype, msg
        assert_same(a, b, dtype, f"{msg} param {i}")
    fs, rs = fast.state, ref.state
    assert fs.keys() == rs.keys(), msg
    for i in fs:
        assert fs[i].keys() == rs[i].keys(), f"{msg} state {i}"
        for k in fs[i]:
            if isinstance(fs[i][k], np.ndarray):
                assert fs[i][k].dtype == dtype, f"{msg} state {i}.{k}"
                assert_same(fs[i][k], rs[i][k], dtype, f"{msg} state {i}.{k}")
            else:
                assert fs[i][k] == rs[i][k], f"{msg} state {i}.{k}"


def run_pair(case, shapes, dtype, *, n_threads=1, seed=0, inputs="normal", strided=False,
             steps=STEPS):
    make = INPUTS[inputs]
    rng = np.random.default_rng(seed)
    fast_params = [make(rng, s, dtype) for s in shapes]
    ref_params = [p.copy() for p in fast_params]
    fast = case.build(fast_params, n_threads=n_threads)
    ref = case.build(ref_params, impl="reference")
    for _ in range(steps):
        if strided:   # every second element: a non-contiguous view of the same shape
            grads = [make(rng, tuple(s) + (2,), dtype)[..., 0] for s in shapes]
            assert all(not g.flags.c_contiguous for g in grads if g.size > 1)
        else:
            grads = [make(rng, s, dtype) for s in shapes]
        with np.errstate(all="ignore"):   # edge inputs overflow and divide by zero
            fast.step(grads)
            ref.step(grads)
    msg = (f"{case_id(case)} dtype={np.dtype(dtype).name} shapes={shapes} "
           f"order={'strided' if strided else 'C'} inputs={inputs} threads={n_threads} "
           f"seed={seed}")
    _assert_states(fast, ref, fast_params, ref_params, dtype, msg)
    return fast_params


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("inputs", sorted(INPUTS))
def test_every_size_matches_reference(case, dtype, inputs):
    for size in SIZES:
        steps = 6 if size > 10000 else STEPS
        run_pair(case, [(size,)], dtype, seed=size, inputs=inputs, steps=steps)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_arrays_strided_grads_three_threads(case, dtype):
    shapes = [(17, 9), (9,), (0,), (1,), (40000,), (3, 5, 2)]
    run_pair(case, shapes, dtype, n_threads=3, seed=7, strided=True, steps=8)


def test_the_parity_tests_can_fail():
    """A reference that differs in one option must be caught: Adamax's beta2 is read by
    the C rule (a mapping that dropped it would pass with the default)."""
    case = BY_NAME["Adamax"]
    rng = np.random.default_rng(0)
    p, q = rng.standard_normal(50), None
    q = p.copy()
    fast = fastgd.Adamax([p], betas=(0.9, 0.5), lr=0.1)
    ref = case.reference([q], betas=(0.9, 0.999), lr=0.1)
    for _ in range(5):
        g = rng.standard_normal(50)
        fast.step([g])
        ref.step([g])
    assert not np.array_equal(p, q)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("inputs", sorted(INPUTS))
@pytest.mark.parametrize("options", [{}, dict(amsgrad=True), dict(weight_decay=0.1)],
                         ids=["plain", "amsgrad", "l2"])
def test_adam_once_sqrt_bc2_is_one(dtype, inputs, options):
    """The C Adam skips its division by sqrt(1 - beta2^t) when that is exactly 1 (the
    epsilon-hat form always; plain Adam once beta2^t < 2^-53). With beta2 = 0.5 plain
    Adam crosses at step 54: the steps before and after must both be the reference's."""
    assert 1.0 - 0.5 ** 53 < 1.0 and 1.0 - 0.5 ** 54 == 1.0
    make = INPUTS[inputs]
    rng = np.random.default_rng(11)
    fast_params = [make(rng, (1023,), dtype), make(rng, (7,), dtype)]
    ref_params = [p.copy() for p in fast_params]
    kw = dict(lr=0.01, betas=(0.9, 0.5), **options)
    fast = fastgd.Adam(fast_params, **kw)
    ref = BY_NAME["Adam"].reference(ref_params, **kw)
    for step in range(60):
        grads = [make(rng, p.shape, dtype) for p in fast_params]
        with np.errstate(all="ignore"):
            fast.step(grads)
            ref.step(grads)
        if step in (52, 53, 54, 59):
            _assert_states(fast, ref, fast_params, ref_params, dtype,
                           f"Adam {options} {inputs} {np.dtype(dtype).name} step {step + 1}")


@pytest.mark.parametrize("case", CASES[:10], ids=case_id)
def test_flat_buffer_views_take_one_call_and_match(case):
    shapes = [(64, 33), (33,), (33, 10), (10,)]
    flat, views = fastgd.flat_parameters(shapes, np.float64)
    gflat, gviews = fastgd.flat_parameters(shapes, np.float64)
    rng = np.random.default_rng(3)
    flat[...] = rng.standard_normal(flat.size)
    ref_params = [v.copy() for v in views]
    fast = case.build(views, n_threads=2)
    ref = case.build(ref_params, impl="reference")
    for _ in range(30):
        gflat[...] = rng.standard_normal(gflat.size)
        fast.step(gviews)
        ref.step([g.copy() for g in gviews])
    _assert_states(fast, ref, views, ref_params, np.float64, case_id(case))


@pytest.mark.parametrize("n_threads", [2, 3, 5])
@pytest.mark.parametrize("case", CASES[:10], ids=case_id)
def test_results_do_not_depend_on_thread_count(case, n_threads):
    out = [run_pair(case, [(300001,)], np.float32, n_threads=t, seed=1, steps=4)[0]
           for t in (1, n_threads)]
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
