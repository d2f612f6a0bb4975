"""Tests for fastgd.lab.surfaces: analytic gradients and Hessians against central finite
differences, critical points, and the trajectory recorder."""

import math

import numpy as np
import pytest

from fastgd import functions as F


class GD:
    """Plain gradient descent with the torch-like API fastgd's optimizers have."""

    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def step(self, grads):
        for p, g in zip(self.params, grads):
            p -= self.lr * g


def _surfaces():
    for name, cls in F.SURFACES.items():
        yield name, cls()
    yield "rosenbrock(2, 10)", F.Rosenbrock(a=2.0, b=10.0)
    yield "ravine(10)", F.Ravine(condition=10.0)
    yield "high_dim_saddle(12, 3)", F.HighDimSaddle(dim=12, n_negative=3, seed=1)


SURFACES = list(_surfaces())
IDS = [name for name, _ in SURFACES]


def _points(f):
    rng = np.random.default_rng(0)
    pts = [f.default_start] + [rng.uniform(-1.5, 1.5, f.dim) for _ in range(5)]
    pts += [p for p in (f.minimum, f.saddle) if p is not None]
    return pts


def _central_diff(fun, x, h):
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((np.asarray(fun(x + e)) - np.asarray(fun(x - e))) / (2 * h))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("f", [s for _, s in SURFACES], ids=IDS)
def test_grad_matches_finite_differences(f):
    for x in _points(f):
        g = f.grad(x)
        assert g.dtype == np.float64 and g.shape == (f.dim,)
        fd = _central_diff(f.value, x, 1e-6)
        # Central differences err by O(h²·f''') + O(eps·|f|/h), both far below this.
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(g).max()),
                                   err_msg=f"{f!r} at {x}")


@pytest.mark.parametrize("f", [s for _, s in SURFACES], ids=IDS)
def test_hessian_matches_finite_differences(f):
    for x in _points(f):
        H = f.hessian(x)
        assert H.shape == (f.dim, f.dim)
        np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12, err_msg=f"{f!r} at {x}")
        fd = _central_diff(f.grad, x, 1e-6)
        np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(H).max()),
                                   err_msg=f"{f!r} at {x}")


@pytest.mark.parametrize("f", [s for _, s in SURFACES], ids=IDS)
def test_grad_returns_new_array_and_leaves_x(f):
    x = np.array(f.default_start)
    before = x.copy()
    g1 = f.grad(x)
    g1 += 1.0
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(f.grad(x), x)
    assert isinstance(f.value(x), float)
    with pytest.raises(ValueError, match="x must have shape"):
        f.grad(np.zeros(f.dim + 1))


@pytest.mark.parametrize("f", [F.Rosenbrock(), F.Rosenbrock(2.0, 10.0), F.Beale(),
                               F.Ravine()], ids=repr)
def test_minimum_is_a_minimum(f):
    assert f.value(f.minimum) == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(f.grad(f.minimum), 0.0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(f.hessian(f.minimum)) > 0)


def test_saddles():
    s = F.Saddle()
    assert s.minimum is None
    np.testing.assert_array_equal(s.grad(s.saddle), 0.0)
    eig = np.linalg.eigvalsh(s.hessian(s.saddle))
    assert eig.min() < 0 < eig.max()  # a minimum along x, a maximum along y

    m = F.MonkeySaddle()
    np.testing.assert_array_equal(m.grad(m.saddle), 0.0)
    np.testing.assert_array_equal(m.hessian(m.saddle), 0.0)  # degenerate: flatter plateau
    assert m.value([0.1, 0.0]) > 0 > m.value([-0.1, 0.0])

    h = F.HighDimSaddle(dim=30, n_negative=4, seed=2)
    np.testing.assert_array_equal(h.grad(h.saddle), 0.0)
    eig = np.linalg.eigvalsh(h.hessian(h.saddle))
    assert (eig < 0).sum() == 4 and (eig > 0).sum() == 26
    np.testing.assert_allclose(eig, np.sort(h.eigenvalues), atol=1e-12)
    assert np.abs(eig).max() == pytest.approx(1.0) and np.abs(eig).min() == pytest.approx(0.01)
    # Seeded: the same seed builds the same surface.
    np.testing.assert_array_equal(h.H, F.HighDimSaddle(dim=30, n_negative=4, seed=2).H)
    assert F.HighDimSaddle().n_negative == 10


def test_constructor_validation():
    with pytest.raises(ValueError, match="n_negative"):
        F.HighDimSaddle(dim=5, n_negative=5)
    with pytest.raises(ValueError, match="dim"):
        F.HighDimSaddle(dim=1)
    with pytest.raises(ValueError, match="condition"):
        F.Ravine(condition=0)
    with pytest.raises(ValueError, match="b must"):
        F.Rosenbrock(b=-1)


def test_trajectory_shape_and_record():
    f = F.Ravine()
    start = f.default_start.copy()
    t = F.trajectory(f, lambda ps: GD(ps, lr=0.01), start, 50)
    assert t.path.shape == (51, 2) and t.values.shape == (51,) and t.steps_run == 50
    np.testing.assert_array_equal(t.path[0], start)
    np.testing.assert_array_equal(start, f.default_start)  # the caller's start is not moved
    np.testing.assert_allclose(t.values, [f.value(p) for p in t.path], rtol=1e-15)
    # GD on a convex quadratic with lr < 2/c: x shrinks by exactly (1 - lr) per step.
    np.testing.assert_allclose(t.path[:, 0], start[0] * 0.99 ** np.arange(51), rtol=1e-12)
    assert np.all(np.diff(t.values) < 0)


def test_trajectory_zero_steps_and_list_start():
    t = F.trajectory(F.Saddle(), lambda ps: GD(ps, lr=0.1), [1.0, 0.5], 0)
    assert t.path.shape == (1, 2) and t.steps_run == 0 and t.path.dtype == np.float64


def test_trajectory_early_stop_saddle_escape():
    # GD at lr 0.1 multiplies y by 1.2 per step: 1e-3·1.2^k first exceeds 1 at k = 38.
    t = F.trajectory(F.Saddle(), lambda ps: GD(ps, lr=0.1), F.Saddle.default_start, 1000,
                     stop=lambda p, v: abs(p[1]) > 1)
    expected = math.ceil(math.log(1e3) / math.log(1.2))
    assert t.steps_run == expected == 38
    assert t.path.shape == (39, 2)
    assert abs(t.path[-1, 1]) > 1 >= abs(t.path[-2, 1])


def test_trajectory_high_dim_escape():
    f = F.HighDimSaddle(dim=40, n_negative=4, seed=0)
    t = F.trajectory(f, lambda ps: GD(ps, lr=0.5), f.default_start, 5000,
                     stop=lambda p, v: v < -1)
    assert t.steps_run < 5000 and t.values[-1] < -1
    assert t.path.shape == (t.steps_run + 1, 40)


def test_trajectory_divergence_stops_quietly():
    # lr > 2/c: y is multiplied by (1 - 50) each step until the value overflows.
    t = F.trajectory(F.Ravine(), lambda ps: GD(ps, lr=1.0), [1.0, 1.0], 10_000)
    assert t.steps_run < 10_000 and not np.isfinite(t.values[-1])
    assert np.all(np.isfinite(t.values[:-1]))


def test_trajectory_validation():
    f = F.Saddle()
    with pytest.raises(ValueError, match="steps"):
        F.trajectory(f, lambda ps: GD(ps, 0.1), [1.0, 0.0], -1)
    with pytest.raises(ValueError, match="start"):
        F.trajectory(f, lambda ps: GD(ps, 0.1), [[1.0, 0.0]], 3)
    with pytest.raises(TypeError, match="stop"):
        F.trajectory(f, lambda ps: GD(ps, 0.1), [1.0, 0.0], 3, stop=1)
