"""Exponentially weighted averages, the idea under momentum, RMSprop and Adam."""
import numpy as np


def ewa(x, beta, bias_correction=True, out=None, start="zeros"):
    r"""Exponentially weighted average of a 1-D series.

    :math:`v_t = \beta v_{t-1} + (1-\beta) x_t` from :math:`v_0 = 0` (``start="zeros"``) or
    :math:`v_1 = x_1` (``start="first"``, the copy-first average); with
    ``bias_correction`` each value is divided by :math:`1-\beta^t`. :math:`\beta^t` is a
    running product in double, as in the C kernel. Averages roughly the last
    :math:`1/(1-\beta)` values.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):   # integers and bools average in float64
        x = x.astype(np.float64)
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    v = x.dtype.type(0)
    beta_power = 1.0
    for t in range(x.shape[0]):
        v = x[t] if (start == "first" and t == 0) else beta * v + (1.0 - beta) * x[t]
        beta_power *= beta
        out[t] = v / (1.0 - beta_power) if bias_correction else v
    return out
