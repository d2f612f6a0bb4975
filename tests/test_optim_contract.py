"""The optimizers' contract, beyond their arithmetic (which test_optim_parity checks).

* Bad input is rejected with an error naming the argument, before anything changes:
  parameters, state and step counts are compared with copies taken before the call.
* Gradients are only read; parameters are updated in place and keep their dtype.
* state_dict() is a plain, detached copy; a fresh optimizer loaded from it continues bit
  for bit; a state_dict that does not fit is refused and changes nothing.
* zero_state(), param groups and per-step edits of group["lr"] (how schedules act).
* clip_grad_norm_, clip_grad_value_ and flat_parameters.
"""
import math
import numbers

import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.optim import OPTIMIZERS, clip_grad_norm_, clip_grad_value_, flat_parameters
from registry import CASES, STATEFUL, case_id

NAMES = sorted(OPTIMIZERS)
SHAPES = [(3, 4), (5,), (0,), (1,), (2, 1, 3)]

assert set(STATEFUL) == set(OPTIMIZERS)

# (optimizer names, bad kwargs, the argument the error must name)
BAD_HYPER = [
    (NAMES, dict(lr=-0.1), "lr"),
    (NAMES, dict(lr=float("nan")), "lr"),
    (NAMES, dict(lr=float("inf")), "lr"),
    (NAMES, dict(lr="0.1"), "lr"),
    (["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"],
     dict(weight_decay=-1e-3), "weight_decay"),
    (["Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"],
     dict(eps=-1e-8), "eps"),
    (["Adam", "AdamW", "Adamax", "NAdam", "RAdam"], dict(betas=(1.0, 0.999)), r"betas\[0\]"),
    (["Adam", "AdamW", "Adamax", "NAdam", "RAdam"], dict(betas=(-0.1, 0.999)), r"betas\[0\]"),
    (["Adam", "AdamW", "Adamax", "NAdam", "RAdam"], dict(betas=(0.9, 1.5)), r"betas\[1\]"),
    (["Adam", "AdamW", "Adamax", "NAdam", "RAdam"], dict(betas=(0.9, float("nan"))),
     r"betas\[1\]"),
    (["Adam", "AdamW", "Adamax", "NAdam", "RAdam"], dict(betas=(0.9,)), "betas"),
    (["Adam", "AdamW", "Adamax", "NAdam", "RAdam"], dict(betas=(0.9, 0.99, 0.9)), "betas"),
    (["Adam", "AdamW", "Adamax", "NAdam", "RAdam"], dict(betas=0.9), "betas"),
    (["SGD"], dict(momentum=-0.9), "momentum"),
    (["SGD"], dict(momentum=0.9, dampening=-0.1), "dampening"),
    (["SGD", "Momentum"], dict(buffer_init="ones"), "buffer_init"),
    (["SGD"], dict(nesterov=True), "nesterov"),   # momentum defaults to 0
    (["SGD"], dict(nesterov=True, momentum=0.9, dampening=0.1), "nesterov"),
    (["Momentum"], dict(beta=1.0), "beta"),
    (["Momentum"], dict(beta=-0.1), "beta"),
    (["RMSprop"], dict(alpha=1.5), "alpha"),
    (["RMSprop"], dict(momentum=-0.1), "momentum"),
    (["Adagrad"], dict(lr_decay=-0.1), "lr_decay"),
    (["Adagrad"], dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (["Adadelta"], dict(rho=1.1), "rho"),
    (["NAdam"], dict(momentum_decay=-4e-3), "momentum_decay"),
]
BAD_HYPER_CASES = [(name, kw, match) for names, kw, match in BAD_HYPER for name in names]


def _hyper_id(case):
    name, kw, _ = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


# ----------------------------------------------------------------------------- helpers
def _params(shapes=SHAPES, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _grads(rng, params):
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


def _stepped(name, kwargs=None, shapes=SHAPES, dtype=np.float64, steps=3, seed=0, cls=None):
    """An optimizer that has taken ``steps`` steps (so its state is not all zero)."""
    cls = cls or OPTIMIZERS[name]
    params = _params(shapes, dtype, seed)
    opt = cls(params, **(STATEFUL[name] if kwargs is None else kwargs))
    rng = np.random.default_rng(seed + 1)
    for _ in range(steps):
        opt.step(_grads(rng, params))
    return opt, params, rng


def _snapshot(opt, params):
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    return [p.copy() for p in params], opt.state_dict(), groups


def _assert_same_state_dict(a, b):
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        assert a["state"][i].keys() == b["state"][i].keys()
        for k, v in a["state"][i].items():
            if isinstance(v, np.ndarray):
                assert v.dtype == b["state"][i][k].dtype
                np.testing.assert_array_equal(v, b["state"][i][k], err_msg=f"state {i}.{k}")
            else:
                assert v == b["state"][i][k], f"state {i}.{k}"
    assert a["param_groups"] == b["param_groups"]


def _assert_unchanged(before, opt, params):
    old_params, old_sd, old_groups = before
    for i, (a, b) in enumerate(zip(old_params, params)):
        np.testing.assert_array_equal(a, b, err_msg=f"param {i} changed")
    _assert_same_state_dict(old_sd, opt.state_dict())
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == old_groups


def _assert_same_run(opt_a, params_a, opt_b, params_b, msg=""):
    for i, (a, b) in enumerate(zip(params_a, params_b)):
        np.testing.assert_array_equal(a, b, err_msg=f"{msg} param {i}")
    _assert_same_state_dict(opt_a.state_dict(), opt_b.state_dict())


# ----------------------------------------------------------------------------- bad params
@pytest.mark.parametrize("name", NAMES)
def test_bad_params_are_rejected_naming_them(name):
    cls = OPTIMIZERS[name]
    good = np.ones(4)
    keep = good.copy()
    cases = [
        ([good, [1.0, 2.0]], TypeError, r"params\[1\]"),
        ([good, np.arange(4)], TypeError, r"params\[1\]"),
        ([good, np.ones(8)[::2]], ValueError, r"params\[1\]"),
        ([good, np.ones((3, 4)).T], ValueError, r"params\[1\]"),
        ([good, good], ValueError, r"params\[1\]"),
        ([good, np.ones(3, np.float32)], TypeError, "params"),
        ([good, np.ones(3, np.float16)], TypeError, r"params\[1\]"),
        ([], ValueError, "params"),
        (good, TypeError, "params"),
        (3.0, TypeError, "params"),
    ]
    readonly = np.ones(3)
    readonly.flags.writeable = False
    cases.append(([good, readonly], ValueError, r"params\[1\]"))
    base = np.zeros(10)
    cases.append(([base[:6], base[4:]], ValueError, r"params\[1\]"))           # overlap
    cases.append(([base[:5], base[5:], base], ValueError, r"params\[2\]"))      # the whole
    cases.append(([{"params": [base[:6]]}, {"params": [base[5:]]}], ValueError, r"params\[1\]"))
    cases.append(([{"params": [good]}, {"params": [good]}], ValueError, r"params\[1\]"))
    cases.append(([{"params": [good], "lr": -1.0}], ValueError, "lr"))
    cases.append(([{"lr": 0.1}], TypeError, "param group"))
    for params, exc, match in cases:
        with pytest.raises(exc, match=match):
            cls(params, **STATEFUL[name])
        np.testing.assert_array_equal(good, keep)
        np.testing.assert_array_equal(base, 0.0)


@pytest.mark.parametrize("case", BAD_HYPER_CASES, ids=_hyper_id)
def test_bad_hyper_parameters_are_rejected_naming_them(case):
    name, kwargs, match = case
    p = np.ones(3)
    with pytest.raises((ValueError, TypeError), match=match):
        OPTIMIZERS[name]([p], **kwargs)
    np.testing.assert_array_equal(p, 1.0)


@pytest.mark.parametrize("case", BAD_HYPER_CASES, ids=_hyper_id)
def test_bad_hyper_parameter_set_in_a_group_changes_nothing(case):
    """Schedules and users edit param_groups between steps: a bad value set in group 2 is
    refused by the next step before group 1 (or anything else) is updated."""
    name, kwargs, match = case
    if kwargs == {"nesterov": True}:   # the group has momentum: take it away as well
        kwargs = {"nesterov": True, "momentum": 0.0}
    params = _params([(4,), (3,)])
    opt = OPTIMIZERS[name]([{"params": params[:1]}, {"params": params[1:]}], **STATEFUL[name])
    rng = np.random.default_rng(5)
    opt.step(_grads(rng, params))
    opt.param_groups[1].update(kwargs)
    before = _snapshot(opt, params)
    with pytest.raises((ValueError, TypeError), match=match):
        opt.step(_grads(rng, params))
    _assert_unchanged(before, opt, params)


@pytest.mark.parametrize("name", NAMES)
def test_add_param_group_rejects_before_changing_anything(name):
    opt, params, rng = _stepped(name)
    before = _snapshot(opt, params)
    for group, exc, match in [({"params": [params[0]]}, ValueError, r"params\[5\]"),
                              ({"params": [np.ones(2), np.arange(2)]}, TypeError, r"params\[6\]"),
                              ({"params": [np.ones(2)], "lr": -1.0}, ValueError, "lr"),
                              ([np.ones(2)], TypeError, "param group")]:
        with pytest.raises(exc, match=match):
            opt.add_param_group(group)
        assert len(opt.param_groups) == 1
        _assert_unchanged(before, opt, params)


# ----------------------------------------------------------------------------- bad grads
def _bad_grad_lists(params):
    """(grads, exception, match) where only the LAST gradient (or the list) is wrong."""
    good = [np.ones_like(p) for p in params]
    last = len(params) - 1
    p = params[last]
    other = np.float32 if p.dtype == np.float64 else np.float64
    return [
        (good[:-1] + [np.ones(p.shape, other)], TypeError, rf"grads\[{last}\]"),
        (good[:-1] + [np.ones(p.shape, np.int64)], TypeError, rf"grads\[{last}\]"),
        (good[:-1] + [np.ones(p.size + 1, p.dtype)], ValueError, rf"grads\[{last}\]"),
        (good[:-1] + [np.ones(p.shape + (1,), p.dtype)], ValueError, rf"grads\[{last}\]"),
        (good[:-1] + [p.tolist()], TypeError, rf"grads\[{last}\]"),
        (good[:-1] + [None], TypeError, rf"grads\[{last}\]"),
        (good[:-1], ValueError, "grads"),
        (good + [np.ones(1)], ValueError, "grads"),
        ([], ValueError, "grads"),
        (np.ones(3), TypeError, "grads"),
        (iter(good), TypeError, "grads"),
        ({i: g for i, g in enumerate(good)}, TypeError, "grads"),
        (None, TypeError, "grads"),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_bad_grads_change_nothing(name, dtype):
    opt, params, rng = _stepped(name, shapes=[(3, 4), (5,), (2, 2)], dtype=dtype)
    before = _snapshot(opt, params)
    for grads, exc, match in _bad_grad_lists(params):
        with pytest.raises(exc, match=match):
            opt.step(grads)
        _assert_unchanged(before, opt, params)
    opt.step(_grads(rng, params))   # and it still works


@pytest.mark.parametrize("name", NAMES)
def test_bad_grad_in_second_group_leaves_first_group_untouched(name):
    params = _params([(3, 4), (5,), (2, 2), (3,)])
    opt = OPTIMIZERS[name]([{"params": params[:2]}, {"params": params[2:], "lr": 0.002}],
                           **STATEFUL[name])
    rng = np.random.default_rng(2)
    for _ in range(2):
        opt.step(_grads(rng, params))
    before = _snapshot(opt, params)
    for grads, exc, match in _bad_grad_lists(params):
        with pytest.raises(exc, match=match):
            opt.step(grads)
        _assert_unchanged(before, opt, params)
    grads = _grads(rng, params)
    grads[2] = grads[2].astype(np.float32)      # first array of group 2
    with pytest.raises(TypeError, match=r"grads\[2\]"):
        opt.step(grads)
    _assert_unchanged(before, opt, params)


# ----------------------------------------------------------------------------- in place
@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_grads_read_only_params_in_place_dtypes_kept(case, dtype, impl):
    name, kwargs = case.name, case.kwargs
    cls = (OPTIMIZERS if impl == "fast" else reference.OPTIMIZERS)[name]
    params = _params(dtype=dtype)
    initial = [p.copy() for p in params]
    aliases = [p.reshape(-1) for p in params]     # views made before any step
    opt = cls(params, **kwargs)
    rng = np.random.default_rng(1)
    for step in range(4):
        grads = _grads(rng, params)
        if step == 2:   # a strided gradient too (the fast path copies it, never writes it)
            grads[0] = np.repeat(grads[0], 2, axis=-1)[..., ::2]
        kept = [g.copy() for g in grads]
        opt.step(grads)
        for i, (g, k) in enumerate(zip(grads, kept)):
            np.testing.assert_array_equal(g, k, err_msg=f"grad {i} written by step {step}")
            assert g.dtype == dtype
    for i, (p, a, p0) in enumerate(zip(params, aliases, initial)):
        assert opt.param_groups[0]["params"][i] is p
        assert p.dtype == dtype and p.flags.c_contiguous and p.flags.writeable
        assert np.shares_memory(a, p) or p.size == 0
        np.testing.assert_array_equal(a, p.reshape(-1))
        if p.size:
            assert not np.array_equal(p, p0), f"param {i} was not updated in place"
    for i, entry in opt.state.items():
        for k, v in entry.items():
            if isinstance(v, np.ndarray):
                assert v.dtype == dtype and v.shape == params[i].shape, (i, k)


# ----------------------------------------------------------------------------- state_dict
@pytest.mark.parametrize("k", [0, 1, 6])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_loaded_optimizer_continues_bit_identically(case, k):
    name, kwargs = case.name, case.kwargs
    cls = OPTIMIZERS[name]
    params = _params()
    opt = cls([{"params": params[:2]}, {"params": params[2:]}], **kwargs)
    rng = np.random.default_rng(3)
    for _ in range(k):
        opt.step(_grads(rng, params))
    sd = opt.state_dict()
    twin_params = [p.copy() for p in params]
    twin = cls([{"params": twin_params[:2]}, {"params": twin_params[2:]}], **kwargs)
    twin.step(_grads(np.random.default_rng(99), twin_params))   # state to be overwritten
    for p, q in zip(twin_params, params):
        p[...] = q
    twin.load_state_dict(sd)
    _assert_same_state_dict(sd, twin.state_dict())
    for _ in range(20):
        grads = _grads(rng, params)
        opt.step(grads)
        twin.step(grads)
    _assert_same_run(opt, params, twin, twin_params, case_id(case))


def _assert_plain(obj, path="state_dict"):
    if isinstance(obj, dict):
        for key, value in obj.items():
            assert isinstance(key, (int, str)), f"{path}: key {key!r}"
            _assert_plain(value, f"{path}[{key!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _assert_plain(value, f"{path}[{i}]")
    elif isinstance(obj, np.ndarray):
        assert obj.flags.owndata and obj.base is None, f"{path}: a view, not a copy"
    else:
        assert obj is None or isinstance(obj, (numbers.Number, str)), f"{path}: {type(obj)}"


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_is_a_plain_detached_copy(name):
    opt, params, rng = _stepped(name)
    sd = opt.state_dict()
    _assert_plain(sd)
    assert sorted(sd["state"]) == [i for i, p in enumerate(params)]
    assert sd["param_groups"][0]["params"] == list(range(len(params)))
    reference_sd = opt.state_dict()
    for entry in sd["state"].values():          # mutate everything mutable in the copy
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                value += 1.0
            else:
                entry[key] = value + 1
    sd["param_groups"][0]["lr"] = 123.0
    sd["param_groups"][0]["params"].append(99)
    _assert_same_state_dict(reference_sd, opt.state_dict())
    # and a loaded optimizer does not keep references into the dict it was given
    twin_params = [p.copy() for p in params]
    twin = OPTIMIZERS[name](twin_params, **STATEFUL[name])
    source = opt.state_dict()
    twin.load_state_dict(source)
    for entry in source["state"].values():
        for value in entry.values():
            if isinstance(value, np.ndarray):
                value *= 0.0
    _assert_same_state_dict(reference_sd, twin.state_dict())


def _other(name):
    """An optimizer with a different state layout than ``name``'s."""
    return ("SGD", dict(lr=0.1, momentum=0.9)) if name != "SGD" else ("Adam", dict())


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_state_dict_is_refused_and_changes_nothing(name):
    cls = OPTIMIZERS[name]
    opt, params, rng = _stepped(name, shapes=[(3,), (4,)])
    before = _snapshot(opt, params)

    two_groups = cls([{"params": [np.ones(3)]}, {"params": [np.ones(4)]}], **STATEFUL[name])
    three_params = cls([np.ones(3), np.ones(4), np.ones(2)], **STATEFUL[name])
    other_shape, _, _ = _stepped(name, shapes=[(3,), (5,)])
    other_name, other_kw = _other(name)
    foreign, _, _ = _stepped(other_name, other_kw, shapes=[(3,), (4,)])

    bad = [(two_groups.state_dict(), "param groups"),
           (three_params.state_dict(), "size"),
           (other_shape.state_dict(), "shape"),
           (foreign.state_dict(), "state")]
    sd = opt.state_dict()
    sd["state"][1]["step"] += 1
    bad.append((sd, "different steps"))
    sd = opt.state_dict()
    sd["state"][7] = dict(sd["state"][0])
    bad.append((sd, "7"))
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = -1.0
    bad.append((sd, "lr"))
    for sd, match in bad:
        with pytest.raises(ValueError, match=match):
            opt.load_state_dict(sd)
        _assert_unchanged(before, opt, params)


def test_state_dict_with_string_indices_loads():
    """A state_dict that went through JSON has string keys; it still loads."""
    opt, params, rng = _stepped("Adam")
    sd = opt.state_dict()
    sd["state"] = {str(i): e for i, e in sd["state"].items()}
    twin_params = [p.copy() for p in params]
    twin = fastgd.Adam(twin_params, **STATEFUL["Adam"])
    twin.load_state_dict(sd)
    grads = _grads(rng, params)
    opt.step(grads)
    twin.step(grads)
    _assert_same_run(opt, params, twin, twin_params)


# ----------------------------------------------------------------------------- zero_state
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_zero_state_makes_next_step_a_first_step(case):
    name, kwargs = case.name, case.kwargs
    opt, params, rng = _stepped(name, kwargs, steps=5)
    opt.zero_state()
    assert opt.state == {}
    fresh_params = [p.copy() for p in params]
    fresh = OPTIMIZERS[name](fresh_params, **kwargs)
    for _ in range(3):
        grads = _grads(rng, params)
        opt.step(grads)
        fresh.step(grads)
        _assert_same_run(opt, params, fresh, fresh_params, case_id(case))


# ----------------------------------------------------------------------------- param groups
@pytest.mark.parametrize("name", NAMES)
def test_param_groups_equal_separate_optimizers(name):
    cls, kwargs = OPTIMIZERS[name], STATEFUL[name]
    lr = kwargs.get("lr", cls([np.ones(1)]).defaults["lr"])
    params = _params([(3, 4), (5,), (2, 3)])
    a = [p.copy() for p in params[:2]]
    b = [p.copy() for p in params[2:]]
    together = cls([{"params": params[:2]}, {"params": params[2:], "lr": lr / 3}], **kwargs)
    first = cls(a, **kwargs)
    second = cls(b, **{**kwargs, "lr": lr / 3})
    assert together.param_groups[1]["lr"] == lr / 3
    assert together.param_groups[0]["lr"] == lr
    rng = np.random.default_rng(4)
    for _ in range(10):
        grads = _grads(rng, params)
        together.step(grads)
        first.step(grads[:2])
        second.step(grads[2:])
    for p, q in zip(params, a + b):
        np.testing.assert_array_equal(p, q)
    state = together.state
    for i, entry in first.state.items():
        for k, v in entry.items():
            np.testing.assert_array_equal(state[i][k], v)
    for i, entry in second.state.items():
        for k, v in entry.items():
            np.testing.assert_array_equal(state[i + 2][k], v)


@pytest.mark.parametrize("name", NAMES)
def test_changing_group_lr_between_steps_takes_effect(name):
    cls, kwargs = OPTIMIZERS[name], STATEFUL[name]
    opt, params, rng = _stepped(name, steps=3)
    twin_params = [p.copy() for p in params]
    twin = cls(twin_params, **kwargs)
    twin.load_state_dict(opt.state_dict())
    new_lr = opt.param_groups[0]["lr"] / 4
    opt.param_groups[0]["lr"] = new_lr
    sd = twin.state_dict()                      # the same state, built with the new lr
    sd["param_groups"][0]["lr"] = new_lr
    built = cls([p.copy() for p in params], **{**kwargs, "lr": new_lr})
    built_params = built.param_groups[0]["params"]
    built.load_state_dict(sd)
    for _ in range(4):
        grads = _grads(rng, params)
        opt.step(grads)
        twin.step(grads)
        built.step(grads)
    _assert_same_run(opt, params, built, built_params)
    assert not np.array_equal(params[0], twin_params[0]), "the lr change had no effect"


@pytest.mark.parametrize("name", NAMES)
def test_zero_lr_freezes_params(name):
    opt, params, rng = _stepped(name, steps=3)
    opt.param_groups[0]["lr"] = 0.0
    kept = [p.copy() for p in params]
    opt.step(_grads(rng, params))
    for p, k in zip(params, kept):
        np.testing.assert_array_equal(p, k)


# ----------------------------------------------------------------------------- clipping
def _grad_list(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) * 3 for s in [(4, 5), (7,), (0,), (1,)]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3, math.inf])
def test_clip_grad_norm_matches_numpy(norm_type, dtype):
    grads = _grad_list(dtype)
    flat = np.concatenate([g.ravel() for g in grads]).astype(np.float64)
    expected = (np.max(np.abs(flat)) if math.isinf(norm_type)
                else np.sum(np.abs(flat) ** norm_type) ** (1.0 / norm_type))
    objects, kept = list(grads), [g.copy() for g in grads]
    # no clipping when max_norm is above the norm: untouched, norm returned
    total = clip_grad_norm_(grads, float(expected) * 2, norm_type=norm_type)
    assert isinstance(total, float)
    np.testing.assert_allclose(total, expected, rtol=1e-12)
    for g, k in zip(grads, kept):
        np.testing.assert_array_equal(g, k)
    # clipping to half the norm scales every array in place by max_norm / (norm + 1e-6)
    max_norm = float(expected) / 2   # a Python float: float32 grads are scaled in float32
    total = clip_grad_norm_(grads, max_norm, norm_type=norm_type)
    np.testing.assert_allclose(total, expected, rtol=1e-12)
    coef = max_norm / (total + 1e-6)
    for g, o, k in zip(grads, objects, kept):
        assert g is o and g.dtype == dtype
        np.testing.assert_array_equal(g, k * dtype(coef) if dtype == np.float32 else k * coef)
    after = np.concatenate([g.ravel() for g in grads]).astype(np.float64)
    new_norm = (np.max(np.abs(after)) if math.isinf(norm_type)
                else np.sum(np.abs(after) ** norm_type) ** (1.0 / norm_type))
    np.testing.assert_allclose(new_norm, max_norm, rtol=1e-5 if dtype == np.float32 else 1e-6)


def test_clip_grad_norm_single_array_and_empty():
    g = np.array([3.0, 4.0])
    assert clip_grad_norm_(g, 1.0) == 5.0
    np.testing.assert_allclose(g, [0.6, 0.8], rtol=1e-6)
    assert clip_grad_norm_([], 1.0) == 0.0
    assert clip_grad_norm_([np.zeros(0)], 1.0) == 0.0
    assert clip_grad_norm_([np.zeros(0)], 1.0, norm_type=math.inf) == 0.0


def test_clip_grad_norm_nonfinite():
    grads = [np.array([1.0, np.inf]), np.array([2.0])]
    kept = [g.copy() for g in grads]
    with pytest.raises(ValueError, match="grads"):
        clip_grad_norm_(grads, 1.0, error_if_nonfinite=True)
    for g, k in zip(grads, kept):
        np.testing.assert_array_equal(g, k)
    assert math.isnan(clip_grad_norm_([np.array([np.nan])], 1.0))


def test_clip_grad_norm_bad_args_change_nothing():
    grads = _grad_list()
    kept = [g.copy() for g in grads]
    readonly = np.ones(3)
    readonly.flags.writeable = False
    for kwargs, exc, match in [
        (dict(max_norm=-1.0), ValueError, "max_norm"),
        (dict(max_norm=float("nan")), ValueError, "max_norm"),
        (dict(max_norm="1"), TypeError, "max_norm"),
        (dict(max_norm=True), TypeError, "max_norm"),
        (dict(max_norm=1.0, norm_type=0), ValueError, "norm_type"),
        (dict(max_norm=1.0, norm_type=-2.0), ValueError, "norm_type"),
        (dict(max_norm=1.0, norm_type=float("nan")), ValueError, "norm_type"),
        (dict(max_norm=1.0, norm_type="fro"), TypeError, "norm_type"),
    ]:
        with pytest.raises(exc, match=match):
            clip_grad_norm_(grads, **kwargs)
    for bad, exc, match in [(grads + [np.arange(3)], TypeError, r"grads\[4\]"),
                            (grads + [[1.0]], TypeError, r"grads\[4\]"),
                            (grads + [readonly], ValueError, r"grads\[4\]")]:
        with pytest.raises(exc, match=match):
            clip_grad_norm_(bad, 1e-3)
        with pytest.raises(exc, match=match):
            clip_grad_value_(bad, 1e-3)
    for g, k in zip(grads, kept):
        np.testing.assert_array_equal(g, k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_value(dtype):
    grads = _grad_list(dtype)
    objects, kept = list(grads), [g.copy() for g in grads]
    assert clip_grad_value_(grads, 1.5) is None
    for g, o, k in zip(grads, objects, kept):
        assert g is o and g.dtype == dtype
        np.testing.assert_array_equal(g, np.clip(k, -1.5, 1.5))
    grads = _grad_list(dtype)
    kept = [g.copy() for g in grads]
    for bad, exc in ((-1.0, ValueError), (float("nan"), ValueError), ("1", TypeError),
                     (True, TypeError)):
        with pytest.raises(exc, match="clip_value"):
            clip_grad_value_(grads, bad)
    for g, k in zip(grads, kept):
        np.testing.assert_array_equal(g, k)
    clip_grad_value_(grads, 0.0)
    for g in grads:
        np.testing.assert_array_equal(g, 0.0)


# ----------------------------------------------------------------------------- flat_parameters
@pytest.mark.parametrize("dtype", [None, np.float32, np.float64])
def test_flat_parameters_views_share_one_buffer(dtype):
    shapes = [(3, 4), 5, (0,), (2, 1, 3), ()]
    flat, views = (flat_parameters(shapes) if dtype is None
                   else flat_parameters(shapes, dtype))
    expected_dtype = np.float32 if dtype is None else dtype
    assert flat.dtype == expected_dtype and flat.ndim == 1 and flat.flags.c_contiguous
    assert [v.shape for v in views] == [(3, 4), (5,), (0,), (2, 1, 3), ()]
    assert flat.size == 12 + 5 + 0 + 6 + 1
    np.testing.assert_array_equal(flat, 0.0)
    offset = 0
    for v in views:
        assert v.dtype == expected_dtype and v.flags.c_contiguous and v.flags.writeable
        assert v.size == 0 or np.shares_memory(v, flat)
        v[...] = np.arange(offset, offset + v.size).reshape(v.shape)
        offset += v.size
    np.testing.assert_array_equal(flat, np.arange(flat.size))   # in order, no gaps
    flat[...] = -1.0
    for v in views:
        np.testing.assert_array_equal(v, -1.0)
    opt = fastgd.SGD(views, lr=0.5)   # accepted as distinct, non-overlapping parameters
    opt.step([np.ones(v.shape, expected_dtype) for v in views])
    np.testing.assert_array_equal(flat, -1.5)


def test_flat_parameters_bad_args():
    for dtype in (np.int32, np.float16, np.complex128):
        with pytest.raises(TypeError, match="dtype"):
            flat_parameters([(2,)], dtype)
    for shapes, match in [([(2,), (-1,)], r"shapes\[1\]"), ([(2.5,)], r"shapes\[0\]"),
                          ([(2, "3")], r"shapes\[0\]")]:
        with pytest.raises(ValueError, match=match):
            flat_parameters(shapes)
    flat, views = flat_parameters([])
    assert flat.size == 0 and views == []
