"""Copies of everything an optimizer (or a set of arrays) holds, to show that a refused
call changed nothing: every parameter, every state entry (arrays compared bitwise, NaN
equal to NaN), every group value and the step counts."""
import copy

import numpy as np


def take(opt=None, arrays=()):
    """A snapshot of ``opt`` (any fastgd or reference optimizer, or None) and ``arrays``."""
    snap = {"arrays": [np.array(a, copy=True) for a in arrays]}
    if opt is not None:
        snap["params"] = [p.copy() for g in opt.param_groups for p in g["params"]]
        snap["groups"] = copy.deepcopy([{k: v for k, v in g.items() if k != "params"}
                                        for g in opt.param_groups])
        snap["state"] = _state(opt)
    return snap


def _state(opt):
    return {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in e.items()}
            for i, e in opt.state.items()}


def assert_unchanged(snap, opt=None, arrays=(), what=""):
    for i, (a, b) in enumerate(zip(snap["arrays"], arrays)):
        np.testing.assert_array_equal(a, b, err_msg=f"{what}: array {i} changed")
        assert np.asarray(a).dtype == np.asarray(b).dtype, f"{what}: array {i} dtype"
    if opt is None:
        return
    params = [p for g in opt.param_groups for p in g["params"]]
    assert len(params) == len(snap["params"]), f"{what}: parameters added or removed"
    for i, (a, b) in enumerate(zip(snap["params"], params)):
        np.testing.assert_array_equal(a, b, err_msg=f"{what}: param {i} changed")
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    assert groups == snap["groups"], f"{what}: a group's values changed"
    assert_same_state(snap["state"], _state(opt), what)


def assert_same_state(a, b, what=""):
    assert a.keys() == b.keys(), f"{what}: state entries {sorted(a)} vs {sorted(b)}"
    for i in a:
        assert a[i].keys() == b[i].keys(), f"{what}: state[{i}] keys"
        for k, v in a[i].items():
            w = b[i][k]
            if isinstance(v, np.ndarray):
                assert isinstance(w, np.ndarray) and v.dtype == w.dtype, f"{what}: {i}.{k}"
                np.testing.assert_array_equal(v, w, err_msg=f"{what}: state {i}.{k}")
            else:
                assert v == w, f"{what}: state {i}.{k}"
