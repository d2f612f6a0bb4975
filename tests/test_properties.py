"""Property tests (hypothesis): every optimizer kernel against the reference with edge
values, and random call sequences on optimizers that never corrupt state.

* Every registry case (tests/registry.py: each row's defaults and variants) is stepped
  by the fast class and the reference on hypothesis-drawn arrays mixing ±0, subnormals,
  huge values, NaN and ±inf, both dtypes, sizes around the vector widths and several
  threads: parameters and every state entry agree bit for bit on x86-64 (1e-12 / 1e-5
  relative elsewhere).
* A state machine runs random sequences of steps, option toggles (amsgrad, momentum,
  centered, lr), ``load_state_dict(state_dict())``, loading into a fresh optimizer,
  ``add_param_group`` and ``zero_state`` on a fast optimizer and its reference twin; after
  every call both hold the same parameters and state, bit for bit.

The default profile keeps this short (few examples, no deadline: the host is shared);
``HYPOTHESIS_PROFILE=long`` runs many more.
"""
import os
import platform

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant,  # noqa: E402
                                 precondition, rule)

from fastgd.optim import OPTIMIZERS  # noqa: E402
from fastgd import reference  # noqa: E402
from registry import CASES, case_id  # noqa: E402
import snapshots  # noqa: E402

settings.register_profile("default", max_examples=4, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.register_profile("long", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

BITWISE = platform.machine().lower() in ("x86_64", "amd64")


def _edge_floats(dtype):
    width = 32 if dtype == np.float32 else 64
    info = np.finfo(dtype)
    specials = st.sampled_from([0.0, -0.0, float(info.smallest_subnormal), -float(info.tiny),
                                float(info.max), 1e30 if width == 64 else 1e19,
                                float("nan"), float("inf"), float("-inf")])
    return st.one_of(st.floats(-10, 10, width=width), specials,
                     st.floats(width=width, allow_nan=True, allow_infinity=True))


@st.composite
def _inputs(draw, dtype):
    n = draw(st.sampled_from([0, 1, 7, 8, 17, 33]))
    steps = draw(st.integers(1, 4))
    values = st.lists(_edge_floats(dtype), min_size=n, max_size=n)
    p = np.array(draw(values), dtype=dtype)
    grads = [np.array(draw(values), dtype=dtype) for _ in range(steps)]
    return p, grads


def _equal(a, b, msg):
    if BITWISE:
        np.testing.assert_array_equal(a, b, err_msg=msg)
    else:
        rtol = 1e-5 if a.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(a, b, rtol=rtol, equal_nan=True, err_msg=msg)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_kernel_equals_reference_on_edge_values(case):
    @given(data=st.sampled_from([np.float32, np.float64]).flatmap(
        lambda dt: st.tuples(st.just(dt), _inputs(dt))), n_threads=st.sampled_from([1, 3]))
    def check(data, n_threads):
        dtype, (p0, grads) = data
        fast_p, ref_p = p0.copy(), p0.copy()
        fast = case.build([fast_p], n_threads=n_threads)
        ref = case.build([ref_p], impl="reference")
        with np.errstate(all="ignore"):
            for g in grads:
                fast.step([g])
                ref.step([g.copy()])
        msg = f"{case_id(case)} {np.dtype(dtype).name} n={p0.size}"
        _equal(fast_p, ref_p, msg)
        for i, entry in ref.state.items():
            for k, v in entry.items():
                if isinstance(v, np.ndarray):
                    _equal(fast.state[i][k], v, f"{msg} state {k}")
                else:
                    assert fast.state[i][k] == v, f"{msg} state {k}"
    check()


# ----------------------------------------------------------------------------- sequences
# The option each optimizer's sequences toggle (values alternate), all valid alone.
TOGGLES = {
    "SGD": [("momentum", (0.9, 0.0)), ("lr", (0.05, 0.01))],
    "Momentum": [("lr", (0.05, 0.02))],
    "Adam": [("amsgrad", (True, False)), ("lr", (0.01, 0.003))],
    "AdamW": [("amsgrad", (True, False)), ("weight_decay", (0.01, 0.1))],
    "RMSprop": [("centered", (True, False)), ("momentum", (0.5, 0.0))],
    "Adagrad": [("lr", (0.05, 0.01))],
    "Adadelta": [("rho", (0.9, 0.5))],
    "Adamax": [("lr", (0.01, 0.002))],
    "NAdam": [("lr", (0.01, 0.002))],
    "RAdam": [("lr", (0.01, 0.002))],
}


class OptimizerSequences(RuleBasedStateMachine):
    """A fast optimizer and its reference twin driven by the same random calls."""

    @initialize(name=st.sampled_from(sorted(OPTIMIZERS)),
                dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
    def build(self, name, dtype, seed):
        self.name, self.dtype = name, dtype
        self.rng = np.random.default_rng(seed)
        kwargs = self.kwargs = {k: v[0] for k, v in TOGGLES[name]}
        p0 = [self.rng.standard_normal(s).astype(dtype) for s in [(3, 2), (5,)]]
        self.fast_p = [p.copy() for p in p0]
        self.ref_p = [p.copy() for p in p0]
        self.fast = OPTIMIZERS[name](self.fast_p, **kwargs)
        self.ref = reference.OPTIMIZERS[name](self.ref_p, **kwargs)

    def _grads(self):
        return [self.rng.standard_normal(p.shape).astype(self.dtype) for p in self.fast_p]

    @rule()
    def step(self):
        g = self._grads()
        self.fast.step(g)
        self.ref.step([a.copy() for a in g])

    @rule(which=st.integers(0, 1), group=st.integers(0, 3))
    def toggle(self, which, group):
        options = TOGGLES[self.name]
        option, values = options[which % len(options)]
        gi = group % len(self.fast.param_groups)
        now = self.fast.param_groups[gi][option]
        new = values[1] if now == values[0] else values[0]
        self.fast.param_groups[gi][option] = new
        self.ref.param_groups[gi][option] = new

    @rule()
    def round_trip(self):
        self.fast.load_state_dict(self.fast.state_dict())

    @rule()
    def load_into_fresh(self):
        sd = self.fast.state_dict()
        params = [p.copy() for p in self.fast_p]
        groups, i = [], 0
        for g in self.fast.param_groups:
            n = len(g["params"])
            groups.append({"params": params[i:i + n]})
            i += n
        fresh = OPTIMIZERS[self.name](groups, **self.kwargs)   # the same defaults
        fresh.load_state_dict(sd)
        self.fast, self.fast_p = fresh, params

    @precondition(lambda self: len(self.fast_p) < 5)
    @rule(size=st.integers(0, 4))
    def add_group(self, size):
        p = self.rng.standard_normal(size).astype(self.dtype)
        self.fast_p.append(p.copy())
        self.ref_p.append(p.copy())
        self.fast.add_param_group({"params": [self.fast_p[-1]]})
        self.ref.add_param_group({"params": [self.ref_p[-1]]})

    @rule()
    def zero_state(self):
        self.fast.zero_state()
        self.ref.zero_state()

    @invariant()
    def same_parameters_and_state(self):
        if not hasattr(self, "fast"):
            return
        for i, (a, b) in enumerate(zip(self.fast_p, self.ref_p)):
            _equal(a, b, f"{self.name} param {i}")
        ref_state = {i: e for i, e in self.ref.state.items()}
        fast_state = self.fast.state
        # NAdam's reference keeps mu_product per parameter, the fast one per group: equal
        snapshots.assert_same_state(ref_state, fast_state, self.name)
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.fast.param_groups]
        assert len(groups) == len(self.ref.param_groups)


OptimizerSequences.TestCase.settings = settings(
    max_examples=int(os.environ.get("FASTGD_SEQUENCES", "15")), stateful_step_count=12,
    deadline=None, derandomize=os.environ.get("HYPOTHESIS_PROFILE") != "long",
    suppress_health_check=[HealthCheck.too_slow])
TestOptimizerSequences = OptimizerSequences.TestCase
