r"""Weight averaging: the lesson's exponentially weighted average, applied to the weights.

After every update, :math:`\bar w \leftarrow a\,\bar w + b\,w` with, for the update
number :math:`k = 1, 2, \dots` of the average:

* ``"ema"`` (from zero, the lesson's form): :math:`a = \beta, b = 1-\beta`, read out
  bias-corrected, :math:`\bar w / (1-\beta^k)`;
* ``"ema_copy"`` (torch's ``AveragedModel`` and Keras' EMA: the first value is a copy):
  :math:`a = 0, b = 1` at :math:`k = 1`, then :math:`\beta, 1-\beta`, read out as is;
* ``"polyak"`` (scikit-learn SGD's ``average``): :math:`a = 1 - 1/k, b = 1/k`, the mean
  of the weights after each of the :math:`k` updates.

The two differ early: with :math:`\beta = 0.999` an EMA from zero holds 0.1% of the
weights after one update, so unread-out it is nearly zero for ~1000 updates; the
copy-first start instead over-weights the first weights for as long.
"""
MODES = {"ema": 1, "ema_copy": 2, "polyak": 3}


def average_coefficients(mode, beta, done):
    """(a, b) of the average's update number ``done + 1``."""
    if mode == "polyak":
        return 1.0 - 1.0 / (done + 1), 1.0 / (done + 1)
    if mode == "ema_copy" and done == 0:
        return 0.0, 1.0
    return beta, 1.0 - beta


def average_update(avg, params, a, b):
    """``avg = a*avg + b*params`` in place, per array."""
    for m, p in zip(avg, params):
        m *= a
        m += b * p


def average_readout(avg, mode, beta, count):
    """The averaged weights (copies): bias-corrected for an EMA from zero."""
    if mode == "ema" and count > 0:
        return [m / (1.0 - beta ** count) for m in avg]
    return [m.copy() for m in avg]
