"""The one registry of optimizer cases: (fast class, reference class, options), made from
fastgd.optim.table, plus the input makers every parity, contract and peer test shares.

Each row gives its default options and one case per entry of its ``variants`` (every
option set to a non-default value at least once), so a mapping of a user's option onto
the C rule that is wrong or missing fails a parity test without torch or scikit-learn.
Failure messages name the case, dtype, size, memory order and seed (``case_id``).
"""
import math

import numpy as np

import fastgd
from fastgd import reference
from fastgd.optim import table

# sizes the kernels are tested at: empty, a single element, odd and vector-width sizes,
# and one past a power of two (a remainder after every vector loop)
SIZES = (0, 1, 7, 8, 17, 1023, 2 ** 16 + 3)

# Options under which every optimizer keeps state (SGD without momentum keeps none).
STATEFUL = {
    "SGD": dict(lr=0.05, momentum=0.9),
    "Momentum": dict(lr=0.05),
    "Adam": dict(lr=0.01, amsgrad=True),
    "AdamW": dict(lr=0.01),
    "RMSprop": dict(lr=0.01, centered=True, momentum=0.5),
    "Adagrad": dict(lr=0.05, initial_accumulator_value=0.1),
    "Adadelta": dict(),
    "Adamax": dict(),
    "NAdam": dict(),
    "RAdam": dict(),
}


class Case:
    """One optimizer configuration: a row of the table and the options it is built with."""

    def __init__(self, row, kwargs):
        self.row, self.kwargs = row, dict(kwargs)

    @property
    def name(self):
        return self.row.cls_name

    @property
    def fast(self):
        return fastgd.optim.OPTIMIZERS[self.name]

    @property
    def reference(self):
        return reference.OPTIMIZERS[self.name]

    def build(self, params, impl="fast", **extra):
        cls = self.fast if impl == "fast" else self.reference
        return cls(params, **self.kwargs, **extra)

    def __repr__(self):
        return self.name + "".join(f"-{k}={v}" for k, v in self.kwargs.items())


def _lr(row):
    # a step large enough that several steps move the parameters visibly
    return {"lr": 0.05} if row.defaults["lr"] < 0.05 else {}


CASES = [Case(row, {}) for row in table.ROWS] + [
    Case(row, {**_lr(row), **variant}) for row in table.ROWS for variant in row.variants]
BY_NAME = {row.cls_name: Case(row, {}) for row in table.ROWS}


def case_id(case):
    return repr(case)


def normal(rng, shape, dtype):
    """N(0, 1) values."""
    return rng.standard_normal(shape).astype(dtype)


def edge_values(rng, shape, dtype):
    """N(0, 1) with every edge value mixed in: ±0, the smallest subnormal and normal,
    ±1e30 (±inf in float32 after an update of squares), NaN and ±inf."""
    a = rng.standard_normal(shape).astype(dtype)
    info = np.finfo(dtype)
    edges = np.array([0.0, -0.0, info.smallest_subnormal, -info.tiny, 1e30, -1e30,
                      np.nan, np.inf, -np.inf], dtype=np.float64)
    flat = a.reshape(-1)
    n = min(flat.size, edges.size)
    if n:
        with np.errstate(over="ignore"):
            flat[rng.choice(flat.size, n, replace=False)] = edges[:n].astype(dtype)
    return a


def near_subnormal(rng, shape, dtype):
    """Values at the subnormal boundary, random signs: even positions (in C order) within
    ~1.5 decades of the smallest normal, odd positions around its square root. A position
    keeps its scale from step to step, so both the linear state (moments, momentum
    buffers) and the squared state (second moments, sums of squares) of every rule sit at
    the subnormal boundary, where ``flush_subnormal_state`` acts."""
    lo = math.log10(np.finfo(dtype).tiny)
    even = (np.arange(math.prod(shape)) % 2 == 0).reshape(shape)
    exponent = np.where(even, rng.uniform(lo - 1.5, lo + 0.5, shape),
                        rng.uniform(lo / 2.0 - 1.0, lo / 2.0 + 0.5, shape))
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return (sign * 10.0 ** exponent).astype(dtype)


INPUTS = {"normal": normal, "edge": edge_values, "tiny": near_subnormal}
