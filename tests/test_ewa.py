"""Exponentially weighted averages: the C kernel (fastgd.ewa) against its NumPy twin
(fastgd.reference.ewa) and a plain-Python loop, the lesson's claims about them, the
streaming fastgd.EWA, and input checking.

Tolerances as in test_optim_parity: float64 rtol 1e-12, float32 rtol 1e-5 (the two agree
bit for bit on x86-64 with the shipped flags; the slack is for other platforms)."""
import inspect

import numpy as np
import pytest

import fastgd
from fastgd import reference

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
SIZES = [0, 1, 7, 1023, 100003]
CONFIGS = [dict(bias_correction=True), dict(bias_correction=False),
           dict(bias_correction=False, start="first")]


def _config_id(config):
    return "-".join(f"{k}={v}" for k, v in config.items())


def _series(size, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(size) * 3 + 1).astype(dtype)


@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", SIZES)
def test_matches_reference(size, dtype, config):
    base = _series(3 * size, dtype, seed=size)
    for view, label in [(base[:size], "contiguous"), (base[::3], "x[::3]"),
                        (base[:size][::-1], "x[::-1]")]:
        kept = view.copy()
        fast = fastgd.ewa(view, 0.9, **config)
        ref = reference.ewa(view, 0.9, **config)
        msg = f"size={size} dtype={np.dtype(dtype).name} {_config_id(config)} {label}"
        np.testing.assert_array_equal(view, kept, err_msg=f"{msg}: x was written")
        assert fast.dtype == dtype and fast.shape == (view.shape[0],), msg
        assert fast.flags.c_contiguous, msg
        np.testing.assert_allclose(fast, ref, err_msg=msg, **TOL[dtype])


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.999])
def test_matches_a_plain_python_loop(beta):
    xs = [float(v) for v in _series(300, np.float64, seed=1)]
    v, corrected, raw, first = 0.0, [], [], []
    for t, x in enumerate(xs, start=1):
        v = beta * v + (1 - beta) * x
        raw.append(v)
        corrected.append(v / (1 - beta ** t))
    v = xs[0]
    first.append(v)
    for x in xs[1:]:
        v = beta * v + (1 - beta) * x
        first.append(v)
    x = np.array(xs)
    np.testing.assert_allclose(fastgd.ewa(x, beta), corrected, rtol=1e-12)
    np.testing.assert_allclose(fastgd.ewa(x, beta, bias_correction=False), raw, rtol=1e-12,
                               atol=1e-13)
    np.testing.assert_allclose(fastgd.ewa(x, beta, bias_correction=False, start="first"),
                               first, rtol=1e-12, atol=1e-13)


def test_beta_zero_is_the_identity():
    x = _series(50, np.float64)
    np.testing.assert_array_equal(fastgd.ewa(x, 0.0), x)
    np.testing.assert_array_equal(fastgd.ewa(x, 0.0, bias_correction=False), x)


def test_lesson_beta_09_averages_about_ten_values():
    """Without correction, a step input (0 before, 1 from t=1) reaches 1 - 0.9^10 ~ 0.65
    after 10 steps: the weight of the last ~1/(1-beta) = 10 values is ~1 - 1/e."""
    v = fastgd.ewa(np.ones(30), 0.9, bias_correction=False)
    assert v[9] == pytest.approx(1 - 0.9 ** 10, rel=1e-13)
    assert v[9] == pytest.approx(0.65, abs=0.005)
    np.testing.assert_allclose(v, 1 - 0.9 ** np.arange(1, 31), rtol=1e-13)
    # an impulse's weights are (1 - beta) beta^k: the last ten carry 1 - 0.9^10 of them
    impulse = np.zeros(40)
    impulse[0] = 1.0
    weights = fastgd.ewa(impulse, 0.9, bias_correction=False)
    np.testing.assert_allclose(weights, 0.1 * 0.9 ** np.arange(40), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1.0, -3.7, 1e-3])
def test_lesson_bias_correction_reproduces_a_constant(c, dtype):
    """With correction, a constant series is reproduced from t=1 on (exactly in exact
    arithmetic: v_t = (1 - beta^t) c; here to rounding); without it, the start is biased
    toward the zero v_0; the copy-first average needs no correction."""
    x = np.full(200, c, dtype=dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    corrected = fastgd.ewa(x, 0.9)
    np.testing.assert_allclose(corrected, x, rtol=rtol * 20)
    assert corrected[0] == pytest.approx(c, rel=rtol)
    raw = fastgd.ewa(x, 0.9, bias_correction=False)
    assert raw[0] == pytest.approx(0.1 * c, rel=rtol)
    np.testing.assert_allclose(fastgd.ewa(x, 0.9, bias_correction=False, start="first"), x,
                               rtol=rtol * 20)


def test_strides_that_are_not_a_multiple_of_the_itemsize():
    """A field of a packed structured array has a stride of 12 bytes for 8-byte values."""
    rec = np.zeros(100, dtype=[("a", np.float64), ("b", np.float32)])
    rec["a"] = _series(100, np.float64)
    x = rec["a"]
    assert x.strides[0] % x.itemsize
    np.testing.assert_allclose(fastgd.ewa(x, 0.8), reference.ewa(x.copy(), 0.8),
                               **TOL[np.float64])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_is_filled_and_returned(dtype):
    x = _series(100, dtype)
    out = np.full(100, np.nan, dtype=dtype)
    result = fastgd.ewa(x, 0.9, out=out)
    assert result is out
    np.testing.assert_array_equal(out, fastgd.ewa(x, 0.9))
    ref_out = np.empty(100, dtype)
    assert reference.ewa(x, 0.9, out=ref_out) is ref_out


@pytest.mark.parametrize("values", [np.arange(-5, 20), np.arange(25, dtype=np.int8),
                                    np.arange(25, dtype=np.uint32), list(range(25)),
                                    np.arange(25) % 2 == 0])
def test_integer_input_is_averaged_in_float64(values):
    expected = np.asarray(values).astype(np.float64)
    for impl in (fastgd.ewa, reference.ewa):
        result = impl(values, 0.7)
        assert result.dtype == np.float64, impl
        np.testing.assert_allclose(result, fastgd.ewa(expected, 0.7), **TOL[np.float64])
    assert not np.array_equal(fastgd.ewa(expected, 0.7), np.trunc(fastgd.ewa(expected, 0.7)))


# ----------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("bias_correction", [True, False])
def test_streaming_scalars_match_ewa(bias_correction):
    xs = _series(200, np.float64, seed=4)
    avg = fastgd.EWA(0.9, bias_correction=bias_correction)
    expected = fastgd.ewa(xs, 0.9, bias_correction=bias_correction)
    for t, x in enumerate(xs):
        value = avg.update(float(x))
        assert avg.count == t + 1
        assert value == avg.value
        assert value == pytest.approx(expected[t], rel=1e-12, abs=1e-13)
    ints = fastgd.EWA(0.5)
    for x in (1, 2, 3):
        ints.update(x)
    assert ints.value == pytest.approx(fastgd.ewa(np.array([1.0, 2.0, 3.0]), 0.5)[-1], rel=1e-15)


@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streaming_arrays_match_ewa_per_element(dtype, bias_correction):
    series = _series(60 * 12, dtype, seed=5).reshape(60, 4, 3)
    avg = fastgd.EWA(0.8, bias_correction=bias_correction)
    values = []
    for x in series:
        kept = x.copy()
        values.append(np.array(avg.update(x)))
        np.testing.assert_array_equal(x, kept)
    values = np.stack(values)
    assert values.dtype == dtype
    for i in range(4):
        for j in range(3):
            np.testing.assert_allclose(values[:, i, j],
                                       fastgd.ewa(series[:, i, j], 0.8,
                                                  bias_correction=bias_correction),
                                       **TOL[dtype])


def test_streaming_reset_and_errors():
    avg = fastgd.EWA(0.9)
    with pytest.raises(ValueError, match="value"):
        avg.value
    avg.update(np.ones(3))
    with pytest.raises(ValueError, match="x"):
        avg.update(np.ones(4))
    assert avg.count == 1
    np.testing.assert_allclose(avg.value, 1.0, rtol=1e-15)
    avg.reset()
    assert avg.count == 0
    with pytest.raises(ValueError):
        avg.value
    avg.update(2.0)
    assert avg.value == pytest.approx(2.0, rel=1e-15)
    for beta, exc in ((-0.1, ValueError), (1.0, ValueError), (1.5, ValueError),
                      (float("nan"), ValueError), (True, TypeError), ("0.9", TypeError),
                      (None, TypeError)):
        with pytest.raises(exc, match="beta"):
            fastgd.EWA(beta)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_is_rejected_naming_the_argument():
    x = _series(10, np.float64)
    kept = x.copy()
    out = np.full(10, 7.0)
    readonly = np.empty(10)
    readonly.flags.writeable = False
    cases = [
        (dict(beta=-0.1), ValueError, "beta"),
        (dict(beta=1.0), ValueError, "beta"),
        (dict(beta=float("nan")), ValueError, "beta"),
        (dict(beta=True), TypeError, "beta"),
        (dict(beta="0.9"), TypeError, "beta"),
        (dict(beta=0.9, start="last"), ValueError, "start"),
        (dict(beta=0.9, start="first"), ValueError, "bias_correction"),
        (dict(beta=0.9, start="first", bias_correction=True), ValueError, "bias_correction"),
        (dict(beta=0.9, out=np.empty(10, np.float32)), ValueError, "out"),
        (dict(beta=0.9, out=np.empty(11)), ValueError, "out"),
        (dict(beta=0.9, out=np.empty((10, 1))), ValueError, "out"),
        (dict(beta=0.9, out=np.empty(20)[::2]), ValueError, "out"),
        (dict(beta=0.9, out=readonly), ValueError, "out"),
        (dict(beta=0.9, out=[0.0] * 10), TypeError, "out"),
    ]
    for kwargs, exc, match in cases:
        with pytest.raises(exc, match=match):
            fastgd.ewa(x, **kwargs)
        np.testing.assert_array_equal(x, kept)
    for bad_x, exc in [(np.ones((3, 4)), ValueError), (np.array(1.0), ValueError),
                       (np.ones(5, np.complex128), TypeError), (np.ones(5, np.float16), TypeError),
                       (np.array(["a", "b"]), TypeError)]:
        with pytest.raises(exc, match="x"):
            fastgd.ewa(bad_x, 0.9)
    with pytest.raises(ValueError, match="out"):
        fastgd.ewa(x, 0.9, out=out[:5])
    np.testing.assert_array_equal(out, 7.0)


def test_reference_shares_the_signature():
    assert (inspect.signature(fastgd.ewa).parameters.keys()
            == inspect.signature(reference.ewa).parameters.keys())
