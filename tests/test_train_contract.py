"""fit's contract: determinism and threads, resuming, the input forms it accepts, what it
rejects (before changing anything), diverging runs, callbacks, validation, verbose."""
import copy
import re

import numpy as np
import pytest

import fastgd
from fastgd import reference, schedules
from problems import random_problem

SIZES = [5, 8, 6, 3]


def make_data(n=37, sizes=SIZES, output="softmax", dtype=np.float64, seed=0):
    return random_problem(n, sizes, output, dtype, seed, target_scale=3.0)


def train(X, y, *, sizes=SIZES, output="softmax", activation="tanh", dtype=np.float64,
          opt=fastgd.Adam, opt_kw=None, epochs=3, batch_size=7, seed=4, model=None,
          optimizer=None, **fit_kw):
    m = model or fastgd.MLP(sizes, activation, output, dtype=dtype, seed=1, alpha=0.01)
    o = optimizer or opt(m.parameters(), **(opt_kw or dict(lr=0.01)))
    h = fastgd.fit(m, X, y, o, epochs=epochs, batch_size=batch_size, seed=seed, **fit_kw)
    return m, o, h


def assert_state_equal(a, b):
    """Two optimizer.state_dict()s hold the same numbers, bit for bit."""
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        assert a["state"][i].keys() == b["state"][i].keys()
        for k, v in a["state"][i].items():
            np.testing.assert_array_equal(v, b["state"][i][k], err_msg=f"state {i}.{k}")


# ----------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_seed_same_bits(n_threads, dtype):
    X, y = make_data(dtype=dtype)
    m1, o1, h1 = train(X, y, dtype=dtype, n_threads=n_threads, seed=9)
    m2, o2, h2 = train(X, y, dtype=dtype, n_threads=n_threads, seed=9)
    np.testing.assert_array_equal(m1._flat, m2._flat)
    assert_state_equal(o1.state_dict(), o2.state_dict())
    assert h1.loss == h2.loss and h1.seed == h2.seed == 9


def test_small_model_is_bit_identical_for_any_thread_count():
    # below the engine's PAR_MIN threshold every step runs as one block, so the thread
    # count cannot change the arithmetic
    X, y = make_data()
    runs = [train(X, y, n_threads=t) for t in (1, 2, 3)]
    for m, o, h in runs[1:]:
        np.testing.assert_array_equal(m._flat, runs[0][0]._flat)
        assert h.loss == runs[0][2].loss


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_on_a_model_that_splits(dtype):
    """[64, 300, 200, 10] with batch 256 is split over threads (rows: 256·81710/64 elements
    > PAR_MIN per block; columns likewise).

    Finding: the results are NOT bit-identical across thread counts. Each thread calls BLAS
    on its block of rows (forward/backward) or of output columns (weight gradients), and
    OpenBLAS rounds a product differently depending on the block's shape (edge kernels,
    small-matrix paths): sgemm(A, W) split into 2/3/4 row or column blocks differs in the
    last bit from the whole product; dgemm mostly agrees but not for every split (here,
    after 2 Adam steps: float64 equal for 2 threads, 1779 of 81710 parameters off by
    <= 6e-17 for 3; float32 off by <= 8e-6 for 2 and 3). Loss partials are also summed per
    block. So only closeness is asserted here; the same thread count is bit-reproducible
    (above and below)."""
    sizes = [64, 300, 200, 10]
    X, y = make_data(n=512, sizes=sizes, dtype=dtype)
    runs = {}
    for t in (1, 2, 3):
        m, o, h = train(X, y, sizes=sizes, activation="relu", dtype=dtype, epochs=1,
                        batch_size=256, n_threads=t, opt_kw=dict(lr=1e-3))
        runs[t] = (m._flat.copy(), h.loss[0])
        again = train(X, y, sizes=sizes, activation="relu", dtype=dtype, epochs=1,
                      batch_size=256, n_threads=t, opt_kw=dict(lr=1e-3))
        np.testing.assert_array_equal(again[0]._flat, runs[t][0])
    # Adam's steps are ~lr·sign(g) whatever |g|, and a relu unit that flips on a last-bit
    # change alters its whole gradient row, so a parameter can move by up to ~lr per step:
    # float32 gets atol = lr / 10 (observed 8e-6); float64 stays far from any flip
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    for t in (2, 3):
        np.testing.assert_allclose(runs[t][0], runs[1][0], err_msg=f"threads {t} vs 1", **tol)
        assert runs[t][1] == pytest.approx(runs[1][1], rel=1e-12 if dtype == np.float64
                                           else 1e-6)


@pytest.mark.parametrize("opt, opt_kw, sched", [
    (fastgd.Adam, dict(lr=0.01), None),
    (fastgd.NAdam, {}, None),     # carries mu_product across steps
    (fastgd.SGD, dict(lr=0.05, momentum=0.9),
     lambda o: schedules.OneCycleLR(o, 0.1, total_steps=24, cycle_momentum=False)),
    (fastgd.RMSprop, {}, lambda o: schedules.StepLR(o, 1, 0.5)),
    (reference.Adam, dict(lr=0.01), None),    # the fallback path
])
def test_resume_equals_one_run(opt, opt_kw, sched):
    X, y = make_data()
    m1 = fastgd.MLP(SIZES, "tanh", dtype=np.float64, seed=1, alpha=0.01)
    m2 = m1.copy()
    o1, o2 = opt(m1.parameters(), **opt_kw), opt(m2.parameters(), **opt_kw)
    s1 = s2 = None
    if sched is not None:
        s1, s2 = sched(o1), sched(o2)
    h_all = fastgd.fit(m1, X, y, o1, epochs=4, batch_size=7, seed=5, schedule=s1)
    h_a = fastgd.fit(m2, X, y, o2, epochs=2, batch_size=7, seed=5, schedule=s2)
    h_b = fastgd.fit(m2, X, y, o2, epochs=2, batch_size=7, seed=5, schedule=s2,
                     initial_epoch=2)
    np.testing.assert_array_equal(m1._flat, m2._flat)
    assert_state_equal(o1.state_dict(), o2.state_dict())
    assert h_a.loss + h_b.loss == h_all.loss
    assert h_a.lr + h_b.lr == h_all.lr
    assert h_b.epoch == [2, 3]


def test_seeds_and_shuffle():
    X, y = make_data()
    a = train(X, y, seed=1)[0]._flat
    b = train(X, y, seed=2)[0]._flat
    assert not np.array_equal(a, b)
    c = train(X, y, seed=1, shuffle=False)[0]._flat
    d = train(X, y, seed=2, shuffle=False)[0]._flat
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(a, c)
    # an unseeded run records the seed it drew; passing it back redoes the run
    m, _, h = train(X, y, seed=None)
    assert isinstance(h.seed, int) and h.seed >= 0
    np.testing.assert_array_equal(train(X, y, seed=h.seed)[0]._flat, m._flat)


def test_shuffle_false_is_in_order():
    # with shuffle=False and batch 1 every epoch steps through rows 0, 1, ..., 9: the same
    # as stepping by hand; reversing the rows changes the result (so order matters here)
    X, y = make_data(n=10)
    fwd = train(X, y, batch_size=1, shuffle=False, opt=fastgd.SGD, opt_kw=dict(lr=0.1))[0]
    rev = train(X[::-1], y[::-1], batch_size=1, shuffle=False, opt=fastgd.SGD,
                opt_kw=dict(lr=0.1))[0]
    assert not np.array_equal(fwd._flat, rev._flat)
    m = fastgd.MLP(SIZES, "tanh", dtype=np.float64, seed=1, alpha=0.01)
    o = fastgd.SGD(m.parameters(), lr=0.1)
    for epoch in range(3):
        for i in range(10):
            _, grads = m.loss_and_grads(X[i:i + 1], y[i:i + 1])
            o.step(grads)
    np.testing.assert_allclose(fwd._flat, m._flat, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- data forms

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_input_forms_equal_c_contiguous(tmp_path, dtype):
    X, y = make_data(dtype=dtype)
    base = train(X, y, dtype=dtype)[0]._flat
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=dtype)
    wide[:, ::2] = X
    mm = np.memmap(tmp_path / "X.dat", dtype=dtype, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    mm_r = np.memmap(tmp_path / "X.dat", dtype=dtype, mode="r", shape=X.shape)
    forms = {"F-ordered": np.asfortranarray(X), "strided": wide[:, ::2],
             "reversed rows": X[::-1].copy()[::-1], "memmap": mm_r,
             "read-only": X.copy()}
    forms["read-only"].flags.writeable = False
    for name, Xf in forms.items():
        before = np.array(Xf, copy=True)
        np.testing.assert_array_equal(train(Xf, y, dtype=dtype)[0]._flat, base, err_msg=name)
        np.testing.assert_array_equal(Xf, before, err_msg=f"{name} was modified")


def test_mixed_dtypes_convert_like_astype():
    X, y = make_data()
    X32 = X.astype(np.float32)
    # float32 X, float64 model: the exact conversion float32 -> float64
    m, _, _ = train(X32, y, dtype=np.float64)
    np.testing.assert_array_equal(m._flat, train(X32.astype(np.float64), y)[0]._flat)
    ref = fastgd.MLP(SIZES, "tanh", dtype=np.float64, seed=1, alpha=0.01)
    reference.fit(ref, X32, y, reference.Adam(ref.parameters(), lr=0.01), epochs=3,
                  batch_size=7, seed=4)
    np.testing.assert_allclose(m._flat, ref._flat, rtol=1e-10, atol=1e-12)
    # float64 X, float32 model: rounded to float32 as astype does
    m, _, _ = train(X, y, dtype=np.float32)
    assert m._flat.dtype == np.float32
    np.testing.assert_array_equal(m._flat, train(X32, y, dtype=np.float32)[0]._flat)
    ref = fastgd.MLP(SIZES, "tanh", dtype=np.float32, seed=1, alpha=0.01)
    reference.fit(ref, X, y, reference.Adam(ref.parameters(), lr=0.01), epochs=3,
                  batch_size=7, seed=4)
    np.testing.assert_allclose(m._flat, ref._flat, rtol=1e-4, atol=1e-5)


def test_target_forms():
    X, y = make_data()
    base = train(X, y)[0]._flat
    for name, yf in {"one-hot": np.eye(3)[y], "one-hot bool": np.eye(3, dtype=bool)[y],
                     "float ids": y.astype(np.float64), "int32": y.astype(np.int32),
                     "list": y.tolist(), "strided": np.repeat(y, 2)[::2]}.items():
        np.testing.assert_array_equal(train(X, yf)[0]._flat, base, err_msg=name)
    # regression targets: a 1-D y for one output, strided and float32 Y
    Xl, Yl = make_data(output="linear", sizes=[5, 8, 6, 1])
    kw = dict(sizes=[5, 8, 6, 1], output="linear")
    base = train(Xl, Yl, **kw)[0]._flat
    np.testing.assert_array_equal(train(Xl, Yl[:, 0], **kw)[0]._flat, base)
    np.testing.assert_array_equal(train(Xl, np.repeat(Yl, 3, axis=1)[:, ::3], **kw)[0]._flat,
                                  base)
    Y32 = Yl.astype(np.float32)
    np.testing.assert_array_equal(train(Xl, Y32, **kw)[0]._flat,
                                  train(Xl, Y32.astype(np.float64), **kw)[0]._flat)
    before = Yl.copy()
    train(Xl, Yl, **kw)
    np.testing.assert_array_equal(Yl, before)


@pytest.mark.parametrize("opt", [fastgd.Adam, reference.Adam])
def test_last_partial_batch_used_or_dropped(opt):
    X, y = make_data(n=10)
    _, o, h = train(X, y, batch_size=4, epochs=2, opt=opt)
    assert o.state_dict()["state"][0]["step"] == 3 * 2
    assert h.samples == [10, 10]
    _, o, h = train(X, y, batch_size=4, epochs=2, opt=opt, drop_last=True)
    assert o.state_dict()["state"][0]["step"] == 2 * 2
    assert h.samples == [8, 8]
    _, o, h = train(X, y, batch_size=10, epochs=2, opt=opt, drop_last=True)
    assert o.state_dict()["state"][0]["step"] == 2


def test_zero_epochs_changes_nothing():
    X, y = make_data()
    m = fastgd.MLP(SIZES, seed=1, dtype=np.float64)
    before = m._flat.copy()
    m, o, h = train(X, y, model=m, epochs=0)
    np.testing.assert_array_equal(m._flat, before)
    assert len(h) == 0 and o.state_dict()["state"] == {}


# ----------------------------------------------------------------------------- errors

def _softmax_setup():
    X, y = make_data()
    m = fastgd.MLP(SIZES, "tanh", dtype=np.float64, seed=1)
    o = fastgd.Adam(m.parameters(), lr=0.01)
    s = schedules.ExponentialDecay(o, 0.9)
    fastgd.fit(m, X, y, o, epochs=1, batch_size=7, seed=0, schedule=s)   # state to protect
    return m, o, s, dict(X=X, y=y, epochs=2, batch_size=7, schedule=s)


def _nan_at(a, idx, value=np.nan):
    a = np.array(a, dtype=np.float64)
    a[idx] = value
    return a


other_model = fastgd.MLP(SIZES, dtype=np.float64, seed=2)

ERRORS = [
    # (id, change to fit's arguments, exception, pattern naming the argument)
    ("y shorter", lambda k: dict(y=k["y"][:-1]), ValueError, r"^y: "),
    ("y longer", lambda k: dict(y=np.append(k["y"], 0)), ValueError, r"^y: "),
    ("label out of range", lambda k: dict(y=np.where(k["y"] == 0, 3, k["y"])), ValueError,
     r"^y: class ids"),
    ("negative label", lambda k: dict(y=np.where(k["y"] == 0, -1, k["y"])), ValueError,
     r"^y: class ids"),
    ("fractional labels", lambda k: dict(y=k["y"] + 0.5), TypeError, r"^y: "),
    ("NaN label", lambda k: dict(y=_nan_at(k["y"], 3)), ValueError, r"^y: .*NaN"),
    ("inf label", lambda k: dict(y=_nan_at(k["y"], 3, np.inf)), ValueError, r"^y: .*NaN or inf"),
    ("huge label", lambda k: dict(y=_nan_at(k["y"], 3, 1e30)), ValueError, r"^y: class ids"),
    ("NaN in one-hot", lambda k: dict(y=_nan_at(np.eye(3)[k["y"]], (2, 1))), ValueError,
     r"^y: one-hot"),
    ("soft labels", lambda k: dict(y=np.full((37, 3), 1 / 3)), ValueError, r"^y: one-hot"),
    ("one-hot width", lambda k: dict(y=np.eye(4)[k["y"]]), ValueError, r"^y: one-hot"),
    ("string labels", lambda k: dict(y=k["y"].astype(str)), TypeError, r"^y: "),
    ("NaN in X", lambda k: dict(X=_nan_at(k["X"], (5, 2))), ValueError, r"^X: .*NaN.*row 5"),
    ("inf in X", lambda k: dict(X=_nan_at(k["X"], (36, 0), -np.inf)), ValueError,
     r"^X: .*NaN or inf"),
    ("batch_size 0", lambda k: dict(batch_size=0), ValueError, r"^batch_size"),
    ("batch_size -3", lambda k: dict(batch_size=-3), ValueError, r"^batch_size"),
    ("batch_size float", lambda k: dict(batch_size=7.0), TypeError, r"^batch_size"),
    ("batch_size bool", lambda k: dict(batch_size=True), TypeError, r"^batch_size"),
    ("batch_size None", lambda k: dict(batch_size=None), TypeError, r"^batch_size"),
    ("drop_last, batch > n", lambda k: dict(batch_size=38, drop_last=True), ValueError,
     r"^batch_size"),
    ("epochs -1", lambda k: dict(epochs=-1), ValueError, r"^epochs"),
    ("epochs float", lambda k: dict(epochs=2.0), TypeError, r"^epochs"),
    ("initial_epoch -1", lambda k: dict(initial_epoch=-1), ValueError, r"^initial_epoch"),
    ("empty X", lambda k: dict(X=k["X"][:0], y=k["y"][:0]), ValueError, r"^X: has no samples"),
    ("int X", lambda k: dict(X=k["X"].astype(np.int64)), TypeError, r"^X: .*float32 or float64"),
    ("float16 X", lambda k: dict(X=k["X"].astype(np.float16)), TypeError, r"^X: "),
    ("list X", lambda k: dict(X=k["X"].tolist()), TypeError, r"^X: "),
    ("1-D X", lambda k: dict(X=k["X"][:, 0]), ValueError, r"^X: .*2-D"),
    ("3-D X", lambda k: dict(X=k["X"][:, :, None]), ValueError, r"^X: .*2-D"),
    ("feature count", lambda k: dict(X=k["X"][:, :4]), ValueError, r"^X: has 4 features"),
    ("optimizer on other arrays",
     lambda k: dict(optimizer=fastgd.Adam(other_model.parameters())), ValueError, r"^optimizer"),
    ("not an optimizer", lambda k: dict(optimizer=object()), TypeError, r"^optimizer"),
    ("schedule of another optimizer",
     lambda k: dict(schedule=schedules.StepLR(fastgd.Adam(other_model.parameters()), 1)),
     ValueError, r"^schedule"),
    ("plateau per batch",
     lambda k: dict(schedule=schedules.ReduceLROnPlateau(k["optimizer"], interval="batch")),
     ValueError, r"^schedule"),
    ("validation not a pair", lambda k: dict(validation_data=(k["X"],)), TypeError,
     r"^validation_data"),
    ("validation X features", lambda k: dict(validation_data=(k["X"][:, :3], k["y"])),
     ValueError, r"^validation_data\[0\]"),
    ("validation NaN", lambda k: dict(validation_data=(_nan_at(k["X"], (0, 0)), k["y"])),
     ValueError, r"^validation_data\[0\]"),
    ("validation y length", lambda k: dict(validation_data=(k["X"], k["y"][:5])), ValueError,
     r"^validation_data\[1\]"),
    ("validation labels", lambda k: dict(validation_data=(k["X"], k["y"] + 3)), ValueError,
     r"^validation_data\[1\]"),
    ("seed", lambda k: dict(seed=-1), ValueError, r"^seed"),
    ("seed float", lambda k: dict(seed=1.5), TypeError, r"^seed"),
    ("n_threads", lambda k: dict(n_threads=0), ValueError, r"^n_threads"),
    ("loss", lambda k: dict(loss="mse"), TypeError, r"^loss"),
    ("callbacks", lambda k: dict(callbacks=[print, 3]), TypeError, r"^callbacks\[1\]"),
    ("model", lambda k: dict(model=object()), TypeError, r"^model"),
]


@pytest.mark.parametrize("change, exc, pattern", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_bad_arguments_change_nothing(change, exc, pattern):
    m, o, s, kw = _softmax_setup()
    kw.update(model=m, optimizer=o)
    params, state, sched = m._flat.copy(), copy.deepcopy(o.state_dict()), s.state_dict()
    lr = o.param_groups[0]["lr"]
    kw.update(change(kw))
    X = kw["X"]
    X_before = np.array(X, copy=True) if isinstance(X, np.ndarray) else None
    with pytest.raises(exc, match=pattern):
        fastgd.fit(kw.pop("model"), kw.pop("X"), kw.pop("y"), kw.pop("optimizer"), **kw)
    np.testing.assert_array_equal(m._flat, params)
    assert_state_equal(o.state_dict(), state)
    assert s.state_dict() == sched and o.param_groups[0]["lr"] == lr
    if X_before is not None:
        np.testing.assert_array_equal(X, X_before)


@pytest.mark.parametrize("output, y, pattern", [
    ("linear", lambda Y: _nan_at(Y, (3, 1)), r"^y: .*NaN"),
    ("linear", lambda Y: _nan_at(Y, (0, 0), np.inf), r"^y: .*NaN or inf"),
    ("linear", lambda Y: Y[:, :1], r"^y: expected shape"),
    ("linear", lambda Y: Y[:, 0], r"^y: expected shape"),
    ("linear", lambda Y: Y[:-2], r"^y: has 35 entries"),
    ("sigmoid", lambda Y: Y + 1, r"^y: sigmoid targets"),
    ("sigmoid", lambda Y: Y - 1, r"^y: sigmoid targets"),
    ("sigmoid", lambda Y: _nan_at(Y, (1, 1)), r"^y: .*NaN"),
])
def test_bad_targets_for_value_outputs(output, y, pattern):
    X, Y = make_data(output=output, sizes=[5, 8, 6, 2])
    m = fastgd.MLP([5, 8, 6, 2], "relu", output, dtype=np.float64, seed=1)
    o = fastgd.SGD(m.parameters(), lr=0.01, momentum=0.9)
    fastgd.fit(m, X, Y, o, epochs=1, batch_size=5, seed=0)
    params, state = m._flat.copy(), copy.deepcopy(o.state_dict())
    with pytest.raises(ValueError, match=pattern):
        fastgd.fit(m, X, y(Y), o, epochs=1, batch_size=5, seed=0)
    np.testing.assert_array_equal(m._flat, params)
    assert_state_equal(o.state_dict(), state)


# ----------------------------------------------------------------------------- diverging runs

def _diverge(dtype, opt, fit=fastgd.fit, good_epochs=2, schedule=None):
    """Train good_epochs at a sane rate; then a callback sets lr=1e6 (and snapshots the
    model and optimizer as they are at that epoch's end) so the next epoch diverges."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5)).astype(dtype)
    Y = (1e3 * rng.standard_normal((40, 2))).astype(dtype)
    m = fastgd.MLP([5, 4, 2], "relu", "linear", dtype=dtype, seed=0)
    o = opt(m.parameters(), lr=1e-4, momentum=0.9)
    s = None if schedule is None else schedule(o)
    snap = {}

    def callback(epoch, logs):
        if epoch == good_epochs - 1:
            o.param_groups[0]["lr"] = 1e6
            if s is not None:          # a per-batch schedule rewrites lr from its base
                s.base_lrs = [1e6]
            snap.update(params=m._flat.copy(), state=copy.deepcopy(o.state_dict()),
                        sched=None if s is None else s.state_dict())

    if good_epochs == 0:
        o.param_groups[0]["lr"] = 1e6
        snap.update(params=m._flat.copy(), state=copy.deepcopy(o.state_dict()), sched=None)
    with pytest.raises(fastgd.NonFiniteLossError) as info:
        fit(m, X, Y, o, epochs=10, batch_size=4, seed=0, callbacks=callback, schedule=s)
    return m, o, s, snap, info.value


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("path", ["engine", "fallback", "reference"])
def test_non_finite_loss_restores_last_epoch(dtype, path):
    opt = fastgd.SGD if path == "engine" else reference.SGD
    fit = reference.fit if path == "reference" else fastgd.fit
    m, o, _, snap, err = _diverge(dtype, opt, fit)
    assert err.epoch == 2 and 0 <= err.batch < 10
    assert re.search(rf"epoch 2, batch {err.batch} \(of 10\)", str(err))
    assert len(err.history) == 2 and not err.history.stopped_early
    np.testing.assert_array_equal(m._flat, snap["params"])
    assert_state_equal(o.state_dict(), snap["state"])
    assert o.state_dict()["state"][0]["step"] == 20
    assert np.isfinite(m._flat).all()


def test_non_finite_loss_in_first_epoch_restores_start():
    m, o, _, snap, err = _diverge(np.float64, fastgd.SGD, good_epochs=0)
    assert err.epoch == 0 and err.batch > 0     # the first batch's loss was finite
    np.testing.assert_array_equal(m._flat, snap["params"])
    assert o.state_dict()["state"] == {}


def test_non_finite_loss_restores_per_batch_schedule():
    def sched(o):
        return schedules.LinearWarmup(o, 1000, start_factor=1.0, interval="batch")
    m, o, s, snap, err = _diverge(np.float64, fastgd.SGD, schedule=sched)
    np.testing.assert_array_equal(m._flat, snap["params"])
    assert s.state_dict() == snap["sched"] and s.last_epoch == 20


# ----------------------------------------------------------------------------- callbacks

def test_callable_returning_true_stops():
    X, y = make_data()
    calls = []

    def stop_at_1(epoch, logs):
        calls.append(epoch)
        return epoch == 1

    also = []
    _, o, h = train(X, y, epochs=10, callbacks=[stop_at_1, lambda e, logs: also.append(e)])
    assert h.stopped_early and len(h) == 2 and h.epoch == [0, 1]
    assert calls == [0, 1] and also == [0, 1]     # every callback sees the last epoch
    assert o.state_dict()["state"][0]["step"] == 2 * 6
    _, _, h = train(X, y, epochs=3, callbacks=lambda e, logs: None)
    assert not h.stopped_early and len(h) == 3


def test_on_epoch_end_object_gets_logs():
    X, y = make_data()
    Xv, yv = make_data(seed=3)

    class Recorder:
        def __init__(self):
            self.logs = []

        def on_epoch_end(self, epoch, logs):
            logs["loss"] = -1.0          # a copy: must not reach the History
            self.logs.append((epoch, logs))

    rec = Recorder()
    m, _, h = train(X, y, epochs=3, callbacks=rec, validation_data=(Xv, yv), initial_epoch=1)
    assert [e for e, _ in rec.logs] == [1, 2, 3]
    for (epoch, logs), loss, lr in zip(rec.logs, h.loss, h.lr):
        assert {"epoch", "loss", "lr", "time", "samples", "val_loss",
                "val_metric"} <= logs.keys()
        assert logs["epoch"] == epoch and logs["lr"] == lr and logs["time"] >= 0
        assert logs["samples"] == 37
    assert all(v > 0 for v in h.loss)


@pytest.mark.parametrize("output", ["softmax", "sigmoid", "linear"])
def test_validation_metrics_equal_model_methods(output):
    sizes = [5, 8, 6, 3 if output == "softmax" else 2]
    X, y = make_data(output=output, sizes=sizes)
    Xv, yv = make_data(output=output, sizes=sizes, n=20, seed=7)
    for n_epochs in (1, 3):
        m, _, h = train(X, y, sizes=sizes, output=output, epochs=n_epochs,
                        validation_data=(Xv, yv))
        assert h.metric_name == ("r2" if output == "linear" else "accuracy")
        assert len(h.val_loss) == len(h.val_metric) == n_epochs
        assert h.val_loss[-1] == m.loss(Xv, yv)
        assert h.val_metric[-1] == m.score(Xv, yv)
    _, _, h = train(X, y, sizes=sizes, output=output)
    assert h.val_loss == [None] * 3 and h.val_metric == [None] * 3


def test_history_fields():
    X, y = make_data()
    m, o, h = train(X, y, epochs=2)
    assert h.as_dict().keys() == {"epoch", "loss", "train_metric", "val_loss", "val_metric",
                                  "lr", "time", "samples"}
    assert h.lr == [0.01, 0.01] and h.samples == [37, 37]
    assert h.samples_per_second > 0 and all(t > 0 for t in h.time)
    # the last epoch's loss is the sample-weighted mean of its batch losses plus the
    # penalty at its end: with one full batch and lr=0 it is the model's loss
    m2 = fastgd.MLP(SIZES, "tanh", dtype=np.float64, seed=1, alpha=0.01)
    h2 = fastgd.fit(m2, X, y, fastgd.SGD(m2.parameters(), lr=0.0), epochs=1, batch_size=37)
    assert h2.loss[0] == pytest.approx(m2.loss(X, y), rel=1e-12)


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = make_data()
    train(X, y, epochs=3)
    assert capsys.readouterr().out == ""
    train(X, y, epochs=3, verbose=1, validation_data=(X, y))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert line.startswith(f"epoch {i + 1}/3")
        assert "loss" in line and "val_loss" in line and "val_accuracy" in line
        assert "samples/s" in line
    train(X, y, epochs=2, verbose=1, initial_epoch=4)
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[1] for ln in lines] == ["5/6", "6/6"]
