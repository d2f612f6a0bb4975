"""Exponentially weighted averages: over a whole series in C, or streaming.

Specification: fastgd/reference/ewa.py."""
import numbers

import numpy as np

from fastgd import _checks

from fastgd import _ewa

_STARTS = ("zeros", "first")


def _check_beta(beta):
    return _checks.real(beta, "beta", low=0.0, high=1.0, high_open=True)


def ewa(x, beta, bias_correction=True, out=None, start="zeros"):
    r"""Exponentially weighted average of a 1-D series (any stride), computed in C.

    :math:`v_t = \beta v_{t-1} + (1-\beta) x_t` from :math:`v_0 = 0`, divided by
    :math:`1-\beta^t` when ``bias_correction``; ``start="first"`` seeds :math:`v_1 = x_1`.
    ``x`` of an integer dtype is averaged in float64; float32 stays float32. ``out``, if
    given, must be a writable C-contiguous array of x's float dtype and length: ``x``
    itself (in place) or memory of its own, never a partial overlap of ``x``.
    """
    beta = _check_beta(beta)
    bias_correction = _checks.flag(bias_correction, "bias_correction")
    if not isinstance(start, str) or start not in _STARTS:
        raise ValueError(f"start: expected one of {_STARTS}, got {start!r}")
    if start == "first" and bias_correction:
        raise ValueError("bias_correction: a copy-first average (start='first') has no "
                         "zero-start bias to correct; pass bias_correction=False")
    if isinstance(x, np.ma.MaskedArray):   # its mask would be ignored: refuse it
        raise TypeError("x: expected a numpy.ndarray or a sequence of numbers, got "
                        "MaskedArray (fill it first: x.filled(...) or x.compressed())")
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"x: expected a real-valued series, got {type(x).__name__} "
                            "that is not one") from None
    if x.ndim != 1:
        raise ValueError(f"x: expected a 1-D series, got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
            raise TypeError(f"x: expected a real-valued series, got dtype {x.dtype}")
        x = x.astype(np.float64)
    if x.strides[0] % x.itemsize:
        x = np.ascontiguousarray(x)   # only read: a copy is safe
    if out is None:
        out = np.empty(x.shape[0], dtype=x.dtype)
    elif not isinstance(out, np.ndarray):
        raise TypeError(f"out: expected a numpy.ndarray, got {type(out).__name__}")
    elif out.dtype != x.dtype or out.shape != x.shape:
        raise ValueError(f"out: expected shape {x.shape} and dtype {x.dtype}, got "
                         f"{out.shape} {out.dtype}")
    elif not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out: must be writable and C-contiguous")
    elif isinstance(out, np.ma.MaskedArray):
        raise TypeError("out: expected a numpy.ndarray, got MaskedArray")
    elif out.size and np.may_share_memory(x, out) and np.shares_memory(x, out):
        if not (out.ctypes.data == x.ctypes.data and x.strides == out.strides):
            # the kernel's pointers are restrict: a shifted overlap would be read after it
            # was written, in an order that depends on the compiler
            raise ValueError("out: expected memory of its own or x itself (in place), got "
                             "an array that partly overlaps x")
        x = x.copy()     # in place: x is read from a copy, so every x[t] is the original
    return _ewa.ewa_into(x, beta, bias_correction, start == "first", out)


class EWA:
    """Streaming exponentially weighted average of scalars or arrays.

    >>> avg = EWA(0.9)
    >>> for x in series: avg.update(x)
    >>> avg.value          # bias-corrected unless bias_correction=False
    """

    def __init__(self, beta, bias_correction=True):
        self.beta = _check_beta(beta)
        self.bias_correction = _checks.flag(bias_correction, "bias_correction")
        self.count = 0
        self._v = None
        self._beta_power = 1.0

    def update(self, x):
        """Fold in one observation; returns the current value."""
        x = np.asarray(x) if not isinstance(x, numbers.Real) else float(x)
        if self._v is None:
            self._v = x * 0.0
        elif np.shape(x) != np.shape(self._v):
            raise ValueError(f"x: expected shape {np.shape(self._v)}, got {np.shape(x)}")
        self._v = self.beta * self._v + (1.0 - self.beta) * x
        self._beta_power *= self.beta
        self.count += 1
        return self.value

    @property
    def value(self):
        if self._v is None:
            raise ValueError("EWA.value: no observation yet")
        if self.bias_correction:
            return self._v / (1.0 - self._beta_power)
        return self._v

    def reset(self):
        self.count, self._v, self._beta_power = 0, None, 1.0
