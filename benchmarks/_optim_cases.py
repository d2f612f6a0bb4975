"""What the optimizer benchmarks run: the cases, the implementations, the bytes each must move.

Design: pytest-benchmark files (test_bench_*.py) and the standalone scripts
(report_*.py) build their steppers here, so a pytest number and a report number are the
same computation on the same data. A ``Stepper`` owns one implementation's arrays and a
zero-argument ``step`` callable -- a bound method or ``functools.partial``, never a
lambda, so the timed call carries no extra Python frame. ``warm_up_and_check`` takes the
first step outside any timing (it allocates the optimizer state and faults the pages in)
and compares it with one step of the NumPy reference, so a benchmark that runs once
(``--benchmark-disable``) still checks that every implementation computed the same update.

Bytes per parameter count each array the rule must read plus each it must write, at
4 bytes a float32 element: Adam reads p, g, m, v and writes p, m, v = 7 x 4 = 28 B.
"""
import functools
import os
from dataclasses import dataclass, field

import numpy as np

import fastgd
from fastgd.optim import _optim
from fastgd.reference import OPTIMIZERS as REFERENCE

try:
    import torch
except ImportError:   # torch is an optional peer: its impls skip
    torch = None

SIZES = (10**3, 10**5, 10**6, 10**7)
# Sizes at or above this are skipped when benchmarks only run once (CI's
# --benchmark-disable) unless FASTGD_BENCH_LARGE=1: they cost seconds and add no coverage.
LARGE = 10**7
IMPLS = ("fastgd", "reference", "torch-foreach", "torch-fused", "probe")
ITEMSIZE = 4   # float32 throughout


@dataclass(frozen=True)
class Case:
    cls: str                      # class name in fastgd.OPTIMIZERS / torch.optim
    kwargs: dict = field(default_factory=dict)
    arrays_read: int = 2          # p and g, plus state read
    arrays_written: int = 1       # p, plus state written
    torch: bool = True            # torch.optim has the same rule under the same name

    @property
    def bytes_per_param(self):
        return (self.arrays_read + self.arrays_written) * ITEMSIZE


# Hyper-parameters are explicit and equal on both sides (they are also both libraries'
# defaults, except SGD's momentum and the learning rates).
CASES = {
    "SGD": Case("SGD", dict(lr=1e-3), 2, 1),                              # 12 B
    "SGD-momentum": Case("SGD", dict(lr=1e-3, momentum=0.9), 3, 2),       # 20 B
    "Momentum": Case("Momentum", dict(lr=1e-2, beta=0.9), 3, 2, torch=False),
    "Adam": Case("Adam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8), 4, 3),
    "AdamW": Case("AdamW", dict(lr=1e-3, weight_decay=1e-2), 4, 3),
    "RMSprop": Case("RMSprop", dict(lr=1e-2, alpha=0.99, eps=1e-8), 3, 2),
    "Adagrad": Case("Adagrad", dict(lr=1e-2, eps=1e-10), 3, 2),
    "Adadelta": Case("Adadelta", dict(lr=1.0, rho=0.9, eps=1e-6), 4, 3),
    "Adamax": Case("Adamax", dict(lr=2e-3), 4, 3),
    "NAdam": Case("NAdam", dict(lr=2e-3, momentum_decay=4e-3), 4, 3),
    "RAdam": Case("RAdam", dict(lr=1e-3), 4, 3),
}
PROBE_BYTES = 28   # the probe moves Adam's traffic: read 4 arrays, write 3


def bench_threads():
    """The thread count every implementation uses in a run (FASTGD_BENCH_THREADS, default 1)."""
    n = int(os.environ.get("FASTGD_BENCH_THREADS", "1"))
    if n < 1:
        raise ValueError(f"FASTGD_BENCH_THREADS must be >= 1, got {n}")
    return n


def large_enabled():
    return os.environ.get("FASTGD_BENCH_LARGE", "") not in ("", "0")


def set_torch_threads(n):
    """Set torch's intra-op pool; return the previous count (None without torch)."""
    if torch is None:
        return None
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    return old


@functools.lru_cache(maxsize=None)
def torch_supports(cls, mode):
    """Whether torch.optim.<cls> accepts ``<mode>=True`` on CPU (fused: SGD, Adam, AdamW,
    Adagrad in torch 2.x)."""
    if torch is None:
        return False
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.ones(4)
    try:
        getattr(torch.optim, cls)([p], lr=1e-3, **{mode: True}).step()
    except (TypeError, RuntimeError, ValueError):
        return False
    return True


def unavailable(impl, case_name):
    """Why ``impl`` cannot run ``case_name`` here (a skip reason), or None."""
    if not impl.startswith("torch-"):
        return None
    if torch is None:
        return "torch is not installed"
    case = CASES[case_name]
    if not case.torch:
        return f"torch.optim has no {case_name}"
    mode = impl.split("-", 1)[1]
    if not torch_supports(case.cls, mode):
        return f"torch.optim.{case.cls} has no CPU {mode}=True"
    return None


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32))


class Stepper:
    """One implementation of one case at one size: ``step()`` is what gets timed."""

    def __init__(self, impl, case_name, n, n_threads, data=None):
        self.impl, self.case_name, self.n, self.n_threads = impl, case_name, n, n_threads
        self.case = CASES[case_name]
        p0, g = data if data is not None else make_data(n)
        self.p0, self.g = p0, g
        self.p = p0.copy()
        kwargs = self.case.kwargs
        if impl == "fastgd":
            self.opt = fastgd.optim.OPTIMIZERS[self.case.cls]([self.p], n_threads=n_threads,
                                                             **kwargs)
            self.step = functools.partial(self.opt.step, [g])
        elif impl == "reference":
            self.opt = REFERENCE[self.case.cls]([self.p], **kwargs)
            self.step = functools.partial(self.opt.step, [g])
        elif impl == "probe":
            self.m = np.zeros(n, np.float32)
            self.v = np.zeros(n, np.float32)
            self.step = functools.partial(_optim.bandwidth_probe, self.p, g, self.m, self.v,
                                          n_threads)
        elif impl in ("torch-foreach", "torch-fused"):
            reason = unavailable(impl, case_name)
            if reason:
                raise RuntimeError(reason)
            mode = impl.split("-", 1)[1]
            # torch.from_numpy shares memory: self.p is the live parameter.
            self.tp = torch.nn.Parameter(torch.from_numpy(self.p))
            self.tp.grad = torch.from_numpy(g)
            self.opt = getattr(torch.optim, self.case.cls)([self.tp], **kwargs, **{mode: True})
            self.step = self.opt.step
        else:
            raise ValueError(f"unknown impl {impl!r}")

    @property
    def bytes_per_param(self):
        return PROBE_BYTES if self.impl == "probe" else self.case.bytes_per_param

    def expected_first_step(self):
        """Parameters after one step from p0, by the NumPy reference (or the probe's rule)."""
        if self.impl == "probe":
            return self.g.copy()      # (p, m, v) <- (m + g, v - g, p) from m = v = 0
        p = self.p0.copy()
        REFERENCE[self.case.cls]([p], **self.case.kwargs).step([self.g])
        return p

    def warm_up_and_check(self):
        """Take the first step (state allocation, page faults: not part of any timing) and
        check it against the reference; return a copy of the parameters after it."""
        self.step()
        p1 = self.p.copy()
        expected = self.expected_first_step()
        where = f"{self.impl} {self.case_name} n={self.n}"
        np.testing.assert_allclose(p1, expected, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{where}: first step differs from the reference")
        if self.impl == "probe":
            np.testing.assert_array_equal(self.m, -self.g, err_msg=f"{where}: probe m != -g")
            np.testing.assert_array_equal(self.v, self.p0, err_msg=f"{where}: probe v != p0")
        return p1

    def check_after(self, p1):
        """After more steps: still finite, and the parameters kept moving."""
        where = f"{self.impl} {self.case_name} n={self.n}"
        assert np.isfinite(self.p).all(), f"{where}: non-finite parameters"
        if self.impl != "probe":   # the probe's values cycle with period 3 by design
            assert not np.array_equal(self.p, p1), f"{where}: parameters did not change"
        for name in ("m", "v"):
            if hasattr(self, name):
                assert np.isfinite(getattr(self, name)).all(), f"{where}: non-finite {name}"
        if self.impl in ("fastgd", "reference"):
            for entry in self.opt.state.values():
                for key, value in entry.items():
                    if isinstance(value, np.ndarray):
                        assert np.isfinite(value).all(), f"{where}: non-finite state {key}"


def throughput(n, bytes_per_param, seconds):
    """(params per second, GB/s) of one step of ``n`` params taking ``seconds``."""
    return n / seconds, n * bytes_per_param / seconds / 1e9
