"""Faults: nothing half-changed, nothing silently wrong (issue 11).

* ``load_state_dict`` is all or nothing and strict: a hostile or mistaken state_dict
  (negative, fractional or string step counts, non-finite or negative moments, lists,
  string flags, wrong dtypes, another optimizer class's state) raises naming what is
  wrong, and every array and state entry compares equal to a copy taken before.
* Counts that cannot work (``set_num_threads(2**40)``, ``n_threads=2**40``) fail at the
  call that gives them, naming the argument.
* A parameter made read-only (or resized) after the optimizer was built is refused at the
  next step before anything is written.
* Partial overlaps: a gradient sharing memory with any parameter or the optimizer's state
  is refused; ``ewa``'s ``out`` may be ``x`` itself (equal to the reference) but not a
  shifted view of it.
* Stale state: switching off an option that owns state (amsgrad, momentum, centered)
  keeps ``load_state_dict(state_dict())`` and fit's divergence restore working, and
  matches the reference when the option is switched back on.
* One optimizer used from two Python threads at once: the second call is refused
  (RuntimeError) and changes nothing; no update is lost.
"""
import copy
import threading

import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.optim import OPTIMIZERS
from fastgd.optim.table import ROWS
import snapshots
from registry import STATEFUL

NAMES = sorted(OPTIMIZERS)
SHAPES = [(3, 4), (5,), (2, 2)]


def _grads(rng, params):
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


def _two_groups(name, dtype=np.float64, steps=3, seed=0, cls=None):
    """``name`` stepped ``steps`` times over two groups (params 0-1 and 2)."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    cls = cls or OPTIMIZERS[name]
    opt = cls([{"params": params[:2]}, {"params": params[2:]}], **STATEFUL[name])
    for _ in range(steps):
        opt.step(_grads(rng, params))
    return opt, params, rng


# ----------------------------------------------------------------------------- load_state_dict
def _slot(name, which=0):
    row = next(r for r in ROWS if r.cls_name == name)
    return row.state[which].name


def _set(index, key, value):
    def mutate(sd, name):
        sd["state"][index][key] = value(sd["state"][index].get(key), name) \
            if callable(value) else value
    return mutate


def _set_array(index, fn):
    def mutate(sd, name):
        key = _slot(name)
        sd["state"][index][key] = fn(sd["state"][index][key])
    return mutate


def _del(index, key):
    def mutate(sd, name):
        del sd["state"][index][_slot(name) if key is None else key]
    return mutate


def _group(gi, key, value):
    def mutate(sd, name):
        sd["param_groups"][gi][key] = value
    return mutate


def _nan(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


def _inf(a):
    a = a.copy()
    a.flat[-1] = -np.inf
    return a


# (id, mutation of a 2-group state_dict (group 1 = param 2 is the one spoilt), exception,
# what the message must name). Each is applied to every optimizer.
LOAD_CASES = [
    ("step-negative", _set(2, "step", -3), ValueError, r"state\[2\]\['step'\]"),
    ("step-zero", _set(2, "step", 0), ValueError, r"state\[2\]\['step'\]"),
    ("step-fractional", _set(2, "step", 3.5), TypeError, r"state\[2\]\['step'\]"),
    ("step-float-integral", _set(2, "step", 3.0), TypeError, r"state\[2\]\['step'\]"),
    ("step-string", _set(2, "step", "3"), TypeError, r"state\[2\]\['step'\]"),
    ("step-bool", _set(2, "step", True), TypeError, r"state\[2\]\['step'\]"),
    ("step-none", _set(2, "step", None), TypeError, r"state\[2\]\['step'\]"),
    ("step-missing", _del(2, "step"), ValueError, "step"),
    ("step-differs", _set(1, "step", 4), ValueError, "different steps"),
    ("moment-nan", _set_array(2, _nan), ValueError, r"state\[2\].*finite"),
    ("moment-inf", _set_array(2, _inf), ValueError, r"state\[2\].*finite"),
    ("moment-list", _set_array(2, lambda a: a.tolist()), TypeError, r"state\[2\]"),
    ("moment-float", _set_array(2, lambda a: 0.0), TypeError, r"state\[2\]"),
    ("moment-dtype", _set_array(2, lambda a: a.astype(np.float32)), TypeError, "dtype"),
    ("moment-int", _set_array(2, lambda a: a.astype(np.int64)), TypeError, "dtype"),
    ("moment-shape", _set_array(2, lambda a: a.reshape(-1)), ValueError, "shape"),
    ("moment-shape-size", _set_array(2, lambda a: np.zeros(a.size + 1)), ValueError, "shape"),
    ("moment-masked", _set_array(2, lambda a: np.ma.masked_array(a, mask=a > 0)),
     TypeError, "MaskedArray"),
    ("moment-missing", _del(2, None), ValueError, "lacks"),
    ("moment-missing-one-param", _del(1, None), ValueError, r"\[1\]"),
    ("entry-unknown-key", _set(2, "velocity_of_light", np.zeros((2, 2))), ValueError,
     "velocity_of_light"),
    ("entry-not-a-dict", lambda sd, n: sd["state"].__setitem__(2, [1, 2]), TypeError,
     r"state\[2\]"),
    ("entry-missing-in-group", lambda sd, n: sd["state"].pop(1), ValueError, "none for"),
    ("entry-stray", lambda sd, n: sd["state"].__setitem__(9, dict(sd["state"][0])),
     ValueError, "9"),
    ("entry-key-not-index", lambda sd, n: sd["state"].__setitem__("abc", {}), TypeError,
     "key"),
    ("entry-key-negative", lambda sd, n: sd["state"].__setitem__(-1, {}), ValueError, "key"),
    ("entry-key-twice", lambda sd, n: sd["state"].__setitem__("2", sd["state"][2]),
     ValueError, "twice"),
    ("group-lr-negative", _group(1, "lr", -1.0), ValueError, "lr"),
    ("group-lr-string", _group(1, "lr", "0.1"), TypeError, "lr"),
    ("group-lr-nan", _group(1, "lr", float("nan")), ValueError, "lr"),
    ("group-lr-bool", _group(1, "lr", True), TypeError, "lr"),
    ("group-option-missing", lambda sd, n: sd["param_groups"][1].pop("lr"), ValueError,
     "lacks"),
    ("group-foreign-option", lambda sd, n: sd["param_groups"][1].__setitem__(
        "amsgrad" if n not in ("Adam", "AdamW") else "momentum_decay", False),
     ValueError, "another optimizer"),
    ("group-params-twice", lambda sd, n: sd["param_groups"][1].__setitem__("params", [0]),
     ValueError, "twice"),
    ("group-params-size", lambda sd, n: sd["param_groups"][1].__setitem__("params", [2, 3]),
     ValueError, "size"),
    ("group-params-not-list", lambda sd, n: sd["param_groups"][1].__setitem__("params", 2),
     TypeError, "params"),
    ("group-not-a-dict", lambda sd, n: sd["param_groups"].__setitem__(1, [2]), TypeError,
     "param group 1"),
    ("groups-one", lambda sd, n: sd["param_groups"].pop(), ValueError, "param groups"),
    ("groups-not-list", lambda sd, n: sd.__setitem__("param_groups", {}), TypeError,
     "param_groups"),
    ("state-not-dict", lambda sd, n: sd.__setitem__("state", []), TypeError, "state"),
    ("no-state-key", lambda sd, n: sd.pop("state"), TypeError, "state_dict"),
]

FLAG_OPTIONS = {"SGD": "nesterov", "Momentum": "bias_correction", "Adam": "amsgrad",
                "AdamW": "amsgrad", "RMSprop": "centered", "NAdam": "decoupled_weight_decay",
                "RAdam": "decoupled_weight_decay"}
NON_NEGATIVE = {"Adam": 1, "AdamW": 1, "RMSprop": 0, "Adagrad": 0, "Adadelta": 0,
                "Adamax": 1, "NAdam": 1, "RAdam": 1}


def _extra_load_cases(name):
    """Cases that only some optimizers have."""
    out = []
    if name in FLAG_OPTIONS:
        out.append((f"group-flag-string-{FLAG_OPTIONS[name]}",
                    _group(1, FLAG_OPTIONS[name], "no"), TypeError, FLAG_OPTIONS[name]))
    if name in NON_NEGATIVE:
        slot = NON_NEGATIVE[name]

        def negative(sd, n, slot=slot):
            key = _slot(n, slot)
            sd["state"][2][key] = -sd["state"][2][key] - 1.0
        out.append(("second-moment-negative", negative, ValueError, ">= 0"))
    if name == "NAdam":
        for bad, exc in ((float("nan"), ValueError), (2.0, ValueError), (-0.5, ValueError),
                         ("0.5", TypeError), (None, TypeError)):
            out.append((f"mu_product-{bad}", _set(2, "mu_product", bad), exc, "mu_product"))
        out.append(("mu_product-missing", _del(2, "mu_product"), ValueError, "mu_product"))
        out.append(("mu_product-differs", _set(1, "mu_product", 0.5), ValueError, "mu_product"))
    else:
        out.append(("mu_product-foreign", _set(2, "mu_product", 0.5), ValueError,
                    "another optimizer"))
    if name == "AdamW":
        out.append(("adamw-not-decoupled", _group(1, "decoupled_weight_decay", False),
                    ValueError, "decoupled_weight_decay"))
    return out


def _applies(name, case_id):
    # SGD's momentum buffer is an optional slot: momentum switched on after some steps
    # has none until the next step, so a state_dict without it is valid (made at zero)
    return not (name == "SGD" and case_id == "moment-missing")


ALL_LOAD_CASES = [(name, *case) for name in NAMES
                  for case in LOAD_CASES + _extra_load_cases(name) if _applies(name, case[0])]


@pytest.mark.parametrize("case", ALL_LOAD_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_bad_state_dict_is_refused_and_changes_nothing(case):
    name, _, mutate, exc, match = case
    opt, params, rng = _two_groups(name)
    sd = opt.state_dict()
    mutate(sd, name)
    before = snapshots.take(opt)
    with pytest.raises(exc, match=match):
        opt.load_state_dict(sd)
    snapshots.assert_unchanged(before, opt, what=case[1])
    opt.step(_grads(rng, params))      # and it still works


def test_not_a_state_dict():
    opt, params, _ = _two_groups("Adam")
    before = snapshots.take(opt)
    for bad in (None, [], "state", 3, {"state": {}}):
        with pytest.raises(TypeError, match="state_dict"):
            opt.load_state_dict(bad)
        snapshots.assert_unchanged(before, opt)


PAIRS = [(a, b) for a in NAMES for b in NAMES if a != b and (a, b) != ("AdamW", "Adam")]


@pytest.mark.parametrize("pair", PAIRS, ids="-into-".join)
def test_another_optimizers_state_is_refused(pair):
    """Every other class's state is refused (AdamW's loads into Adam: it is Adam with
    decoupled_weight_decay=True, the same optimizer)."""
    source, target = pair
    foreign, _, _ = _two_groups(source)
    opt, params, rng = _two_groups(target)
    before = snapshots.take(opt)
    with pytest.raises(ValueError, match="another optimizer|lacks|keep"):
        opt.load_state_dict(foreign.state_dict())
    snapshots.assert_unchanged(before, opt)


def test_adamw_state_loads_into_adam_as_adamw():
    a, pa, rng = _two_groups("AdamW")
    b, pb, _ = _two_groups("Adam", cls=fastgd.Adam)
    for p, q in zip(pb, pa):
        p[...] = q
    b.load_state_dict(a.state_dict())
    grads = _grads(rng, pa)
    a.step(grads)
    b.step(grads)
    for p, q in zip(pa, pb):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("name", NAMES)
def test_json_like_state_dict_still_loads(name):
    """Keys as strings, betas as lists, numpy scalars: what JSON and npz give back."""
    opt, params, rng = _two_groups(name)
    sd = opt.state_dict()
    sd["state"] = {str(i): {k: (np.int64(v) if k == "step" else v) for k, v in e.items()}
                   for i, e in sd["state"].items()}
    for g in sd["param_groups"]:
        for k, v in g.items():
            if isinstance(v, tuple):
                g[k] = list(v)
    twin_params = [p.copy() for p in params]
    twin = OPTIMIZERS[name]([{"params": twin_params[:2]}, {"params": twin_params[2:]}],
                            **STATEFUL[name])
    twin.load_state_dict(sd)
    sd["param_groups"][0].get("betas", [0])[0] = 0.5     # a list kept by reference?
    grads = _grads(rng, params)
    opt.step(grads)
    twin.step(grads)
    for p, q in zip(params, twin_params):
        np.testing.assert_array_equal(p, q)


# ----------------------------------------------------------------------------- counts
@pytest.mark.parametrize("bad, exc", [(2 ** 40, ValueError), (2 ** 31, ValueError),
                                      (4097, ValueError), (0, ValueError), (-1, ValueError),
                                      (True, TypeError), (2.0, TypeError), ("2", TypeError)])
def test_thread_counts_that_cannot_work_fail_at_the_call(bad, exc):
    fastgd.set_num_threads(3)      # fixed: the automatic default follows the host's load
    try:
        with pytest.raises(exc, match="^n:"):
            fastgd.set_num_threads(bad)
        assert fastgd.get_num_threads() == 3
    finally:
        fastgd.set_num_threads(None)
    p = np.ones(3)
    with pytest.raises(exc, match="n_threads"):
        fastgd.Adam([p], n_threads=bad)
    opt = fastgd.Adam([p], n_threads=1)
    with pytest.raises(exc, match="n_threads"):
        opt.n_threads = bad
    assert opt.n_threads == 1
    model = fastgd.MLP([3, 2], "relu", "linear", seed=0)
    flat = model._flat.copy()
    with pytest.raises(exc, match="n_threads"):
        fastgd.fit(model, np.ones((4, 3), np.float32), np.ones((4, 2), np.float32),
                   fastgd.SGD(model.parameters()), epochs=1, batch_size=2, n_threads=bad)
    np.testing.assert_array_equal(model._flat, flat)


def test_the_largest_count_works():
    p = np.ones(3)
    opt = fastgd.SGD([p], lr=1.0, n_threads=4096)
    opt.step([np.ones(3)])
    np.testing.assert_array_equal(p, 0.0)
    fastgd.set_num_threads(4096)
    try:
        assert fastgd.get_num_threads() == 4096
    finally:
        fastgd.set_num_threads(None)


# ----------------------------------------------------------------------------- written later
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("which", [0, 2])
def test_param_made_read_only_later_is_refused(name, which):
    opt, params, rng = _two_groups(name)
    params[which].flags.writeable = False
    before = snapshots.take(opt)
    with pytest.raises(ValueError, match=rf"params\[{which}\].*read-only"):
        opt.step(_grads(rng, params))
    snapshots.assert_unchanged(before, opt)
    params[which].flags.writeable = True
    opt.step(_grads(rng, params))


def test_param_resized_in_place_is_refused():
    p = np.zeros(8)
    q = np.zeros(4)
    opt = fastgd.Adam([p, q])
    opt.step([np.ones(8), np.ones(4)])
    before = snapshots.take(opt)
    p.resize(16, refcheck=False)
    with pytest.raises(ValueError, match="size"):
        opt.step([np.ones(16), np.ones(4)])
    np.testing.assert_array_equal(q, before["params"][1])


# ----------------------------------------------------------------------------- overlaps
def _overlap_cases():
    """(id, build() -> (optimizer, grads), the gradient the message names, what it names)."""
    def own_shifted():
        base = np.linspace(-1, 1, 11)
        p = base[:10]
        return [p], [base[1:11]], 0, r"params\[0\]"

    def itself():
        p = np.linspace(-1, 1, 10)
        return [p], [p], 0, r"params\[0\]"

    def other_param():
        base = np.linspace(-1, 1, 10)
        return [base[:5], base[5:]], [base[5:].copy(), base[5:]], 1, r"params\[1\]"

    def other_param_shifted():
        base = np.linspace(-1, 1, 12)
        return [base[:5], base[6:11]], [np.ones(5), base[2:7]], 1, r"params\[[01]\]"

    def reshaped_view():
        p = np.linspace(-1, 1, 12).reshape(3, 4)
        return [p, np.zeros(3)], [np.zeros((3, 4)), p.reshape(-1)[3:6]], 1, r"params\[0\]"

    return [("own-shifted", own_shifted), ("itself", itself), ("other-param", other_param),
            ("other-param-shifted", other_param_shifted), ("reshaped-view", reshaped_view)]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", _overlap_cases(), ids=lambda c: c[0])
def test_gradient_overlapping_a_parameter_is_refused(name, case):
    params, grads, bad, names = case[1]()
    opt = OPTIMIZERS[name](params, **STATEFUL[name])
    before = snapshots.take(opt)
    with pytest.raises(ValueError, match=rf"grads\[{bad}\].*{names}"):
        opt.step(grads)
    snapshots.assert_unchanged(before, opt)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_overlapping_a_parameter_of_another_group_is_refused(name):
    base = np.linspace(-1, 1, 10)
    opt = OPTIMIZERS[name]([{"params": [base[:5]]}, {"params": [base[5:]], "lr": 1e-3}],
                           **STATEFUL[name])
    before = snapshots.take(opt)
    with pytest.raises(ValueError, match=r"grads\[0\].*params\[1\]"):
        opt.step([base[5:], np.ones(5)])
    snapshots.assert_unchanged(before, opt)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_overlapping_the_state_is_refused(name):
    opt, params, rng = _two_groups(name)
    grads = _grads(rng, params)
    grads[2] = opt.state[2][_slot(name)]
    before = snapshots.take(opt)
    with pytest.raises(ValueError, match=r"grads\[2\].*state"):
        opt.step(grads)
    snapshots.assert_unchanged(before, opt)


def test_many_parameters_overlap_check_sorted_path():
    """Past 4096 pairs the check sorts; it still finds an overlap anywhere and passes
    gradients interleaved in memory with the parameters."""
    base = np.zeros(300)
    params = [base[3 * i:3 * i + 2] for i in range(100)]     # gaps of one element
    gbase = np.ones(300)
    grads = [gbase[3 * i:3 * i + 2] for i in range(100)]
    opt = fastgd.SGD(params, lr=1.0)
    opt.step(grads)
    np.testing.assert_array_equal(params[57], -1.0)
    spare = [base[3 * i + 2:3 * i + 3] for i in range(100)]   # the gaps: no overlap
    opt2 = fastgd.SGD([np.zeros(1) for _ in range(100)], lr=1.0)
    opt2.step(spare)
    bad = list(grads)
    bad[77] = base[3 * 40 + 1:3 * 40 + 3]                     # last of params[40] + a gap
    before = snapshots.take(opt)
    with pytest.raises(ValueError, match=r"grads\[77\].*params\[40\]"):
        opt.step(bad)
    snapshots.assert_unchanged(before, opt)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_sharing_memory_with_each_other_or_reversed_equal_the_reference(name):
    """Only parameters and state are written: gradients may share memory with each other,
    and a reversed (negative-stride) view of a parameter is copied before the step."""
    rng = np.random.default_rng(3)
    p0 = [rng.standard_normal(6), rng.standard_normal(6)]
    fast_p = [p.copy() for p in p0]
    ref_p = [p.copy() for p in p0]
    fast = OPTIMIZERS[name](fast_p, **STATEFUL[name])
    ref = reference.OPTIMIZERS[name](ref_p, **STATEFUL[name])
    for _ in range(3):
        g = rng.standard_normal(6)
        fast.step([g, g])
        ref.step([g.copy(), g.copy()])
    fast.step([fast_p[0][::-1], fast_p[0][::-1]])
    ref.step([ref_p[0][::-1].copy(), ref_p[0][::-1].copy()])
    for a, b in zip(fast_p, ref_p):
        np.testing.assert_array_equal(a, b)


def test_ewa_in_place_equals_the_reference_and_partial_overlap_is_refused():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(50).astype(dtype)
        expected = reference.ewa(x.copy(), 0.9)
        out = fastgd.ewa(x, 0.9, out=x)
        assert out is x
        np.testing.assert_array_equal(x, expected)
        base = rng.standard_normal(51).astype(dtype)
        kept = base.copy()
        for xs, out in ((base[:50], base[1:]), (base[1:], base[:50]),
                        (base[::2][:25], base[:25])):
            with pytest.raises(ValueError, match="out.*overlaps"):
                fastgd.ewa(xs, 0.9, out=out)
            np.testing.assert_array_equal(base, kept)
        interleaved = np.zeros(50, dtype)    # x the even elements, out elsewhere: fine
        xs = np.repeat(rng.standard_normal(25).astype(dtype), 2)[::2]
        np.testing.assert_array_equal(fastgd.ewa(xs, 0.5, out=interleaved[:25]),
                                      reference.ewa(xs.copy(), 0.5))


# ----------------------------------------------------------------------------- stale state
TOGGLES = [("Adam", dict(lr=0.01, amsgrad=True), "amsgrad", False, True),
           ("AdamW", dict(lr=0.01, amsgrad=True), "amsgrad", False, True),
           ("SGD", dict(lr=0.05, momentum=0.9), "momentum", 0.0, 0.9),
           ("RMSprop", dict(lr=0.01, centered=True), "centered", False, True),
           ("RMSprop", dict(lr=0.01, momentum=0.5), "momentum", 0.0, 0.5)]


@pytest.mark.parametrize("toggle", TOGGLES, ids=lambda t: f"{t[0]}-{t[2]}")
def test_option_switched_off_round_trips_and_matches_the_reference(toggle):
    name, kwargs, option, off, on = toggle
    rng = np.random.default_rng(1)
    p0 = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    fast_p, ref_p = [p.copy() for p in p0], [p.copy() for p in p0]
    fast = OPTIMIZERS[name](fast_p, **kwargs)
    ref = reference.OPTIMIZERS[name](ref_p, **kwargs)

    def steps(k):
        for _ in range(k):
            g = _grads(rng, fast_p)
            fast.step(g)
            ref.step([a.copy() for a in g])

    steps(3)
    fast.param_groups[0][option] = off
    ref.param_groups[0][option] = off
    steps(2)
    sd = fast.state_dict()
    fast.load_state_dict(sd)                       # the round trip that used to fail
    twin_p = [p.copy() for p in fast_p]
    twin = OPTIMIZERS[name](twin_p, **kwargs)
    twin.load_state_dict(copy.deepcopy(sd))        # and into a fresh optimizer
    fast, fast_p = twin, twin_p
    steps(2)
    fast.param_groups[0][option] = on
    ref.param_groups[0][option] = on
    steps(2)
    for a, b in zip(fast_p, ref_p):
        np.testing.assert_array_equal(a, b)
    snapshots.assert_same_state(ref.state, fast.state)


def test_fit_divergence_restores_after_an_option_was_switched_off():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    Y = 1e3 * rng.standard_normal((40, 2))
    m = fastgd.MLP([5, 4, 2], "relu", "linear", dtype=np.float64, seed=0)
    o = fastgd.SGD(m.parameters(), lr=1e-4, momentum=0.9)
    fastgd.fit(m, X, Y, o, epochs=1, batch_size=4, seed=0)
    o.param_groups[0]["momentum"] = 0.0       # the momentum buffer is now stale
    o.param_groups[0]["lr"] = 1e6
    before = snapshots.take(o)
    with pytest.raises(fastgd.NonFiniteLossError):
        fastgd.fit(m, X, Y, o, epochs=3, batch_size=4, seed=0)
    snapshots.assert_unchanged(before, o)


# ----------------------------------------------------------------------------- threads
class _Gate(np.ndarray):
    """A gradient whose ``shape`` holds the step that reads it until the test opens it:
    so a second thread can call the optimizer while the first is surely inside."""
    entered = opened = None

    @property
    def shape(self):
        gate = type(self)
        if gate.entered is not None:
            gate.entered.set()
            assert gate.opened.wait(60), "the test never opened the gate"
        return np.ndarray.shape.__get__(self)


@pytest.mark.parametrize("name", ["SGD", "Adam", "NAdam"])
@pytest.mark.parametrize("groups", [1, 2])
def test_a_second_thread_is_refused_while_one_steps(name, groups):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(4), rng.standard_normal(3)]
    spec = ([{"params": params[:1]}, {"params": params[1:]}] if groups == 2 else params)
    opt = OPTIMIZERS[name](spec, **STATEFUL[name])
    grads = _grads(rng, params)
    seq_p = [p.copy() for p in params]
    seq = OPTIMIZERS[name](([{"params": seq_p[:1]}, {"params": seq_p[1:]}] if groups == 2
                            else seq_p), **STATEFUL[name])
    seq.step(grads)
    gated = [grads[0], grads[1].copy().view(_Gate)]
    entered, opened = threading.Event(), threading.Event()
    errors = []

    def first():
        try:
            opt.step(gated)
        except BaseException as e:   # reported below
            errors.append(e)

    _Gate.entered, _Gate.opened = entered, opened
    t = threading.Thread(target=first)
    t.start()
    try:
        assert entered.wait(60)
        _Gate.entered = None
        before = snapshots.take(opt)
        for call in (lambda: opt.step(grads), opt.state_dict, opt.zero_state,
                     lambda: opt.load_state_dict(seq.state_dict()),
                     lambda: opt.add_param_group({"params": [np.ones(2)]})):
            with pytest.raises(RuntimeError, match="another thread"):
                call()
        snapshots.assert_unchanged(before, opt)
    finally:
        _Gate.entered = None
        opened.set()
        t.join()
    assert not errors, errors
    for a, b in zip(params, seq_p):                # the first step was applied whole
        np.testing.assert_array_equal(a, b)
    snapshots.assert_same_state(seq.state, opt.state)


def test_threads_stepping_one_optimizer_lose_no_update():
    """Four threads step one SGD-with-momentum optimizer with the same gradient; each call
    either applies a whole step or is refused: the result equals as many sequential steps
    as succeeded (large enough that the steps run in C for a while)."""
    n = 1 << 17
    p = np.zeros(n)
    g = np.full(n, 1e-3)
    opt = fastgd.SGD([p], lr=0.01, momentum=0.9, n_threads=1)
    done, refused = [], []

    def worker():
        for _ in range(25):
            try:
                opt.step([g])
                done.append(1)
            except RuntimeError:
                refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) + len(refused) == 100
    q = np.zeros(n)
    seq = fastgd.SGD([q], lr=0.01, momentum=0.9, n_threads=1)
    for _ in range(len(done)):
        seq.step([g])
    np.testing.assert_array_equal(p, q)
    assert opt.state[0]["step"] == len(done)


def test_calls_from_threads_one_after_another_are_fine():
    p = np.zeros(5)
    opt = fastgd.Adam([p])
    for _ in range(3):
        t = threading.Thread(target=opt.step, args=([np.ones(5)],))
        t.start()
        t.join()
    assert opt.state[0]["step"] == 3
