"""Models, optimizers and schedules pickle (and deep-copy) through the state a checkpoint
stores; pickled together they stay bound to each other, and they continue bit-identically."""
import copy
import pickle

import numpy as np
import pytest

import fastgd
from fastgd import schedules as S

from test_checkpoint import OPTIMIZERS, _assert_same_state


def _trained(opt_name, dtype=np.float64):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 6)).astype(dtype), rng.integers(0, 3, 40)
    model = fastgd.MLP([6, 7, 3], dtype=dtype, seed=2)
    opt = OPTIMIZERS[opt_name](model.parameters())
    sched = S.StepLR(opt, 1, gamma=0.8)
    fastgd.fit(model, X, y, opt, epochs=2, batch_size=8, seed=1, schedule=sched)
    return (model, opt, sched), (X, y)


def _continue(objs, data):
    model, opt, sched = objs
    fastgd.fit(model, *data, opt, epochs=2, batch_size=8, seed=1, schedule=sched,
               initial_epoch=2)


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_model_optimizer_schedule_round_trip_and_continue(opt_name, how):
    objs, data = _trained(opt_name)
    twin = (pickle.loads(pickle.dumps(objs)) if how == "pickle" else copy.deepcopy(objs))
    model, opt, sched = twin
    assert all(p is q for p, q in zip(opt.param_groups[0]["params"], model.parameters()))
    assert sched.optimizer is opt
    assert all(np.shares_memory(p, model._flat) for p in model.parameters())
    _continue(objs, data)
    _continue(twin, data)
    _assert_same_state(objs, twin)


def test_optimizer_pickled_alone_brings_its_own_parameters():
    (model, opt, _), _ = _trained("Adam")
    opt2 = pickle.loads(pickle.dumps(opt))
    grads = [np.ones_like(p) for p in model.parameters()]
    before = model._flat.copy()
    opt2.step(grads)
    np.testing.assert_array_equal(model._flat, before)          # not the original's arrays
    opt.step(grads)
    for p, q in zip(opt.param_groups[0]["params"], opt2.param_groups[0]["params"]):
        np.testing.assert_array_equal(p, q)


def test_plain_arrays_and_param_groups_pickle():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(5), rng.standard_normal((2, 3))
    opt = fastgd.RMSprop([{"params": [a]}, {"params": [b], "lr": 0.1}], centered=True)
    opt.step([np.ones(5), np.ones((2, 3))])
    opt2 = pickle.loads(pickle.dumps(opt))
    a2, b2 = (g["params"][0] for g in opt2.param_groups)
    for o, x, y in ((opt, a, b), (opt2, a2, b2)):
        o.step([x * 0.5, y * 0.5])
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    assert opt2.param_groups[1]["lr"] == 0.1


def test_model_pickle_keeps_layout_and_attributes():
    model = fastgd.MLP([3, 4, 2], activation="tanh", output="sigmoid", dtype=np.float32,
                       seed=0, alpha=0.01)
    model.note = "kept"
    m2 = pickle.loads(pickle.dumps(model))
    assert (m2.layer_sizes, m2.activation, m2.output, m2.dtype, m2.alpha, m2.note) == \
        ([3, 4, 2], "tanh", "sigmoid", np.float32, 0.01, "kept")
    np.testing.assert_array_equal(m2._flat, model._flat)
    m2._flat[0] += 1
    assert m2.parameters()[0].flat[0] == m2._flat[0]           # views of one buffer
    X = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(model.predict_proba(X), pickle.loads(
        pickle.dumps(model)).predict_proba(X))


SCHEDULE_MAKERS = [
    lambda o: S.StepLR(o, 2), lambda o: S.MultiStepLR(o, [1, 3]),
    lambda o: S.ExponentialLR(o, 0.9), lambda o: S.CosineAnnealingLR(o, 10),
    lambda o: S.CosineAnnealingWarmRestarts(o, 3),
    lambda o: S.OneCycleLR(o, 0.1, total_steps=20),
    lambda o: S.LinearWarmup(o, 3, after=S.ExponentialDecay(o, 0.5)),
    lambda o: S.InverseTimeDecay(o, 0.5), lambda o: S.ReduceLROnPlateau(o),
    lambda o: S.LambdaLR(o, _halving),
]


def _halving(step):
    return 0.5 ** step


@pytest.mark.parametrize("make", SCHEDULE_MAKERS)
def test_every_schedule_pickles(make):
    model = fastgd.MLP([2, 2], seed=0)
    opt = fastgd.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = make(opt)
    for _ in range(3):
        sched.step(1.0) if isinstance(sched, S.ReduceLROnPlateau) else sched.step()
    opt2, sched2 = pickle.loads(pickle.dumps((opt, sched)))
    assert sched2.optimizer is opt2 and sched2.state_dict() == sched.state_dict()
    for s in (sched, sched2):
        s.step(2.0) if isinstance(s, S.ReduceLROnPlateau) else s.step()
    assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]


def test_joblib_round_trip(tmp_path):
    joblib = pytest.importorskip("joblib")
    (model, opt, sched), data = _trained("NAdam", np.float32)
    joblib.dump((model, opt, sched), tmp_path / "run.joblib")
    twin = joblib.load(tmp_path / "run.joblib")
    _continue((model, opt, sched), data)
    _continue(twin, data)
    _assert_same_state((model, opt, sched), twin)
