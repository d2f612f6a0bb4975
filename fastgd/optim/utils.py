"""Helpers around optimizers: one contiguous parameter buffer, and gradient clipping."""
import math
import numbers

import numpy as np

from fastgd import _checks

from fastgd._runtime.aligned import aligned_full
from fastgd.optim.base import _FLOATS


def flat_parameters(shapes, dtype=np.float32):
    """Allocate parameters as views into one contiguous buffer.

    Returns ``(flat, views)``: ``flat`` is the 1-D buffer, ``views[i]`` has ``shapes[i]``.
    Optimizers detect the adjacency and update the whole buffer with one fused loop
    (and so does a gradient list built the same way)."""
    dtype = np.dtype(dtype)
    if dtype not in _FLOATS:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
    shapes = [(s,) if isinstance(s, numbers.Integral) else tuple(s) for s in shapes]
    for i, shape in enumerate(shapes):
        if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0
               for d in shape):
            raise ValueError(f"shapes[{i}]: expected non-negative integer sizes, got {shape}")
    sizes = [math.prod(s) for s in shapes]
    flat = aligned_full(sum(sizes), 0, dtype)    # 64-byte aligned: see fastgd._runtime.aligned
    views, off = [], 0
    for shape, size in zip(shapes, sizes):
        views.append(flat[off:off + size].reshape(shape))
        off += size
    return flat, views


def _check_grads(grads):
    if isinstance(grads, np.ndarray):
        grads = [grads]
    grads = list(grads)
    for i, g in enumerate(grads):
        if (not isinstance(g, np.ndarray) or isinstance(g, np.ma.MaskedArray)
                or g.dtype not in _FLOATS):   # a mask would be ignored: refused
            raise TypeError(f"grads[{i}]: expected a float32/float64 numpy.ndarray, got "
                            f"{type(g).__name__}")
        if not g.flags.writeable:
            raise ValueError(f"grads[{i}]: is read-only; clipping scales it in place")
    return grads


def clip_grad_norm_(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale ``grads`` in place so their joint norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: the total norm is the norm of the per-array
    norms; the scale is ``max_norm / (total + 1e-6)`` clamped to 1. The norm is summed in
    float64 whatever the gradients' dtype. Returns the total norm before clipping."""
    grads = _check_grads(grads)
    max_norm = _checks.real(max_norm, "max_norm", low=0.0, finite=False)
    norm_type = _checks.real(norm_type, "norm_type", low=0.0, low_open=True, finite=False)
    error_if_nonfinite = _checks.flag(error_if_nonfinite, "error_if_nonfinite")
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        norms = [float(np.max(np.abs(g))) if g.size else 0.0 for g in grads]
        total = max(norms)
    else:
        norms = [float(np.linalg.norm(g.ravel().astype(np.float64), ord=norm_type))
                 for g in grads]
        total = float(np.linalg.norm(np.array(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise ValueError(f"grads: the total {norm_type}-norm is {total}, not finite")
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(grads, clip_value):
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    grads = _check_grads(grads)
    clip_value = _checks.real(clip_value, "clip_value", low=0.0, finite=False)
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)
