"""Sample and class weights in fit (issue 9, item 5): scikit-learn's MLP normalization, a
batch's data loss is sum(w_i l_i) / sum(w_i) and dL/dz_i = w_i (p_i - y_i) / sum(w_i), the
L2 penalty unweighted. Checked against a hand computation, the reference against the C
engine (fast path and per-batch fallback), and unit weights against no weights."""
import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.reference import mlp as ref

OUTPUTS = ["softmax", "sigmoid", "linear"]


def _data(output, n=37, n_in=5, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    if output == "softmax":
        y = rng.integers(0, n_out, n)
    elif output == "sigmoid":
        y = (rng.random((n, n_out)) > 0.5).astype(np.float64)
    else:
        y = rng.standard_normal((n, n_out))
    return X, y


def _by_hand(z, y, output, w):
    """Per-row losses and P - Y written out, then the weighted mean."""
    if output == "softmax":
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        rows = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]
        d = p - np.eye(z.shape[1])[y]
    elif output == "sigmoid":
        p = 1 / (1 + np.exp(-z))
        rows = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
        d = p - y
    else:
        rows = 0.5 * ((z - y) ** 2).sum(axis=1)
        d = z - y
    return (w * rows).sum() / w.sum(), d * (w / w.sum())[:, None]


@pytest.mark.parametrize("output", OUTPUTS)
def test_reference_matches_hand_computation(output):
    rng = np.random.default_rng(1)
    _, y = _data(output, n=6)
    z = rng.standard_normal((6, 3))
    w = np.array([1.0, 2.0, 0.5, 0.0, 3.0, 1.0])
    loss, d = ref.data_loss_and_dlogits(z, y, output, sample_weight=w)
    want_loss, want_d = _by_hand(z, y, output, w)
    assert loss == pytest.approx(want_loss, rel=1e-13)
    np.testing.assert_allclose(d, want_d, rtol=1e-13, atol=1e-16)
    # zero-weight rows do nothing; all-zero weights: loss 0, no gradient
    assert not np.any(d[3])
    loss0, d0 = ref.data_loss_and_dlogits(z, y, output, sample_weight=np.zeros(6))
    assert loss0 == 0.0 and not np.any(d0)


@pytest.mark.parametrize("output", OUTPUTS)
def test_engine_full_batch_equals_repeated_rows(output):
    """Integer weights on one full batch = the data set with rows repeated (hand check of
    the normalization through the C kernel, with the penalty left unweighted)."""
    X, y = _data(output)
    w = np.random.default_rng(2).integers(0, 4, len(X)).astype(np.float64)
    model = fastgd.MLP([5, 8, 3], activation="tanh", output=output, dtype=np.float64,
                       seed=0, alpha=0.1)
    labels, Y = model.encode_targets(y, len(X))
    engine = model._engine(len(X), 1)
    loss_w = engine.loss_and_grads(X, labels, Y, w)
    grads_w = model._grad_flat.copy()
    rep = np.repeat(np.arange(len(X)), w.astype(int))
    labels_r = None if labels is None else labels[rep]
    Y_r = None if Y is None else np.ascontiguousarray(Y[rep])
    loss_r = model._engine(len(rep), 1).loss_and_grads(np.ascontiguousarray(X[rep]),
                                                        labels_r, Y_r)
    assert loss_w == pytest.approx(loss_r, rel=1e-12)
    np.testing.assert_allclose(grads_w, model._grad_flat, rtol=1e-10, atol=1e-14)
    # and the reference agrees
    value, grads = ref.data_loss_and_grads(model.parameters(), X, y if labels is None
                                           else labels, "tanh", output, 0.1, w)
    assert value == pytest.approx(loss_w, rel=1e-12)
    np.testing.assert_allclose(np.concatenate([g.ravel() for g in grads]), grads_w,
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output", OUTPUTS)
def test_unit_weights_are_bit_identical(output, dtype):
    """Weights of one: every gradient is the unweighted one bit for bit (w * (1/B) rounds
    as 1/B), so the parameters are too."""
    X, y = _data(output)
    runs = []
    for kw in ({}, {"sample_weight": np.ones(len(X))}):
        model = fastgd.MLP([5, 8, 3], output=output, dtype=dtype, seed=0, alpha=1e-3)
        opt = fastgd.Adam(model.parameters(), lr=1e-2)
        fastgd.fit(model, X, y, opt, epochs=3, batch_size=8, seed=0, n_threads=1, **kw)
        runs.append(model._flat.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("output", OUTPUTS)
def test_engine_fallback_and_reference_agree(output):
    X, y = _data(output, n=53)
    w = np.random.default_rng(3).random(len(X)) * 3
    w[:5] = 0.0
    results = []
    for kind in ("engine", "fallback", "reference"):
        model = fastgd.MLP([5, 8, 3], activation="relu", output=output, dtype=np.float64,
                           seed=0, alpha=1e-2)
        params = model.parameters()
        if kind == "fallback":          # a step() of its own: the per-batch Python loop
            cls = type("PythonSGD", (fastgd.SGD,),
                       {"step": lambda self, grads: fastgd.SGD.step(self, grads)})
            opt = cls(params, lr=0.05, momentum=0.9)
        elif kind == "reference":
            opt = reference.SGD(params, lr=0.05, momentum=0.9)
        else:
            opt = fastgd.SGD(params, lr=0.05, momentum=0.9)
        fit = reference.fit if kind == "reference" else fastgd.fit
        h = fit(model, X, y, opt, epochs=3, batch_size=10, seed=4, sample_weight=w)
        assert h.fast_path == (kind == "engine")
        results.append((model._flat.copy(), h.loss))
    for flat, loss in results[1:]:
        np.testing.assert_allclose(flat, results[0][0], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(loss, results[0][1], rtol=1e-10)


def test_class_weight_is_a_per_row_sample_weight():
    X, y = _data("softmax", n=60)
    y[:30] = 0                                   # unbalanced classes
    counts = np.bincount(y, minlength=3)
    balanced = len(y) / (3 * counts)             # scikit-learn's "balanced", by hand
    cases = [({"class_weight": "balanced"}, balanced[y]),
             ({"class_weight": {0: 0.5, 2: 4.0}}, np.array([0.5, 1.0, 4.0])[y]),
             ({"class_weight": {1: 2.0}, "sample_weight": np.arange(60.0)},
              np.array([1.0, 2.0, 1.0])[y] * np.arange(60.0))]
    for kw, rows in cases:
        flats = []
        for args in (kw, {"sample_weight": rows}):
            model = fastgd.MLP([5, 8, 3], dtype=np.float64, seed=0)
            opt = fastgd.Adam(model.parameters(), lr=1e-2)
            fastgd.fit(model, X, y, opt, epochs=2, batch_size=16, seed=0, **args)
            flats.append(model._flat.copy())
        np.testing.assert_array_equal(flats[0], flats[1])


def test_weights_are_checked_before_anything_changes():
    X, y = _data("softmax", n=20)
    model = fastgd.MLP([5, 8, 3], seed=0)
    before = model._flat.copy()
    opt = fastgd.SGD(model.parameters(), lr=0.1)
    bad = [({"sample_weight": np.ones(19)}, ValueError, "shape"),
           ({"sample_weight": -np.ones(20)}, ValueError, ">= 0"),
           ({"sample_weight": np.full(20, np.nan)}, ValueError, "finite"),
           ({"sample_weight": np.zeros(20)}, ValueError, "all zero"),
           ({"sample_weight": np.array(["a"] * 20)}, TypeError, "real numbers"),
           ({"class_weight": "even"}, ValueError, "balanced"),
           ({"class_weight": {7: 1.0}}, ValueError, "class ids"),
           ({"class_weight": [1, 2]}, TypeError, "dict"),
           ({"sample_weight": np.ones(20),
             "loss": lambda z, t: ref.data_loss_and_dlogits(z, t, "softmax")},
            ValueError, "custom loss")]
    for kw, err, match in bad:
        with pytest.raises(err, match=match):
            fastgd.fit(model, X, y, opt, epochs=1, batch_size=4, **kw)
    lin = fastgd.MLP([5, 2], output="linear", seed=0)
    with pytest.raises(ValueError, match="class_weight"):
        fastgd.fit(lin, X, np.zeros((20, 2)), fastgd.SGD(lin.parameters(), lr=0.1),
                   epochs=1, batch_size=4, class_weight="balanced")
    np.testing.assert_array_equal(model._flat, before)
    w = np.ones(20)
    fastgd.fit(model, X, y, opt, epochs=1, batch_size=4, sample_weight=w, seed=0)
    np.testing.assert_array_equal(w, np.ones(20))          # the caller's array untouched


def test_weights_follow_x_rows_under_validation_split():
    """Weights are one per row of X; with validation_split only the kept rows train, and
    the engine and the reference pick the same weights for them."""
    X, y = _data("softmax", n=80)
    w = np.random.default_rng(5).random(80) * 2
    flats = []
    for fit, opt_cls in ((fastgd.fit, fastgd.Adam), (reference.fit, reference.Adam)):
        model = fastgd.MLP([5, 8, 3], dtype=np.float64, seed=0)
        fit(model, X, y, opt_cls(model.parameters(), lr=1e-2), epochs=2, batch_size=16,
            seed=3, validation_split=0.25, sample_weight=w, class_weight="balanced")
        flats.append(model._flat.copy())
    np.testing.assert_allclose(flats[0], flats[1], rtol=1e-10, atol=1e-13)
