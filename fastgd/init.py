"""Parameter initializers: fill a NumPy array in place and return it.

Design: initialization is cheap and runs once, so it exists only here, in NumPy, and both
the fast and the reference training paths call it (STYLE.md, "exists once").

Conventions decided here:

* **Layout.** fastgd weight matrices have shape ``(n_in, n_out)`` (forward is ``X @ W``),
  the transpose of torch's ``(out, in)``. For a 2-D array ``fan_in = shape[0]`` and
  ``fan_out = shape[1]``. Arrays with more dimensions follow Keras: the last two axes are
  ``(n_in, n_out)`` and every leading axis is part of the receptive field, which multiplies
  both fans. Fan-based initializers reject 0-D and 1-D arrays (biases have no fan-in;
  initialize them with :func:`zeros`).
* **Randomness.** ``seed`` is ``None``, a non-negative int (passed to
  ``numpy.random.default_rng``) or a ``numpy.random.Generator``, used as is, so one
  generator can initialize a whole model in sequence.
* **Precision.** Values are drawn in float64 and cast on assignment, so a float32 and a
  float64 array filled from the same seed hold the same numbers up to rounding.
* **In place.** Every initializer writes with ``a[...] = values`` (views and strided arrays
  included, no hidden copy) and returns ``a`` itself. All arguments are checked before the
  first write: on error the array is untouched.

Variances (``n`` the fan chosen by ``mode``):

=================  =========================================  ==========================
initializer        Var(w)                                     distribution
=================  =========================================  ==========================
xavier_uniform     gain² · 2 / (fan_in + fan_out)             U(−b, b), b = √3 · std
xavier_normal      gain² · 2 / (fan_in + fan_out)             N(0, std²)
he_uniform         gain² / n   (relu: 2 / n)                  U(−b, b), b = √3 · std
he_normal          gain² / n   (relu: 2 / n)                  N(0, std²)
=================  =========================================  ==========================
"""

import math
import numbers

import numpy as np

from fastgd import _checks

__all__ = [
    "calculate_gain", "fan_in_and_fan_out", "get",
    "zeros", "normal", "uniform",
    "xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "orthogonal",
]

_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d",
           "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid")
_MODES = ("fan_in", "fan_out")


# ----------------------------------------------------------------------------- helpers

def _check_array(a):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"a must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype.kind != "f":
        raise TypeError(f"a must have a floating dtype, got {a.dtype}")
    if not a.flags.writeable:
        raise ValueError("a is read-only (a.flags.writeable is False)")


def _check_real(name, value, *, nonnegative=False):
    # bool is an int subclass; True as a std or gain is always a mistake (fastgd._checks)
    return _checks.real(value, name, low=0.0 if nonnegative else None)


def _rng(seed):
    """The Generator for ``seed``: None or int -> ``default_rng(seed)``; a Generator as is."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        return np.random.default_rng(int(seed))
    raise TypeError("seed must be None, a non-negative int or a numpy.random.Generator, "
                    f"got {type(seed).__name__}")


def _fill(a, values):
    # Unsafe-cast assignment from float64: float32 arrays get the rounded float64 draws.
    a[...] = values
    return a


# ----------------------------------------------------------------------- gain and fans

def calculate_gain(nonlinearity, param=None):
    """Recommended scale for an activation, the same values as ``torch.nn.init.calculate_gain``.

    ======================  =======================================
    nonlinearity            gain
    ======================  =======================================
    linear / identity,      1
    conv*, sigmoid
    tanh                    5/3
    relu                    √2
    leaky_relu              √(2 / (1 + negative_slope²)), slope = ``param`` (default 0.01)
    selu                    3/4
    ======================  =======================================

    ``identity`` is a fastgd alias of ``linear``.
    """
    if not isinstance(nonlinearity, str):
        raise TypeError(f"nonlinearity must be a str, got {type(nonlinearity).__name__}")
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _check_real("param", param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"nonlinearity {nonlinearity!r} is not supported; expected one of "
                     f"{', '.join(_LINEAR + ('tanh', 'relu', 'leaky_relu', 'selu'))}")


def fan_in_and_fan_out(shape):
    """``(fan_in, fan_out)`` of a weight of ``shape`` in fastgd's ``(n_in, n_out)`` layout.

    2-D: ``(shape[0], shape[1])``. N-D (Keras layout ``(*receptive, n_in, n_out)``): both
    fans are multiplied by ``prod(shape[:-2])``. Fewer than two dimensions is a ValueError.
    """
    try:
        shape = tuple(int(n) for n in shape)
    except TypeError:
        raise TypeError(f"shape must be a sequence of ints, got {type(shape).__name__}") from None
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions for fan-based "
                         f"initialization, got {shape} (initialize biases with zeros)")
    if any(n < 0 for n in shape):
        raise ValueError(f"shape must not have negative entries, got {shape}")
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _fans(a):
    if a.ndim < 2:
        raise ValueError(f"a must have at least 2 dimensions for fan-based initialization, "
                         f"got shape {a.shape} (initialize biases with zeros)")
    return fan_in_and_fan_out(a.shape)


# ------------------------------------------------------------------------ initializers

def zeros(a, *, seed=None):
    """Fill with 0. ``seed`` is accepted (and checked) only so every initializer can be
    called the same way; zeros use no randomness. Right for biases; for weights it leaves
    every unit of a layer identical, so symmetry is never broken."""
    _check_array(a)
    _rng(seed)
    return _fill(a, 0.0)


def normal(a, std=0.01, *, seed=None):
    """Fill with N(0, std²). The default 0.01 is the lesson's ``randn(...) * 0.01``."""
    _check_array(a)
    std = _check_real("std", std, nonnegative=True)
    rng = _rng(seed)
    return _fill(a, std * rng.standard_normal(a.shape))


def uniform(a, bound=0.05, *, seed=None):
    """Fill with U(−bound, bound), variance bound² / 3. Default 0.05 as Keras ``RandomUniform``."""
    _check_array(a)
    bound = _check_real("bound", bound, nonnegative=True)
    rng = _rng(seed)
    return _fill(a, rng.uniform(-bound, bound, a.shape))


def _xavier_std(a, gain):
    gain = _check_real("gain", gain, nonnegative=True)
    fan_in, fan_out = _fans(a)
    if fan_in + fan_out == 0:
        return 0.0
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def xavier_uniform(a, gain=1.0, *, seed=None):
    """Glorot & Bengio (2010): U(−b, b), b = gain · √(6 / (fan_in + fan_out)),
    so Var(w) = gain² · 2 / (fan_in + fan_out). Keras' default ``glorot_uniform``."""
    _check_array(a)
    std = _xavier_std(a, gain)
    rng = _rng(seed)
    bound = math.sqrt(3.0) * std
    return _fill(a, rng.uniform(-bound, bound, a.shape))


def xavier_normal(a, gain=1.0, *, seed=None):
    """Glorot & Bengio (2010): N(0, std²), std = gain · √(2 / (fan_in + fan_out))."""
    _check_array(a)
    std = _xavier_std(a, gain)
    rng = _rng(seed)
    return _fill(a, std * rng.standard_normal(a.shape))


def _he_std(a, mode, nonlinearity, negative_slope):
    if mode not in _MODES:
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    negative_slope = _check_real("negative_slope", negative_slope)
    if negative_slope != 0.0 and nonlinearity != "leaky_relu":
        # torch silently ignores the slope here; a slope with relu is almost surely a typo.
        raise ValueError(f"negative_slope={negative_slope} only applies to "
                         f"nonlinearity='leaky_relu', got {nonlinearity!r}")
    gain = calculate_gain(nonlinearity, negative_slope)
    fan_in, fan_out = _fans(a)
    fan = fan_in if mode == "fan_in" else fan_out
    # fan_in keeps the forward activations' variance (z = x @ W sums over n_in);
    # fan_out keeps the backward gradients' variance (dx = dz @ W.T sums over n_out).
    return gain / math.sqrt(fan) if fan > 0 else 0.0


def he_uniform(a, mode="fan_in", nonlinearity="relu", negative_slope=0.0, *, seed=None):
    """He et al. (2015): U(−b, b), b = √3 · gain / √fan, so Var(w) = gain² / fan
    (relu: 2 / fan). ``fan`` is ``fan_in`` or ``fan_out`` per ``mode``; the gain comes from
    :func:`calculate_gain` (``negative_slope`` is leaky_relu's slope)."""
    _check_array(a)
    std = _he_std(a, mode, nonlinearity, negative_slope)
    rng = _rng(seed)
    bound = math.sqrt(3.0) * std
    return _fill(a, rng.uniform(-bound, bound, a.shape))


def he_normal(a, mode="fan_in", nonlinearity="relu", negative_slope=0.0, *, seed=None):
    """He et al. (2015): N(0, std²), std = gain / √fan, so Var(w) = gain² / fan
    (relu: 2 / fan, the lesson's ``randn(n_in, n_out) * √(2 / n_in)``)."""
    _check_array(a)
    std = _he_std(a, mode, nonlinearity, negative_slope)
    rng = _rng(seed)
    return _fill(a, std * rng.standard_normal(a.shape))


def orthogonal(a, gain=1.0, *, seed=None):
    """Saxe et al. (2014): a (semi-)orthogonal matrix times ``gain``.

    ``a`` is viewed as ``(prod(shape[:-1]), shape[-1])`` (Keras). A tall or square matrix
    gets orthonormal columns (WᵀW = gain² I), a wide one orthonormal rows (WWᵀ = gain² I).
    Q comes from the QR decomposition of a standard normal matrix with the signs of R's
    diagonal folded into Q, which makes Q uniformly (Haar) distributed.
    """
    _check_array(a)
    gain = _check_real("gain", gain, nonnegative=True)
    if a.ndim < 2:
        raise ValueError(f"a must have at least 2 dimensions for orthogonal "
                         f"initialization, got shape {a.shape}")
    rng = _rng(seed)
    if a.size == 0:
        return a
    rows, cols = math.prod(a.shape[:-1]), a.shape[-1]
    g = rng.standard_normal((rows, cols))
    wide = rows < cols
    q, r = np.linalg.qr(g.T if wide else g)
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0  # a zero pivot (probability 0) must not zero out a column
    q *= d
    q = q.T if wide else q
    return _fill(a, gain * q.reshape(a.shape))


# ---------------------------------------------------------------------------- registry

# Short names pick the variant each paper (and Keras / torch users) treat as the default:
# Glorot & Bengio's "normalized initialization" is uniform (Keras: glorot_uniform), and
# He et al. proposed the normal form (the lesson's randn * sqrt(2 / n)).
_REGISTRY = {
    "zeros": zeros,
    "normal": normal,
    "uniform": uniform,
    "orthogonal": orthogonal,
    "xavier": xavier_uniform,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
    "he": he_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "kaiming_uniform": he_uniform,
}


def get(name):
    """The initializer called ``name`` (case-insensitive); a callable is returned as is.

    ``"he"`` is :func:`he_normal`, ``"xavier"`` is :func:`xavier_uniform`; ``"zeros"``,
    ``"normal"``, ``"uniform"``, ``"orthogonal"`` and the full names (``he_uniform``,
    ``xavier_normal``, ...; Keras ``glorot_*`` and torch ``kaiming_*`` too) map to the
    function of that name. Every initializer can be called as ``f(a, seed=rng)``.
    """
    if callable(name):
        return name
    if not isinstance(name, str):
        raise TypeError(f"name must be a str or a callable, got {type(name).__name__}")
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"name {name!r} is not a known initializer; expected one of "
                         f"{', '.join(sorted(_REGISTRY))}") from None
