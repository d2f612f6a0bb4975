"""The float64 loss kernels' e^x for x <= 0 (csrc/fg_exp.h): within ~1 ulp of the true
value, 0 where e^x underflows, NaN for NaN. (The softmax/sigmoid losses built on it are held
to the reference by tests/test_mlp.py at rtol 1e-12; float32 keeps libm's expf.)

The true value is np.exp in x87 extended precision (64-bit significand, error ~2^-64
relative): enough to measure an error of 1 ulp (2^-52) to ~1e-4 of an ulp. Where long
double is no wider than double the accuracy checks are skipped.

Bound: 1.05 ulp. The evaluation's own budget is ~1.1 ulp worst case (0.5 for the final
1 + ..., ~0.2 each for the reduction's r and for r + r^2 q, near r = -ln2/2 where the result
is ~0.71 and its ulp halves); measured max 1.004 ulp over 2e7 random points, 0.97 on the
points below."""
import numpy as np
import pytest

from fastgd.model import _engine

EXTENDED = np.finfo(np.longdouble).nmant >= 63
BOUND_ULP = 1.05


def ulp_error(fast, x):
    """|fast - e^x| in units of float64's spacing at e^x (the subnormal spacing below)."""
    true = np.exp(x.astype(np.longdouble))
    spacing = np.spacing(true.astype(np.float64)).astype(np.longdouble)
    return np.abs(fast.astype(np.longdouble) - true) / spacing


def points():
    rng = np.random.default_rng(0)
    return np.concatenate([
        rng.uniform(-745.2, 0, 300_000),
        -rng.uniform(0, 1, 100_000) ** 4,                     # near 0, where e^x ~ 1
        -np.abs(rng.standard_normal(50_000)) * 5,             # softmax's usual range
        np.linspace(-745.2, -705.2, 20_001),                  # the subnormal results
        -(np.arange(0, 1076) + 0.5) * np.log(2),              # r = -ln2/2: the worst case
        -np.arange(0, 1077) * np.log(2),                      # the binade edges n ln2
        [0.0, -0.0, -1e-300, -5e-324, -np.finfo(np.float64).tiny],
    ])


@pytest.mark.skipif(not EXTENDED, reason="needs an extended long double for e^x's true value")
def test_within_the_stated_ulps():
    x = points()
    err = ulp_error(_engine.exp_nonpos(x), x)
    assert err.max() <= BOUND_ULP, (err.max(), x[np.argmax(err)])
    assert np.mean(err <= 0.5) > 0.9      # correctly rounded for most inputs


def test_edges():
    x = np.array([0.0, -0.0, -800.0, -1e308, -np.inf, np.nan, -746.0, -745.0, -1e-320])
    got = _engine.exp_nonpos(x)
    assert got[0] == 1.0 and got[1] == 1.0
    assert np.all(got[2:5] == 0.0)
    assert np.isnan(got[5])
    assert got[6] == 0.0                       # e^-746 < half the least subnormal
    assert got[7] == np.exp(-745.0) == 5e-324  # the least subnormal
    assert got[8] == 1.0


def test_rejects_what_it_does_not_compute():
    with pytest.raises(TypeError, match="x: expected a 1-D float64 array"):
        _engine.exp_nonpos(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="x: expected a 1-D float64 array"):
        _engine.exp_nonpos(np.zeros(3, np.float32))
