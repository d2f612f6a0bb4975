"""Analytic test surfaces for optimizer experiments, and a trajectory recorder.

Each surface has ``value(x) -> float``, ``grad(x) -> new float64 array``,
``hessian(x) -> new (dim, dim) array``, ``minimum`` (location of the global minimum, or
None when the surface is unbounded below), ``saddle`` (a saddle point, or None),
``default_start`` and ``name``. ``x`` is a 1-D array of length ``dim``.

They exist to *show* the lesson's points (LESSON.md §1, §5): plain gradient descent
crawling across the plateau of a saddle, zig-zagging in a ravine, and momentum / RMSProp /
Adam doing better. :func:`trajectory` runs any torch-like optimizer
(``opt = factory([p]); opt.step([g])`` updating ``p`` in place) on a surface.
"""

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Saddle", "MonkeySaddle", "Rosenbrock", "Beale", "Ravine", "HighDimSaddle",
           "SURFACES", "Trajectory", "trajectory"]


class _Surface:
    dim = 2
    minimum = None
    saddle = None
    name = ""

    def _x(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"x must have shape ({self.dim},) for {self.name}, got {x.shape}")
        return x

    def __repr__(self):
        return f"{type(self).__name__}()"


class Saddle(_Surface):
    """f(x, y) = x² − y². Gradient (2x, −2y); Hessian diag(2, −2): the origin is a saddle,
    a minimum along x and a maximum along y. Unbounded below (``minimum`` is None).

    The default start (1, 10⁻³) lies almost on the attracting x axis: plain gradient
    descent first rushes toward the saddle and then needs many steps for the tiny y
    component to grow (the plateau, LESSON.md §1); ``|y| > 1`` is a fair escape test.
    """

    name = "saddle"
    saddle = np.zeros(2)
    default_start = np.array([1.0, 1e-3])

    def value(self, x):
        x, y = self._x(x)
        return float(x * x - y * y)

    def grad(self, x):
        x, y = self._x(x)
        return np.array([2.0 * x, -2.0 * y])

    def hessian(self, x):
        self._x(x)
        return np.array([[2.0, 0.0], [0.0, -2.0]])


class MonkeySaddle(_Surface):
    """f(x, y) = x³ − 3xy². Gradient (3x² − 3y², −6xy); Hessian [[6x, −6y], [−6y, −6x]].

    The origin is a *degenerate* saddle: gradient and Hessian both vanish there, so near
    it gradient descent slows like 1/t rather than geometrically, a flatter plateau than
    :class:`Saddle`'s. Three valleys descend from it; unbounded below.
    """

    name = "monkey_saddle"
    saddle = np.zeros(2)
    default_start = np.array([1.0, 1e-3])

    def value(self, x):
        x, y = self._x(x)
        return float(x ** 3 - 3.0 * x * y * y)

    def grad(self, x):
        x, y = self._x(x)
        return np.array([3.0 * x * x - 3.0 * y * y, -6.0 * x * y])

    def hessian(self, x):
        x, y = self._x(x)
        return np.array([[6.0 * x, -6.0 * y], [-6.0 * y, -6.0 * x]])


class Rosenbrock(_Surface):
    """f(x, y) = (a − x)² + b·(y − x²)², minimum 0 at (a, a²).

    Gradient (−2(a − x) − 4bx(y − x²), 2b(y − x²)); a long curved valley whose floor is
    easy to reach and slow to follow. Classic start (−1.2, 1).
    """

    name = "rosenbrock"
    default_start = np.array([-1.2, 1.0])

    def __init__(self, a=1.0, b=100.0):
        self.a, self.b = float(a), float(b)
        if not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError(f"a and b must be finite, got a={a}, b={b}")
        if self.b <= 0:
            raise ValueError(f"b must be > 0, got {b}")
        self.minimum = np.array([self.a, self.a * self.a])

    def value(self, x):
        x, y = self._x(x)
        return float((self.a - x) ** 2 + self.b * (y - x * x) ** 2)

    def grad(self, x):
        x, y = self._x(x)
        r = y - x * x
        return np.array([-2.0 * (self.a - x) - 4.0 * self.b * x * r, 2.0 * self.b * r])

    def hessian(self, x):
        x, y = self._x(x)
        b = self.b
        return np.array([[2.0 - 4.0 * b * y + 12.0 * b * x * x, -4.0 * b * x],
                         [-4.0 * b * x, 2.0 * b]])

    def __repr__(self):
        return f"Rosenbrock(a={self.a}, b={self.b})"


class Beale(_Surface):
    """f(x, y) = Σᵢ tᵢ², t₁ = 1.5 − x + xy, t₂ = 2.25 − x + xy², t₃ = 2.625 − x + xy³.

    ∂f/∂x = Σ 2tᵢ(yⁱ − 1), ∂f/∂y = Σ 2tᵢ·i·x·yⁱ⁻¹. Minimum 0 at (3, 0.5); flat regions and
    steep walls, so gradient scales differ by orders of magnitude.
    """

    name = "beale"
    minimum = np.array([3.0, 0.5])
    default_start = np.array([1.0, 1.0])
    _C = (1.5, 2.25, 2.625)

    def _terms(self, x, y):
        return [c - x + x * y ** i for i, c in enumerate(self._C, start=1)]

    def value(self, x):
        x, y = self._x(x)
        return float(sum(t * t for t in self._terms(x, y)))

    def grad(self, x):
        x, y = self._x(x)
        gx = gy = 0.0
        for i, t in enumerate(self._terms(x, y), start=1):
            gx += 2.0 * t * (y ** i - 1.0)
            gy += 2.0 * t * i * x * y ** (i - 1)
        return np.array([gx, gy])

    def hessian(self, x):
        x, y = self._x(x)
        hxx = hxy = hyy = 0.0
        for i, t in enumerate(self._terms(x, y), start=1):
            dtx, dty = y ** i - 1.0, i * x * y ** (i - 1)  # ∂tᵢ/∂x, ∂tᵢ/∂y
            hxx += 2.0 * dtx * dtx
            hxy += 2.0 * (dty * dtx + t * i * y ** (i - 1))
            hyy += 2.0 * (dty * dty + t * i * (i - 1) * x * y ** max(i - 2, 0))
        return np.array([[hxx, hxy], [hxy, hyy]])


class Ravine(_Surface):
    """f(x, y) = ½(x² + c·y²), an ill-conditioned bowl (condition number c), minimum 0 at 0.

    Gradient (x, c·y). Plain GD is stable only for lr < 2/c, and then crawls along x at
    rate (1 − lr) while zig-zagging across y: the picture momentum is drawn to fix.
    """

    name = "ravine"
    minimum = np.zeros(2)
    default_start = np.array([-4.0, 1.0])

    def __init__(self, condition=50.0):
        self.condition = float(condition)
        if not (math.isfinite(self.condition) and self.condition > 0):
            raise ValueError(f"condition must be finite and > 0, got {condition}")

    def value(self, x):
        x, y = self._x(x)
        return float(0.5 * (x * x + self.condition * y * y))

    def grad(self, x):
        x, y = self._x(x)
        return np.array([x, self.condition * y])

    def hessian(self, x):
        self._x(x)
        return np.diag([1.0, self.condition])

    def __repr__(self):
        return f"Ravine(condition={self.condition})"


class HighDimSaddle(_Surface):
    """f(x) = ½ xᵀHx with H = Q·diag(λ)·Qᵀ, Q a seeded random orthogonal matrix.

    The |λ| are log-spaced over [1/spread, 1]; ``n_negative`` of them (chosen at random by
    ``seed``, so negative curvature appears at every scale) are negated. The origin is the
    only critical point and a saddle, as almost every critical point of a high-dimensional
    loss is (LESSON.md §1); unbounded below. Gradient Hx, Hessian H.

    The default start has coordinate 1 along every positive-curvature eigenvector and
    10⁻³ along the negative ones, the high-dimensional form of :class:`Saddle`'s start;
    ``value < −1`` is a fair escape test.
    """

    name = "high_dim_saddle"

    def __init__(self, dim=100, n_negative=None, *, spread=100.0, seed=0):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 2:
            raise ValueError(f"dim must be an int >= 2, got {dim!r}")
        if n_negative is None:
            n_negative = max(1, dim // 10)
        if (isinstance(n_negative, bool) or not isinstance(n_negative, (int, np.integer))
                or not 1 <= n_negative < dim):
            raise ValueError(f"n_negative must be an int in [1, dim), got {n_negative!r}")
        spread = float(spread)
        if not (math.isfinite(spread) and spread >= 1.0):
            raise ValueError(f"spread must be finite and >= 1, got {spread}")
        self.dim, self.n_negative, self.spread, self.seed = int(dim), int(n_negative), spread, seed
        rng = np.random.default_rng(seed)
        lam = np.geomspace(1.0, 1.0 / spread, self.dim)
        negative = np.zeros(self.dim, dtype=bool)
        negative[rng.choice(self.dim, self.n_negative, replace=False)] = True
        lam[negative] *= -1.0
        q, r = np.linalg.qr(rng.standard_normal((self.dim, self.dim)))
        q *= np.where(np.diag(r) < 0, -1.0, 1.0)  # Haar-distributed Q
        self.eigenvalues, self.eigenvectors = lam, q
        # Symmetrize so rounding cannot make H (and the gradient field) non-symmetric.
        h = (q * lam) @ q.T
        self.H = 0.5 * (h + h.T)
        self.saddle = np.zeros(self.dim)
        self.default_start = q @ np.where(negative, 1e-3, 1.0)

    def value(self, x):
        x = self._x(x)
        return float(0.5 * x @ (self.H @ x))

    def grad(self, x):
        return self.H @ self._x(x)

    def hessian(self, x):
        self._x(x)
        return self.H.copy()

    def __repr__(self):
        return (f"HighDimSaddle(dim={self.dim}, n_negative={self.n_negative}, "
                f"spread={self.spread}, seed={self.seed})")


SURFACES = {cls.name: cls for cls in
            (Saddle, MonkeySaddle, Rosenbrock, Beale, Ravine, HighDimSaddle)}
"""name -> surface class; every class builds a default surface with no arguments."""


@dataclass
class Trajectory:
    """``path``: (steps_run + 1, dim) positions, start first; ``values``: f at each row."""

    path: np.ndarray
    values: np.ndarray
    steps_run: int


def trajectory(function, optimizer_factory, start, steps, *, stop=None):
    """Run ``steps`` optimizer steps on ``function`` from ``start`` and record the path.

    ``p = float64 copy of start``; ``opt = optimizer_factory([p])``; then each step
    ``opt.step([function.grad(p)])``, which must update ``p`` in place.
    ``stop(position, value) -> bool`` is checked after every step and ends the run when
    true (e.g. ``lambda p, v: abs(p[1]) > 1`` to time a saddle escape). A run also ends at
    the first non-finite value (divergence), which is recorded as the last row; floating
    point overflow warnings are silenced inside the loop for that reason.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if stop is not None and not callable(stop):
        raise TypeError(f"stop must be callable or None, got {type(stop).__name__}")
    p = np.array(start, dtype=np.float64)  # a copy: the caller's start is never moved
    if p.ndim != 1:
        raise ValueError(f"start must be 1-D, got shape {p.shape}")
    path = np.empty((steps + 1, p.size))
    values = np.empty(steps + 1)
    path[0], values[0] = p, function.value(p)
    opt = optimizer_factory([p])
    k = 0
    # Divergence (too large a learning rate) is an expected outcome of an experiment, not
    # an error: overflow to inf/nan is allowed to happen quietly and ends the run below.
    with np.errstate(over="ignore", invalid="ignore"):
        while k < steps:
            opt.step([function.grad(p)])
            k += 1
            path[k], values[k] = p, function.value(p)
            if not math.isfinite(values[k]) or (stop is not None and stop(path[k], values[k])):
                break
    return Trajectory(path[:k + 1].copy(), values[:k + 1].copy(), k)
