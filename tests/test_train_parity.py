"""fastgd.fit (whole epochs in the C engine) against fastgd.reference.fit (NumPy forward,
backward and optimizer step, the specification), trained side by side from one model.

Tolerances. float64: rtol 1e-10 on parameters, optimizer state and History losses after 3
epochs (observed <= 4e-12: the engine's GEMMs sum each dot product in BLAS's order, NumPy's
matmul in its own, and those last-bit differences travel through up to 111 steps).
float32: rtol 1e-4, atol 1e-5 (observed differences stay within ~1.2% of that bound) --
sgemm's blocked, FMA summation order differs from NumPy's matmul, float32 keeps ~7
digits, and each step's rounding feeds the next step's gradient, so differences grow with
the number of steps and another CPU's sgemm kernel may round differently again; History
losses are compared at rtol 1e-5 (observed 1.6e-7; the engine also sums the loss in
double, the reference in float32)."""
import itertools

import numpy as np
import pytest

import fastgd
from fastgd import reference, schedules

N = 37
HIDDEN = [5, 8, 6]
EPOCHS = 3
F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-4, atol=1e-5)
N_OUT = {"softmax": 3, "sigmoid": 2, "linear": 2}
BATCHES = [1, 7, N]

# defaults, except a rate that moves plain SGD visibly in 3 epochs
OPT_KW = {name: {} for name in fastgd.optim.OPTIMIZERS}
OPT_KW["SGD"] = dict(lr=0.05)
# non-default options that change the C kernel's branch
VARIANTS = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, buffer_init="zeros",
                 lr_in_momentum=True)),
    ("Momentum", dict(lr=0.05, beta=0.8, bias_correction=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=1e-2)),
    ("Adam", dict(lr=0.01, epsilon_hat=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("RMSprop", dict(lr=0.01, eps_inside_sqrt=True, weight_decay=1e-3)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("NAdam", dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.01)),
]


def make_data(output, dtype=np.float64, n=N, n_in=HIDDEN[0], seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    n_out = N_OUT[output]
    if output == "softmax":
        y = rng.integers(0, n_out, n)
    elif output == "sigmoid":
        y = (rng.random((n, n_out)) > 0.5).astype(dtype)
    else:
        y = rng.standard_normal((n, n_out)).astype(dtype)
    return X, y


def fit_pair(output="softmax", activation="tanh", opt="Adam", opt_kw=None, batch_size=7,
             alpha=0.0, dtype=np.float64, data=None, schedule=None, groups=None, **fit_kw):
    """Train one model with fastgd.fit and a copy with reference.fit; returns both sides as
    (model, optimizer, history, schedule)."""
    X, y = make_data(output, dtype) if data is None else data
    model = fastgd.MLP(HIDDEN + [N_OUT[output]], activation, output, dtype=dtype, seed=1,
                       alpha=alpha)
    twin = model.copy()
    kw = OPT_KW[opt] if opt_kw is None else opt_kw
    epochs = fit_kw.pop("epochs", EPOCHS)
    sides = []
    for m, fit, classes in ((model, fastgd.fit, fastgd.optim.OPTIMIZERS),
                            (twin, reference.fit, reference.OPTIMIZERS)):
        params = m.parameters() if groups is None else groups(m.parameters())
        o = classes[opt](params, **kw)
        s = None if schedule is None else schedule(o)
        h = fit(m, X, y, o, epochs=epochs, batch_size=batch_size, seed=11, schedule=s,
                **fit_kw)
        sides.append((m, o, h, s))
    return sides


def assert_same(fast, ref, tol, msg, loss_tol=None):
    (mf, of, hf, sf), (mr, or_, hr, sr) = fast, ref
    for i, (a, b) in enumerate(zip(mf.parameters(), mr.parameters())):
        assert a.dtype == mf.dtype
        np.testing.assert_allclose(a, b, err_msg=f"{msg}: param {i}", **tol)
    fs, rs = of.state_dict(), or_.state_dict()
    assert fs["param_groups"] == rs["param_groups"], msg
    assert fs["state"].keys() == rs["state"].keys(), msg
    for i in fs["state"]:
        assert fs["state"][i].keys() == rs["state"][i].keys(), msg
        for k, v in fs["state"][i].items():
            np.testing.assert_allclose(v, rs["state"][i][k], err_msg=f"{msg}: state {i}.{k}",
                                       **tol)
    assert hf.epoch == hr.epoch and hf.samples == hr.samples, msg
    assert hf.lr == hr.lr, msg              # schedules exist once, in Python floats
    np.testing.assert_allclose(hf.loss, hr.loss, rtol=loss_tol or tol["rtol"], atol=0,
                               err_msg=f"{msg}: history loss")
    assert all(np.isfinite(hf.loss))
    if sf is not None:
        assert sf.state_dict().keys() == sr.state_dict().keys()
        assert getattr(sf, "last_epoch", None) == getattr(sr, "last_epoch", None)


def _moved(fast, msg):
    """Guard against a vacuous comparison: training must have changed the model."""
    m, o, h, _ = fast
    assert o.state_dict()["state"], msg
    assert h.fast_path, f"{msg}: expected the C engine to run"


# ----------------------------------------------------- Adam: every output, activation, batch

@pytest.mark.parametrize("output", ["softmax", "sigmoid", "linear"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "identity"])
@pytest.mark.parametrize("batch_size", BATCHES)
@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_adam_every_output_and_activation(output, activation, batch_size, alpha):
    fast, ref = fit_pair(output, activation, "Adam", batch_size=batch_size, alpha=alpha)
    msg = f"Adam {output} {activation} batch={batch_size} alpha={alpha}"
    _moved(fast, msg)
    assert_same(fast, ref, F64, msg)


# ----------------------------------------------------- every optimizer, every batch size

@pytest.mark.parametrize("opt", list(fastgd.optim.OPTIMIZERS))
@pytest.mark.parametrize("batch_size", BATCHES)
@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_every_optimizer(opt, batch_size, alpha):
    fast, ref = fit_pair("softmax", "tanh", opt, batch_size=batch_size, alpha=alpha)
    msg = f"{opt} softmax tanh batch={batch_size} alpha={alpha}"
    _moved(fast, msg)
    assert_same(fast, ref, F64, msg)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{'-'.join(v[1])}")
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_optimizer_options(variant, output):
    opt, kw = variant
    fast, ref = fit_pair(output, "relu", opt, kw, batch_size=7, alpha=0.01)
    msg = f"{opt} {kw} {output}"
    _moved(fast, msg)
    assert_same(fast, ref, F64, msg)


@pytest.mark.parametrize("batch_size, drop_last", [(4, False), (36, False), (N, False),
                                                   (N + 5, False), (4, True), (36, True),
                                                   (N, True)])
def test_batch_edges(batch_size, drop_last):
    fast, ref = fit_pair("softmax", "relu", "NAdam", batch_size=batch_size,
                         drop_last=drop_last)
    per_epoch = N // batch_size if drop_last else -(-N // batch_size)
    assert fast[1].state_dict()["state"][0]["step"] == EPOCHS * per_epoch
    assert fast[2].samples == [per_epoch * batch_size if drop_last else N] * EPOCHS
    assert_same(fast, ref, F64, f"batch={batch_size} drop_last={drop_last}")


def test_batch_larger_than_data_is_full_batch():
    # batch_size > len(X) used to fail in the engine ("larger than the engine's buffers")
    # while the reference ran one batch of all rows
    big, _ = fit_pair("linear", "tanh", "Adam", batch_size=N + 100)
    full, _ = fit_pair("linear", "tanh", "Adam", batch_size=N)
    np.testing.assert_array_equal(big[0]._flat, full[0]._flat)
    assert big[2].loss == full[2].loss


# ----------------------------------------------------------------------------- float32

@pytest.mark.parametrize("output", ["softmax", "sigmoid", "linear"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "identity"])
@pytest.mark.parametrize("opt", ["Adam", "SGD"])
def test_float32(output, activation, opt):
    for batch_size in (1, 7, N):
        fast, ref = fit_pair(output, activation, opt, batch_size=batch_size, alpha=0.01,
                             dtype=np.float32)
        assert fast[0]._flat.dtype == np.float32 and ref[0]._flat.dtype == np.float32
        assert all(v.dtype == np.float32 for e in fast[1].state.values()
                   for v in e.values() if isinstance(v, np.ndarray))
        assert_same(fast, ref, F32, f"float32 {opt} {output} {activation} batch={batch_size}",
                     loss_tol=1e-5)


@pytest.mark.parametrize("opt", list(fastgd.optim.OPTIMIZERS))
def test_float32_every_optimizer(opt):
    fast, ref = fit_pair("softmax", "tanh", opt, batch_size=7, dtype=np.float32)
    assert_same(fast, ref, F32, f"float32 {opt}", loss_tol=1e-5)


# ----------------------------------------------------------------------------- schedules

SCHEDULES = {
    "ExponentialDecay": lambda o: schedules.ExponentialDecay(o, gamma=0.5),
    "StepLR": lambda o: schedules.StepLR(o, step_size=2, gamma=0.1),
    "CosineAnnealingLR": lambda o: schedules.CosineAnnealingLR(o, T_max=EPOCHS),
    "OneCycleLR": lambda o: schedules.OneCycleLR(o, max_lr=0.05, total_steps=EPOCHS * 6,
                                                 cycle_momentum=False),
    "LinearWarmup-batch": lambda o: schedules.LinearWarmup(o, 10, interval="batch"),
    "LinearWarmup-after": lambda o: schedules.LinearWarmup(
        o, 4, after=schedules.ExponentialDecay(o, 0.9, interval="batch")),
    "ReduceLROnPlateau": lambda o: schedules.ReduceLROnPlateau(o, factor=0.5, patience=0,
                                                               threshold=0.5),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("opt", ["Adam", "SGD"])
def test_schedules(name, opt):
    kw = dict(lr=0.05, momentum=0.9) if opt == "SGD" else dict(lr=0.05)
    fast, ref = fit_pair("softmax", "tanh", opt, kw, batch_size=7, schedule=SCHEDULES[name])
    msg = f"{name} {opt}"
    _moved(fast, msg)
    assert len(set(fast[2].lr)) > 1, f"{msg}: the schedule never changed the rate"
    assert_same(fast, ref, F64, msg)
    assert fast[1].param_groups[0]["lr"] == ref[1].param_groups[0]["lr"]
    if fast[3].interval == "batch":
        assert fast[3].last_epoch == EPOCHS * 6


def test_plateau_on_validation_loss():
    Xv, yv = make_data("softmax", seed=5)
    def sched(o):
        return schedules.ReduceLROnPlateau(o, factor=0.5, patience=0, threshold=0.3)
    fast, ref = fit_pair("softmax", "tanh", "Adam", dict(lr=0.05), batch_size=7,
                         schedule=sched, validation_data=(Xv, yv), epochs=4)
    # the schedule saw the validation losses, not the training losses: replay them
    replay = type("Opt", (), {"param_groups": [{"lr": 0.05}]})()
    plateau = schedules.ReduceLROnPlateau(replay, factor=0.5, patience=0, threshold=0.3)
    lrs = [0.05]
    for v in fast[2].val_loss[:-1]:
        plateau.step(v)
        lrs.append(replay.param_groups[0]["lr"])
    assert fast[2].lr == lrs and len(set(lrs)) > 1
    np.testing.assert_allclose(fast[2].val_loss, ref[2].val_loss, rtol=1e-10)
    assert fast[2].val_metric == ref[2].val_metric
    assert_same(fast, ref, F64, "plateau on val_loss")


# ----------------------------------------------------------------------------- the fallback path

def _ce_loss(logits, labels):
    """Softmax cross-entropy as a user would write it."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = -np.mean(np.log(p[rows, labels]))
    p[rows, labels] -= 1.0
    return loss, p / len(labels)


def _huber_loss(logits, y):
    d = logits - y
    a = np.abs(d)
    loss = np.where(a < 1, 0.5 * d * d, a - 0.5).sum() / len(y)
    return loss, np.clip(d, -1, 1) / len(y)


@pytest.mark.parametrize("batch_size", [1, 7, N])
def test_custom_loss_runs_fallback_and_matches(batch_size):
    for output, loss in (("softmax", _ce_loss), ("linear", _huber_loss)):
        fast, ref = fit_pair(output, "relu", "Adam", batch_size=batch_size, alpha=0.01,
                             loss=loss)
        assert not fast[2].fast_path
        assert_same(fast, ref, F64, f"custom loss {output} batch={batch_size}")
    # the hand-written cross-entropy is the model's own loss: same result as the engine
    fast, _ = fit_pair("softmax", "relu", "Adam", batch_size=batch_size, alpha=0.01,
                       loss=_ce_loss)
    engine, _ = fit_pair("softmax", "relu", "Adam", batch_size=batch_size, alpha=0.01)
    assert engine[2].fast_path
    np.testing.assert_allclose(fast[0]._flat, engine[0]._flat, **F64)


@pytest.mark.parametrize("opt", ["Adam", "SGD", "NAdam"])
def test_reference_twin_optimizer_runs_fallback_and_matches(opt):
    X, y = make_data("sigmoid")
    model = fastgd.MLP(HIDDEN + [2], "tanh", "sigmoid", dtype=np.float64, seed=1, alpha=0.01)
    twin, engine_model = model.copy(), model.copy()
    kw = dict(lr=0.05, momentum=0.9) if opt == "SGD" else {}
    o1 = reference.OPTIMIZERS[opt](model.parameters(), **kw)
    h1 = fastgd.fit(model, X, y, o1, epochs=EPOCHS, batch_size=7, seed=3)
    assert not h1.fast_path
    o2 = reference.OPTIMIZERS[opt](twin.parameters(), **kw)
    h2 = reference.fit(twin, X, y, o2, epochs=EPOCHS, batch_size=7, seed=3)
    o3 = fastgd.optim.OPTIMIZERS[opt](engine_model.parameters(), **kw)
    h3 = fastgd.fit(engine_model, X, y, o3, epochs=EPOCHS, batch_size=7, seed=3)
    assert h3.fast_path
    assert_same((model, o1, h1, None), (twin, o2, h2, None), F64, f"twin {opt}")
    assert_same((engine_model, o3, h3, None), (model, o1, h1, None), F64, f"engine vs twin {opt}")


@pytest.mark.parametrize("with_schedule", [False, "epoch", "batch"])
@pytest.mark.parametrize("layout", ["by_layer", "weights_then_biases"])
def test_two_param_groups_stay_in_c_and_match(with_schedule, layout):
    """Param groups (another lr and weight decay, e.g. none on biases) run in the C engine:
    each parameter is updated by its own group's rule and state, also when a group holds
    parameters out of the model's order (weights, then biases)."""
    def groups(params):
        if layout == "by_layer":
            return [{"params": params[:2], "lr": 0.02}, {"params": params[2:], "lr": 0.005}]
        return [{"params": params[0::2], "lr": 0.02, "weight_decay": 0.01},
                {"params": params[1::2], "lr": 0.005}]
    per_epoch = 6 if with_schedule == "batch" else 1
    sched = (lambda o: schedules.OneCycleLR(o, max_lr=[0.05, 0.01],
                                             total_steps=EPOCHS * per_epoch + 1,
                                             interval=with_schedule,
                                             cycle_momentum=False)) if with_schedule else None
    fast, ref = fit_pair("softmax", "leaky_relu", "Adam", {}, batch_size=7, alpha=0.01,
                         groups=groups, schedule=sched)
    assert fast[2].fast_path
    assert len(fast[1].param_groups) == 2
    assert_same(fast, ref, F64, f"two groups schedule={with_schedule}")
    if with_schedule:
        assert [g["lr"] for g in fast[1].param_groups] == \
            [g["lr"] for g in ref[1].param_groups]


def test_optimizer_over_part_of_the_model_is_rejected():
    # an optimizer that holds only some of the model's arrays cannot be passed to fit
    X, y = make_data("softmax")
    m = fastgd.MLP(HIDDEN + [3], dtype=np.float64, seed=1)
    o = fastgd.Adam(m.parameters()[:2])
    with pytest.raises(ValueError, match="optimizer"):
        fastgd.fit(m, X, y, o, epochs=1, batch_size=7)


def test_history_matches_between_every_path():
    """Engine, fallback (twin optimizer) and reference: same History fields."""
    X, y = make_data("linear")
    hs = []
    for fit, classes in ((fastgd.fit, fastgd.optim.OPTIMIZERS),
                         (fastgd.fit, reference.OPTIMIZERS),
                         (reference.fit, reference.OPTIMIZERS)):
        m = fastgd.MLP(HIDDEN + [2], "tanh", "linear", dtype=np.float64, seed=1, alpha=0.1)
        hs.append(fit(m, X, y, classes["RMSprop"](m.parameters()), epochs=EPOCHS,
                      batch_size=5, seed=8))
    assert [h.fast_path for h in hs] == [True, False, False]
    for h in hs[1:]:
        assert h.epoch == hs[0].epoch == [0, 1, 2]
        assert h.samples == hs[0].samples == [N] * EPOCHS
        assert h.seed == 8 and h.metric_name == "r2"
        np.testing.assert_allclose(h.loss, hs[0].loss, rtol=1e-10)


def test_parity_grid_is_not_vacuous():
    """The grid above differs from a run that ignores the optimizer, the batch size or
    alpha -- so agreement at rtol 1e-10 is informative."""
    runs = {}
    for opt, bs, alpha in itertools.product(["Adam", "SGD"], [1, N], [0.0, 0.01]):
        fast, _ = fit_pair("softmax", "tanh", opt, batch_size=bs, alpha=alpha)
        runs[opt, bs, alpha] = fast[0]._flat.copy()
    keys = list(runs)
    for a, b in itertools.combinations(keys, 2):
        assert not np.allclose(runs[a], runs[b], rtol=1e-6, atol=0), (a, b)


# ----------------------------------------------------- batch 1: the fused outer-product update

def _python_path(cls):
    """The class with a step() of its own: fit then takes the per-batch Python path (the
    engine's whole gradient, then opt.step), the way to compare the engine against it."""
    return type(f"Python{cls.__name__}", (cls,), {"step": lambda self, grads: cls.step(self, grads)})


FUSED_CASES = [("SGD", dict(lr=0.05)),                          # no state array
               ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
               ("Adam", dict(lr=0.01, amsgrad=True)),           # three state arrays
               ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
               ("Adagrad", dict(lr=0.05)), ("Adadelta", {}), ("Adamax", {}),
               ("NAdam", {}), ("RAdam", {}), ("Momentum", dict(lr=0.05))]


@pytest.mark.parametrize("opt, kw", FUSED_CASES, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_one_fused_update_is_the_gradient_then_step(opt, kw, dtype):
    """At batch 1 the engine makes each weight row's gradient a (x) dz (+ alpha W) inside
    the optimizer's loop (fg_apply_outer); the fallback path (a step() of its own) makes the
    whole gradient first and then steps. Same roundings, so bit for bit the same. The
    1100-wide layer crosses the kernel's 512-column chunks, with a ragged last one."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 4)).astype(dtype)
    y = rng.integers(0, 3, 9)
    sides = []
    for split in (False, True):
        m = fastgd.MLP([4, 1100, 7, 3], "relu", dtype=dtype, seed=2, alpha=0.01)
        p = m.parameters()
        cls = fastgd.optim.OPTIMIZERS[opt]
        o = (_python_path(cls) if split else cls)(p, **kw)
        h = fastgd.fit(m, X, y, o, epochs=2, batch_size=1, seed=5)
        assert h.fast_path is not split
        sides.append((m._flat.copy(), h.loss))
    assert not np.array_equal(sides[0][0], fastgd.MLP([4, 1100, 7, 3], "relu", dtype=dtype,
                                                      seed=2)._flat)
    np.testing.assert_array_equal(sides[0][0], sides[1][0])
    assert sides[0][1] == sides[1][1]


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_one_look_ahead_blocks(n_threads, dtype):
    """Big enough (134k parameters) that the batch-1 update runs in several blocks of the
    first layer's rows, each summing its share of the next sample's product: the engine
    (products made inside the updates) equals the fallback path (each forward made on its
    own, in the same blocks) bit for bit at every thread count, and agrees with the
    reference."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 64)).astype(dtype)
    y = rng.integers(0, 3, 6)
    base = fastgd.MLP([64, 2000, 3], "tanh", dtype=dtype, seed=2)
    sides = []
    for split in (False, True):
        m = base.copy()
        p = m.parameters()
        o = (_python_path(fastgd.Adam) if split else fastgd.Adam)(p, lr=0.01)
        h = fastgd.fit(m, X, y, o, epochs=2, batch_size=1, seed=5, n_threads=n_threads)
        assert h.fast_path is not split
        sides.append(m._flat.copy())
    np.testing.assert_array_equal(sides[0], sides[1])
    twin = base.copy()
    reference.fit(twin, X, y, reference.Adam(twin.parameters(), lr=0.01), epochs=2,
                  batch_size=1, seed=5)
    np.testing.assert_allclose(sides[0], twin._flat, **(F64 if dtype == np.float64 else F32))


@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("output", ["softmax", "linear"])
def test_split_batches_match_the_reference(n_threads, output):
    """A model and batch big enough for the engine to split every batch over threads:
    step 1 by rows, with the first layer's product split by columns (64 rows per batch is
    below COL_SPLIT_BELOW_ROWS per block; with 3 threads the 300 columns make blocks of 96,
    96 and 108), step 2 by blocks of weight rows. Same agreement with the reference as the
    one-block runs."""
    sizes = [64, 300, 200, N_OUT[output]]
    rng = np.random.default_rng(6)
    X = rng.standard_normal((192, 64))
    y = rng.integers(0, 3, 192) if output == "softmax" else rng.standard_normal((192, 2))
    model = fastgd.MLP(sizes, "relu", output, dtype=np.float64, seed=3, alpha=0.01)
    twin = model.copy()
    o1 = fastgd.Adam(model.parameters(), lr=1e-3)
    h1 = fastgd.fit(model, X, y, o1, epochs=2, batch_size=64, seed=2, n_threads=n_threads)
    o2 = reference.Adam(twin.parameters(), lr=1e-3)
    h2 = reference.fit(twin, X, y, o2, epochs=2, batch_size=64, seed=2)
    assert h1.fast_path
    assert_same((model, o1, h1, None), (twin, o2, h2, None), F64, f"split {n_threads}")
