"""Tests for fastgd.init: statistics against the variance formulas, and the contract
(in place, same object, dtype kept, seeded, bad input rejected before any write)."""

import math

import numpy as np
import pytest

from fastgd import init

SHAPE = (400, 600)  # fastgd layout (n_in, n_out): fan_in 400, fan_out 600
N = SHAPE[0] * SHAPE[1]
# With 240 000 samples the sample std is within ~0.15 % (one sigma) of the truth;
# 2 % leaves a wide margin against flakiness while still telling 2/400 from 2/600.
STD_RTOL = 0.02


def _check_moments(a, std, *, label):
    mean_tol = 5 * std / math.sqrt(a.size)  # 5 standard errors of the mean
    assert abs(a.mean()) < mean_tol, f"{label}: mean {a.mean()} beyond {mean_tol}"
    assert a.std() == pytest.approx(std, rel=STD_RTOL), f"{label}: std vs formula {std}"


# (label, call, expected std, uniform bound or None)
def _cases():
    g = init.calculate_gain
    fi, fo = SHAPE
    yield "normal", lambda a: init.normal(a, 0.05, seed=1), 0.05, None
    yield "uniform", lambda a: init.uniform(a, 0.3, seed=1), 0.3 / math.sqrt(3), 0.3
    std = math.sqrt(2 / (fi + fo))
    yield "xavier_uniform", lambda a: init.xavier_uniform(a, seed=1), std, std * math.sqrt(3)
    yield "xavier_normal", lambda a: init.xavier_normal(a, seed=1), std, None
    std = g("tanh") * math.sqrt(2 / (fi + fo))
    yield ("xavier_normal tanh gain", lambda a: init.xavier_normal(a, g("tanh"), seed=1),
           std, None)
    for mode, fan in (("fan_in", fi), ("fan_out", fo)):
        std = math.sqrt(2 / fan)
        yield (f"he_normal {mode}", lambda a, m=mode: init.he_normal(a, m, seed=1), std, None)
        yield (f"he_uniform {mode}", lambda a, m=mode: init.he_uniform(a, m, seed=1),
               std, std * math.sqrt(3))
        std = g("leaky_relu", 0.2) / math.sqrt(fan)
        yield (f"he_normal {mode} leaky 0.2",
               lambda a, m=mode: init.he_normal(a, m, "leaky_relu", 0.2, seed=1), std, None)
        std = g("tanh") / math.sqrt(fan)
        yield (f"he_uniform {mode} tanh", lambda a, m=mode: init.he_uniform(a, m, "tanh", seed=1),
               std, std * math.sqrt(3))


@pytest.mark.parametrize("label, call, std, bound", list(_cases()), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_statistics_match_formula(label, call, std, bound):
    a = np.full(SHAPE, np.nan)
    out = call(a)
    assert out is a
    _check_moments(a, std, label=label)
    if bound is not None:
        assert np.abs(a).max() <= bound, f"{label}: sample outside (-{bound}, {bound})"
        assert np.abs(a).max() > 0.99 * bound, f"{label}: bound not reached"


def test_fan_in_and_fan_out_layout():
    assert init.fan_in_and_fan_out((3, 5)) == (3, 5)  # (n_in, n_out), not torch's (out, in)
    assert init.fan_in_and_fan_out((3, 3, 16, 32)) == (144, 288)  # Keras conv layout
    assert init.fan_in_and_fan_out(np.zeros((7, 2)).shape) == (7, 2)
    for bad in ((), (5,)):
        with pytest.raises(ValueError, match="shape"):
            init.fan_in_and_fan_out(bad)
    with pytest.raises(TypeError, match="shape"):
        init.fan_in_and_fan_out(5)


def test_he_fan_in_is_rows():
    # A tall matrix: fan_in mode must use shape[0]; torch's convention would use shape[1].
    a = init.he_normal(np.empty((2000, 50)), seed=0)
    assert a.std() == pytest.approx(math.sqrt(2 / 2000), rel=0.03)


def test_zeros_and_zero_size():
    a = np.ones((3, 4), dtype=np.float32)
    assert init.zeros(a) is a and not a.any() and a.dtype == np.float32
    b = np.ones(5)
    assert init.zeros(b, seed=3) is b and not b.any()
    for f in (init.zeros, init.normal, init.uniform, init.xavier_uniform, init.he_normal,
              init.orthogonal):
        e = np.empty((0, 4))
        assert f(e, seed=0) is e


@pytest.mark.parametrize("name", ["normal", "uniform", "xavier_uniform", "xavier_normal",
                                  "he_uniform", "he_normal", "orthogonal"])
def test_dtype_kept_seed_reproducible(name):
    f = getattr(init, name)
    a64 = f(np.empty((30, 20)), seed=7)
    a32 = f(np.empty((30, 20), dtype=np.float32), seed=7)
    assert a32.dtype == np.float32 and a64.dtype == np.float64
    # Drawn in float64 and cast: float32 holds exactly the rounded float64 values.
    np.testing.assert_array_equal(a32, a64.astype(np.float32), err_msg=name)
    np.testing.assert_array_equal(f(np.empty((30, 20)), seed=7), a64, err_msg=name)
    assert not np.array_equal(f(np.empty((30, 20)), seed=8), a64), name
    # An int seed is default_rng(seed); a Generator is used as is and advances.
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(f(np.empty((30, 20)), seed=rng), a64, err_msg=name)
    assert not np.array_equal(f(np.empty((30, 20)), seed=rng), a64), name
    assert not np.array_equal(f(np.empty((30, 20))), f(np.empty((30, 20)))), name


def test_strided_view_written_in_place():
    base = np.full((40, 60), 5.0)
    view = base[::2, ::3]
    assert init.he_normal(view, seed=0) is view
    assert np.all(base[1::2] == 5.0) and np.all(base[::2, 1::3] == 5.0)
    np.testing.assert_array_equal(view, init.he_normal(np.empty((20, 20)), seed=0))


@pytest.mark.parametrize("shape", [(50, 20), (20, 20), (20, 50), (3, 4, 10)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_orthogonal(shape, dtype):
    gain = 1.5
    a = init.orthogonal(np.empty(shape, dtype=dtype), gain, seed=3)
    w = a.reshape(-1, shape[-1]).astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    if w.shape[0] >= w.shape[1]:
        np.testing.assert_allclose(w.T @ w, gain ** 2 * np.eye(w.shape[1]), atol=tol)
    else:
        np.testing.assert_allclose(w @ w.T, gain ** 2 * np.eye(w.shape[0]), atol=tol)


def test_calculate_gain_values():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("identity") == 1.0
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(TypeError, match="param"):
        init.calculate_gain("leaky_relu", "0.1")


@pytest.mark.torch
def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    cases = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
             ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0),
             ("selu", None)]
    for nl, param in cases:
        assert init.calculate_gain(nl, param) == pytest.approx(
            torch.nn.init.calculate_gain(nl, param), rel=1e-15), (nl, param)


def test_get_registry():
    assert init.get("he") is init.he_normal
    assert init.get("xavier") is init.xavier_uniform
    assert init.get("HE_Uniform") is init.he_uniform
    assert init.get("glorot_normal") is init.xavier_normal
    assert init.get("kaiming_uniform") is init.he_uniform
    for name in ("zeros", "normal", "uniform", "orthogonal", "he_normal", "xavier_normal"):
        assert init.get(name) is getattr(init, name)
        a = np.empty((6, 4))
        assert init.get(name)(a, seed=0) is a  # one calling convention for all
    assert init.get(init.zeros) is init.zeros
    with pytest.raises(ValueError, match="name"):
        init.get("lecun")
    with pytest.raises(TypeError, match="name"):
        init.get(3)


def _bad_calls():
    yield "list", lambda a: init.normal([[0.0, 1.0]]), TypeError, "a must"
    yield "int dtype", lambda a: init.zeros(np.zeros(3, dtype=np.int64)), TypeError, "dtype"
    yield "complex", lambda a: init.normal(np.zeros(3, complex)), TypeError, "dtype"
    yield "negative std", lambda a: init.normal(a, -0.1), ValueError, "std"
    yield "nan std", lambda a: init.normal(a, float("nan")), ValueError, "std"
    yield "bool std", lambda a: init.normal(a, True), TypeError, "std"
    yield "negative bound", lambda a: init.uniform(a, -1.0), ValueError, "bound"
    yield "negative gain", lambda a: init.xavier_uniform(a, -1.0), ValueError, "gain"
    yield "mode", lambda a: init.he_normal(a, "fan_avg"), ValueError, "mode"
    yield "nonlinearity", lambda a: init.he_uniform(a, nonlinearity="gelu"), ValueError, \
        "nonlinearity"
    yield "slope without leaky", lambda a: init.he_normal(a, negative_slope=0.1), ValueError, \
        "negative_slope"
    yield "1-D he", lambda a: init.he_normal(a[0]), ValueError, "dimensions"
    yield "1-D xavier", lambda a: init.xavier_normal(a[0]), ValueError, "dimensions"
    yield "1-D orthogonal", lambda a: init.orthogonal(a[0]), ValueError, "dimensions"
    yield "float seed", lambda a: init.normal(a, seed=1.5), TypeError, "seed"
    yield "legacy seed", lambda a: init.normal(a, seed=np.random.RandomState(0)), TypeError, \
        "seed"
    yield "negative seed", lambda a: init.he_normal(a, seed=-1), ValueError, "seed"
    yield "zeros seed", lambda a: init.zeros(a, seed="x"), TypeError, "seed"


@pytest.mark.parametrize("label, call, exc, match", list(_bad_calls()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input_rejected_array_untouched(label, call, exc, match):
    a = np.full((4, 3), 7.0)
    with pytest.raises(exc, match=match):
        call(a)
    assert np.all(a == 7.0), label


def test_read_only_rejected():
    a = np.full((4, 3), 7.0)
    a.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        init.he_normal(a)
    assert np.all(a == 7.0)
