"""fastgd.save / fastgd.load and exact resume: a run stopped after epoch k and resumed with
fit(initial_epoch=k) ends with the same bits as one that never stopped, for every
optimizer, per-epoch and per-batch schedules and ReduceLROnPlateau, whichever way the
objects are rebuilt (a checkpoint, a pickle, state dicts loaded in either order)."""
import pickle

import numpy as np
import pytest

import fastgd
from fastgd import schedules as S

# every optimizer, with the options that give it all the state it can keep
OPTIMIZERS = {
    "SGD": lambda p: fastgd.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "SGD-plain": lambda p: fastgd.SGD(p, lr=0.05),
    "Momentum": lambda p: fastgd.Momentum(p, lr=0.05, bias_correction=True),
    "Adam": lambda p: fastgd.Adam(p, lr=0.01, amsgrad=True),
    "AdamW": lambda p: fastgd.AdamW(p, lr=0.01),
    "RMSprop": lambda p: fastgd.RMSprop(p, lr=0.005, momentum=0.5, centered=True),
    "Adagrad": lambda p: fastgd.Adagrad(p, lr=0.05, lr_decay=1e-3,
                                        initial_accumulator_value=0.1),
    "Adadelta": lambda p: fastgd.Adadelta(p, lr=1.0),
    "Adamax": lambda p: fastgd.Adamax(p, lr=0.01),
    "NAdam": lambda p: fastgd.NAdam(p, lr=0.01),
    "RAdam": lambda p: fastgd.RAdam(p, lr=0.01),
}

SCHEDULES = {
    "none": None,
    "StepLR": lambda o: S.StepLR(o, step_size=1, gamma=0.7),
    "OneCycleLR-batch": lambda o: S.OneCycleLR(o, max_lr=0.02, total_steps=200,
                                               interval="batch", cycle_momentum=False),
    "warmup-cosine-batch": lambda o: S.LinearWarmup(
        o, 5, after=S.CosineAnnealingLR(o, T_max=100, interval="batch")),
    "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=0,
                                                       threshold=0.5),
}

EPOCHS, SPLIT = 4, 2


def _problem(dtype=np.float64, n=45):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 6)).astype(dtype)
    y = rng.integers(0, 3, n)
    return X, y, (X[:15], y[:15])


def _objects(opt_name, sched_name, dtype=np.float64):
    model = fastgd.MLP([6, 7, 3], dtype=dtype, seed=2)
    opt = OPTIMIZERS[opt_name](model.parameters())
    make = SCHEDULES[sched_name]
    return model, opt, (make(opt) if make else None)


def _fit(model, opt, sched, epochs, initial_epoch=0, fit=fastgd.fit):
    X, y, val = _problem(model.dtype)
    return fit(model, X, y, opt, epochs=epochs, batch_size=8, seed=11, schedule=sched,
               validation_data=val, initial_epoch=initial_epoch)


def _assert_same_state(a, b):
    """Model, optimizer and schedule of two runs agree bit for bit."""
    (ma, oa, sa), (mb, ob, sb) = a, b
    np.testing.assert_array_equal(ma._flat, mb._flat)
    da, db = oa.state_dict(), ob.state_dict()
    assert da["param_groups"] == db["param_groups"]
    assert da["state"].keys() == db["state"].keys()
    for i in da["state"]:
        for k, v in da["state"][i].items():
            np.testing.assert_array_equal(v, db["state"][i][k], err_msg=f"state {i} {k}")
    if sa is not None:
        assert sa.state_dict() == sb.state_dict()


def _rebuild_checkpoint(tmp_path, model, opt, sched, history):
    path = fastgd.save(tmp_path / "run", model, opt, sched, history)
    ckpt = fastgd.load(path)
    assert ckpt.epoch == SPLIT and ckpt.seed == 11
    return ckpt.model, ckpt.optimizer, ckpt.schedule


def _rebuild_pickle(tmp_path, model, opt, sched, history):
    return pickle.loads(pickle.dumps((model, opt, sched)))


def _rebuild_optimizer_then_schedule(tmp_path, model, opt, sched, history, opt_name,
                                     sched_name):
    """The order that used to lose the rate: the optimizer's state is loaded, then the
    schedule is built (its constructor writes the base rate), then its state loaded."""
    model2 = fastgd.MLP.load(fastgd.save(tmp_path / "m", model))
    opt2 = OPTIMIZERS[opt_name](model2.parameters())
    opt2.load_state_dict(opt.state_dict())
    sched2 = None
    if sched is not None:
        sched2 = SCHEDULES[sched_name](opt2)
        sched2.load_state_dict(sched.state_dict())
    return model2, opt2, sched2


def _rebuild_schedule_then_optimizer(tmp_path, model, opt, sched, history, opt_name,
                                     sched_name):
    model2 = fastgd.MLP.load(fastgd.save(tmp_path / "m", model))
    opt2 = OPTIMIZERS[opt_name](model2.parameters())
    sched2 = SCHEDULES[sched_name](opt2) if sched is not None else None
    if sched2 is not None:
        sched2.load_state_dict(sched.state_dict())
    opt2.load_state_dict(opt.state_dict())
    return model2, opt2, sched2


REBUILDS = ["checkpoint", "pickle", "optimizer-then-schedule", "schedule-then-optimizer"]


def _rebuild(how, tmp_path, objs, history, opt_name, sched_name):
    if how == "checkpoint":
        return _rebuild_checkpoint(tmp_path, *objs, history)
    if how == "pickle":
        return _rebuild_pickle(tmp_path, *objs, history)
    fn = (_rebuild_optimizer_then_schedule if how == "optimizer-then-schedule"
          else _rebuild_schedule_then_optimizer)
    return fn(tmp_path, *objs, history, opt_name, sched_name)


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("sched_name", ["none", "StepLR", "OneCycleLR-batch"])
def test_resume_is_bit_identical_every_optimizer(opt_name, sched_name, tmp_path):
    whole = _objects(opt_name, sched_name)
    h_whole = _fit(*whole, EPOCHS)
    part = _objects(opt_name, sched_name)
    h_part = _fit(*part, SPLIT)
    resumed = _rebuild("checkpoint", tmp_path, part, h_part, opt_name, sched_name)
    h_rest = _fit(*resumed, EPOCHS - SPLIT, initial_epoch=SPLIT)
    _assert_same_state(whole, resumed)
    assert h_part.loss + h_rest.loss == h_whole.loss
    assert h_part.lr + h_rest.lr == h_whole.lr


@pytest.mark.parametrize("how", REBUILDS)
@pytest.mark.parametrize("sched_name", list(SCHEDULES))
@pytest.mark.parametrize("opt_name", ["Adam", "SGD", "NAdam"])
def test_resume_is_bit_identical_whatever_the_rebuild_order(how, sched_name, opt_name,
                                                            tmp_path):
    whole = _objects(opt_name, sched_name)
    h_whole = _fit(*whole, EPOCHS)
    part = _objects(opt_name, sched_name)
    h_part = _fit(*part, SPLIT)
    resumed = _rebuild(how, tmp_path, part, h_part, opt_name, sched_name)
    h_rest = _fit(*resumed, EPOCHS - SPLIT, initial_epoch=SPLIT)
    _assert_same_state(whole, resumed)
    assert h_part.lr + h_rest.lr == h_whole.lr
    assert h_part.val_loss + h_rest.val_loss == h_whole.val_loss


def test_reduce_on_plateau_resume_keeps_the_reduced_rate(tmp_path):
    """The plateau rule must have acted before the split for the test to mean anything."""
    model, opt, sched = _objects("Adam", "ReduceLROnPlateau")
    _fit(model, opt, sched, SPLIT)
    assert opt.param_groups[0]["lr"] < 0.01
    ckpt = fastgd.load(fastgd.save(tmp_path / "p", model, opt, sched))
    assert ckpt.optimizer.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert ckpt.schedule.state_dict() == sched.state_dict()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resume_float32_and_float64(dtype, tmp_path):
    whole = _objects("Adam", "OneCycleLR-batch", dtype)
    _fit(*whole, EPOCHS)
    part = _objects("Adam", "OneCycleLR-batch", dtype)
    h = _fit(*part, SPLIT)
    ckpt = fastgd.load(fastgd.save(tmp_path / "c", *part, h))
    assert ckpt.model.dtype == dtype
    resumed = (ckpt.model, ckpt.optimizer, ckpt.schedule)
    _fit(*resumed, EPOCHS - SPLIT, initial_epoch=ckpt.epoch)
    _assert_same_state(whole, resumed)


def test_resume_with_param_groups(tmp_path):
    """Two param groups (no weight decay on biases, out of the model's order) run in the C
    engine; the checkpoint keeps the groups and their order."""
    def make():
        model = fastgd.MLP([6, 7, 3], dtype=np.float64, seed=2)
        p = model.parameters()
        opt = fastgd.AdamW([{"params": p[1::2], "weight_decay": 0.0},
                            {"params": p[0::2], "lr": 0.02}], lr=0.01)
        return model, opt, S.StepLR(opt, 1, gamma=0.9)
    whole = make()
    _fit(*whole, EPOCHS)
    part = make()
    h = _fit(*part, SPLIT)
    assert h.fast_path
    ckpt = fastgd.load(fastgd.save(tmp_path / "g", *part, h))
    resumed = (ckpt.model, ckpt.optimizer, ckpt.schedule)
    assert [len(g["params"]) for g in ckpt.optimizer.param_groups] == [2, 2]
    assert ckpt.optimizer.param_groups[0]["params"][0] is ckpt.model.parameters()[1]
    _fit(*resumed, EPOCHS - SPLIT, initial_epoch=SPLIT)
    _assert_same_state(whole, resumed)


def test_reference_fit_resumes_from_a_checkpoint(tmp_path):
    """The reference loop (per-batch Python) gives the same bits after a resume too."""
    whole = _objects("RMSprop", "StepLR")
    _fit(*whole, EPOCHS, fit=fastgd.reference.fit)
    part = _objects("RMSprop", "StepLR")
    h = _fit(*part, SPLIT, fit=fastgd.reference.fit)
    ckpt = fastgd.load(fastgd.save(tmp_path / "r", *part, h))
    resumed = (ckpt.model, ckpt.optimizer, ckpt.schedule)
    _fit(*resumed, EPOCHS - SPLIT, initial_epoch=SPLIT, fit=fastgd.reference.fit)
    _assert_same_state(whole, resumed)


# ----------------------------------------------------------------------------- contents

def test_checkpoint_round_trips_everything(tmp_path):
    model, opt, sched = _objects("NAdam", "warmup-cosine-batch")
    h = _fit(model, opt, sched, 1)
    path = fastgd.save(tmp_path / "all", model, opt, sched, h, note="first run",
                       seed=11, sizes=(1, 2))
    assert path == str(tmp_path / "all.npz")
    ckpt = fastgd.load(path)
    assert isinstance(ckpt, fastgd.Checkpoint) and ckpt.path == path
    assert ckpt.meta == {"note": "first run", "seed": 11, "sizes": (1, 2)}
    assert ckpt.epoch == 1 and ckpt.batch is None
    assert ckpt.history == h
    assert ckpt.optimizer._group_state[0]["mu_product"] == opt._group_state[0]["mu_product"]
    assert isinstance(ckpt.schedule, S.LinearWarmup)
    assert isinstance(ckpt.schedule.after, S.CosineAnnealingLR)
    assert ckpt.schedule.optimizer is ckpt.optimizer is ckpt.schedule.after.optimizer
    assert ckpt.schedule_state == sched.state_dict()
    assert all(a is b for a, b in zip(ckpt.optimizer.param_groups[0]["params"],
                                      ckpt.model.parameters()))
    # a checkpoint is also a model file
    np.testing.assert_array_equal(fastgd.MLP.load(path)._flat, model._flat)


def test_model_only_and_explicit_epoch_batch(tmp_path):
    model = fastgd.MLP([3, 2], seed=0)
    ckpt = fastgd.load(fastgd.save(tmp_path / "m.npz", model, epoch=7, batch=3))
    assert (ckpt.optimizer, ckpt.schedule, ckpt.history) == (None, None, None)
    assert (ckpt.epoch, ckpt.batch) == (7, 3)
    np.testing.assert_array_equal(ckpt.model._flat, model._flat)


def test_lambda_schedule_state_is_kept_for_the_user_to_rebuild(tmp_path):
    model, opt, _ = _objects("SGD", "none")
    sched = S.LambdaLR(opt, lambda t: 0.5 ** t)
    sched.advance(3)
    ckpt = fastgd.load(fastgd.save(tmp_path / "l", model, opt, sched))
    assert ckpt.schedule is None
    rebuilt = S.LambdaLR(ckpt.optimizer, lambda t: 0.5 ** t)
    rebuilt.load_state_dict(ckpt.schedule_state)
    assert ckpt.optimizer.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.05 / 8


@pytest.mark.parametrize("call, exc, match", [
    (lambda m, o, s: fastgd.save("x", "model"), TypeError, "model"),
    (lambda m, o, s: fastgd.save("x", m, o, s, epoch=-1), ValueError, "epoch"),
    (lambda m, o, s: fastgd.save("x", m, o, s, batch=1.5), TypeError, "batch"),
    (lambda m, o, s: fastgd.save("x", m, None, s), ValueError, "schedule"),
    (lambda m, o, s: fastgd.save("x", m, o, s, history={}), TypeError, "history"),
    (lambda m, o, s: fastgd.save("x", m, o, s, extra=object()), TypeError, "meta"),
    (lambda m, o, s: fastgd.save("x", m, fastgd.reference.Adam(m.parameters())), TypeError,
     "optimizer"),
    (lambda m, o, s: fastgd.save("x", fastgd.MLP([6, 7, 3], dtype=np.float64), o),
     ValueError, "optimizer"),
])
def test_save_rejects_bad_arguments_and_writes_nothing(call, exc, match, tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, opt, sched = _objects("Adam", "StepLR")
    with pytest.raises(exc, match=match):
        call(model, opt, sched)
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path, monkeypatch):
    """A crash while writing leaves the previous checkpoint whole, and no stray file."""
    model, opt, sched = _objects("Adam", "StepLR")
    path = fastgd.save(tmp_path / "ck", model, opt, sched)
    before = (tmp_path / "ck.npz").read_bytes()
    _fit(model, opt, sched, 1)

    def crash(*args, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr("fastgd._runtime.npzio.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        fastgd.save(path, model, opt, sched)
    assert (tmp_path / "ck.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    monkeypatch.undo()
    fastgd.save(path, model, opt, sched)
    np.testing.assert_array_equal(fastgd.load(path).model._flat, model._flat)


# ----------------------------------------------------------------------------- mid-epoch

class StopAt:
    """Stops training after ``batches`` batches of epoch ``epoch`` (on_batches_end)."""

    def __init__(self, epoch, batches):
        self.epoch, self.batches = epoch, batches

    def on_batches_end(self, epoch, logs):
        return epoch == self.epoch and logs["batches"] == self.batches


@pytest.mark.parametrize("sched_name", ["none", "StepLR", "OneCycleLR-batch",
                                        "ReduceLROnPlateau"])
@pytest.mark.parametrize("opt_name", ["Adam", "NAdam", "SGD"])
def test_resume_mid_epoch_is_bit_identical(opt_name, sched_name, tmp_path):
    """Stopped after batch 2 of epoch 1 (6 batches per epoch), saved, resumed with
    initial_batch: the same bits as the uninterrupted run. (ReduceLROnPlateau watches the
    validation loss here: a training loss of a resumed epoch covers its remaining batches
    only.)"""
    whole = _objects(opt_name, sched_name)
    _fit(*whole, EPOCHS)
    part = _objects(opt_name, sched_name)
    X, y, val = _problem()
    h = fastgd.fit(part[0], X, y, part[1], epochs=EPOCHS, batch_size=8, seed=11,
                   schedule=part[2], validation_data=val, callbacks=[StopAt(1, 2)],
                   callback_every=2)
    assert h.stopped_at == (1, 2) and h.samples[-1] == 16
    ckpt = fastgd.load(fastgd.save(tmp_path / "mid", *part, h))
    assert (ckpt.epoch, ckpt.batch) == (1, 2)
    resumed = (ckpt.model, ckpt.optimizer, ckpt.schedule)
    h2 = fastgd.fit(ckpt.model, X, y, ckpt.optimizer, epochs=EPOCHS - ckpt.epoch,
                    batch_size=8, seed=ckpt.seed, schedule=ckpt.schedule,
                    validation_data=val, initial_epoch=ckpt.epoch,
                    initial_batch=ckpt.batch)
    assert h2.samples[0] == 45 - 16
    _assert_same_state(whole, resumed)


def test_initial_batch_bad():
    model, opt, _ = _objects("SGD", "none")
    X, y, _ = _problem()
    for bad, exc in ((6, ValueError), (-1, ValueError), (1.0, TypeError)):
        with pytest.raises(exc, match="initial_batch"):
            fastgd.fit(model, X, y, opt, epochs=1, batch_size=8, initial_batch=bad)


@pytest.mark.parametrize("sched_name", ["StepLR", "OneCycleLR-batch"])
def test_reference_fit_resumes_mid_epoch_too(sched_name, tmp_path):
    """The specification has the same mid-epoch semantics: stopped_at, no per-epoch step
    for an epoch cut short, initial_batch; and the engine agrees with it."""
    X, y, val = _problem()
    runs = {}
    for fit in (fastgd.fit, fastgd.reference.fit):
        whole = _objects("Adam", sched_name)
        fit(whole[0], X, y, whole[1], epochs=EPOCHS, batch_size=8, seed=11,
            schedule=whole[2], validation_data=val)
        part = _objects("Adam", sched_name)
        h = fit(part[0], X, y, part[1], epochs=EPOCHS, batch_size=8, seed=11,
                schedule=part[2], validation_data=val, callbacks=[StopAt(1, 2)],
                callback_every=2)
        assert h.stopped_at == (1, 2)
        ckpt = fastgd.load(fastgd.save(tmp_path / "mid", *part, h))
        resumed = (ckpt.model, ckpt.optimizer, ckpt.schedule)
        fit(ckpt.model, X, y, ckpt.optimizer, epochs=EPOCHS - 1, batch_size=8, seed=11,
            schedule=ckpt.schedule, validation_data=val, initial_epoch=1, initial_batch=2)
        _assert_same_state(whole, resumed)
        runs[fit] = whole
    np.testing.assert_allclose(runs[fastgd.fit][0]._flat, runs[fastgd.reference.fit][0]._flat,
                               rtol=1e-10, atol=1e-12)
    assert runs[fastgd.fit][2].state_dict() == runs[fastgd.reference.fit][2].state_dict()
