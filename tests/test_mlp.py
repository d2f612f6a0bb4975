"""fastgd.MLP: layout, initialization, evaluation and gradients against the NumPy
specification (fastgd.reference.mlp), finite differences, the regression shortcuts,
persistence, and one real data set.

Tolerances: float64 rtol 1e-12 for single forward/backward passes (one GEMM per layer,
the same operations in the same order up to BLAS's summation order within a dot product);
float32 rtol 1e-4 (sgemm's blocked/FMA summation differs from NumPy's matmul, and float32
keeps ~7 digits, so a sum of a few dozen products already differs in the 6th)."""
import numpy as np
import pytest

import fastgd
from fastgd import datasets
from fastgd.reference import mlp as R
from problems import random_problem

ACTIVATIONS = R.ACTIVATIONS
OUTPUTS = R.OUTPUTS
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}
SIZES = [5, 8, 6, 3]


def _data(n, sizes, output, dtype=np.float64, seed=0):
    return random_problem(n, sizes, output, dtype, seed)


def _model(output="softmax", activation="tanh", dtype=np.float64, alpha=0.0, sizes=SIZES,
           seed=1):
    return fastgd.MLP(sizes, activation, output, dtype=dtype, seed=seed, alpha=alpha)


# ----------------------------------------------------------------------------- layout

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_are_views_into_one_buffer(dtype):
    m = fastgd.MLP([4, 7, 3, 2], dtype=dtype, seed=0)
    params = m.parameters()
    assert [p.shape for p in params] == [(4, 7), (7,), (7, 3), (3,), (3, 2), (2,)]
    assert all(p.dtype == dtype for p in params)
    assert all(np.shares_memory(p, m._flat) for p in params)
    assert all(p.flags.c_contiguous for p in params)
    assert m._flat.flags.c_contiguous and m._flat.ndim == 1
    assert m.n_params == sum(p.size for p in params) == m._flat.size
    # laid out in order [W1, b1, W2, ...]: concatenating the views gives the buffer
    np.testing.assert_array_equal(np.concatenate([p.ravel() for p in params]), m._flat)
    # writing through a view changes the model (and every later call sees the same arrays)
    params[2][1, 2] = 123.0
    assert m._flat[4 * 7 + 7 + 1 * 3 + 2] == 123.0
    assert all(p is q for p, q in zip(params, m.parameters()))
    assert m.parameters() is not m.parameters()      # a new list: appending is harmless
    assert m.n_layers == 3


@pytest.mark.parametrize("init", ["he", "xavier", "normal", "orthogonal", "zeros"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_names_seeded_biases_zero(init, dtype):
    a = fastgd.MLP([6, 9, 4], init=init, dtype=dtype, seed=3)
    b = fastgd.MLP([6, 9, 4], init=init, dtype=dtype, seed=3)
    np.testing.assert_array_equal(a._flat, b._flat)
    for bias in a.parameters()[1::2]:
        assert not bias.any()
    weights = a.parameters()[0::2]
    if init == "zeros":
        assert not a._flat.any()
    else:
        assert all(np.isfinite(W).all() and W.std() > 0 for W in weights)
        c = fastgd.MLP([6, 9, 4], init=init, dtype=dtype, seed=4)
        assert not np.array_equal(a._flat, c._flat), "another seed, the same weights"


def test_he_init_scale():
    # he_normal with relu: std sqrt(2 / fan_in) on hidden layers; the output layer is
    # linear: std sqrt(1 / fan_in)
    m = fastgd.MLP([400, 300, 200], init="he", dtype=np.float64, seed=0)
    W1, W2 = m.parameters()[0], m.parameters()[2]
    assert W1.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert W2.std() == pytest.approx(np.sqrt(1 / 300), rel=0.02)


def test_callable_init_and_initialize():
    seen = []

    def init(a, seed=None):
        seen.append((a.shape, isinstance(seed, np.random.Generator)))
        a[...] = 0.5
        return a

    m = fastgd.MLP([3, 4, 2], init=init, dtype=np.float64)
    assert seen == [((3, 4), True), ((4, 2), True)]
    np.testing.assert_array_equal(m.parameters()[0], 0.5)
    assert not m.parameters()[1].any()
    flat_id = m._flat.ctypes.data
    m.initialize("zeros")
    assert not m._flat.any() and m._flat.ctypes.data == flat_id    # in place
    m.initialize("xavier", seed=np.random.default_rng(0))
    assert m._flat.any()


# ----------------------------------------------------------------------------- construction errors

@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(activation="gelu"), ValueError, "activation"),
    (dict(output="tanh"), ValueError, "output"),
    (dict(layer_sizes=[3, 0, 2]), ValueError, r"layer_sizes\[1\]"),
    (dict(layer_sizes=[3, -1, 2]), ValueError, r"layer_sizes\[1\]"),
    (dict(layer_sizes=[3]), ValueError, "layer_sizes"),
    (dict(layer_sizes=[]), ValueError, "layer_sizes"),
    (dict(layer_sizes=3), TypeError, "layer_sizes"),
    (dict(layer_sizes=[3, 2.0]), TypeError, r"layer_sizes\[1\]"),
    (dict(layer_sizes=[3, True]), TypeError, r"layer_sizes\[1\]"),
    (dict(layer_sizes=[3, 1]), ValueError, "softmax"),
    (dict(dtype=np.int32), TypeError, "dtype"),
    (dict(dtype=np.float16), TypeError, "dtype"),
    (dict(dtype="banana"), TypeError, "dtype"),
    (dict(alpha=-0.1), ValueError, "alpha"),
    (dict(alpha=float("nan")), ValueError, "alpha"),
    (dict(alpha=float("inf")), ValueError, "alpha"),
    (dict(alpha=True), TypeError, "alpha"),
    (dict(alpha="0.1"), TypeError, "alpha"),
    (dict(init=3), TypeError, "init"),
    (dict(init="nope"), ValueError, "nope"),
])
def test_construction_errors(kwargs, exc, match):
    kw = dict(layer_sizes=[3, 4, 2])
    kw.update(kwargs)
    with pytest.raises(exc, match=match):
        fastgd.MLP(**kw)


def test_sigmoid_with_one_output_is_fine():
    m = fastgd.MLP([3, 1], output="sigmoid")
    assert m.layer_sizes == [3, 1] and m.metric_name == "accuracy"
    assert fastgd.MLP([3, 1], output="linear").metric_name == "r2"


# ----------------------------------------------------------------------------- evaluation

@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_evaluation_matches_reference(output, activation, dtype):
    m = _model(output, activation, dtype, alpha=0.03)
    X, y = _data(41, SIZES, output, dtype)
    params = m.parameters()
    logits, _ = R.forward(params, X, activation)
    tol = TOL[dtype]
    np.testing.assert_allclose(m.logits(X), logits, **tol)
    assert m.logits(X).dtype == dtype
    if output == "linear":
        np.testing.assert_allclose(m.predict(X), logits, **tol)
        with pytest.raises(ValueError, match="predict_proba"):
            m.predict_proba(X)
    else:
        proba = m.predict_proba(X)
        np.testing.assert_allclose(proba, R.predict_output(logits, output), **tol)
        assert proba.dtype == dtype
        if output == "softmax":
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
            np.testing.assert_array_equal(m.predict(X), np.argmax(m.logits(X), axis=1))
        else:
            np.testing.assert_array_equal(m.predict(X), (m.logits(X) > 0).astype(np.int64))
    data_loss, _ = R.data_loss_and_dlogits(logits, y, output)
    expected = data_loss + R.l2_penalty(params, m.alpha)
    assert m.loss(X, y) == pytest.approx(expected, rel=tol["rtol"])
    ref_loss, _ = R.loss_and_grads(params, X, y, activation, output, m.alpha)
    assert m.loss(X, y) == pytest.approx(ref_loss, rel=tol["rtol"])


def test_score_definitions():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    soft = _model("softmax", sizes=[4, 6, 3])
    y = rng.integers(0, 3, 50)
    assert soft.score(X, y) == np.mean(soft.predict(X) == y)
    sig = _model("sigmoid", sizes=[4, 6, 2])
    Y = (rng.random((50, 2)) > 0.5).astype(float)
    assert sig.score(X, Y) == np.mean(sig.predict(X) == Y)
    lin = _model("linear", sizes=[4, 6, 2])
    Y = rng.standard_normal((50, 2))
    pred = lin.predict(X)
    r2 = 1 - np.sum((Y - pred) ** 2) / np.sum((Y - Y.mean(axis=0)) ** 2)
    assert lin.score(X, Y) == pytest.approx(r2, rel=1e-12)
    # a perfect model scores 1
    exact = fastgd.LinearRegression(4, 2, dtype=np.float64)
    exact.parameters()[0][...] = rng.standard_normal((4, 2))
    assert exact.score(X, exact.predict(X)) == pytest.approx(1.0)


def test_evaluation_in_chunks_and_other_input_forms():
    # more rows than the 4096-row chunk the evaluation engine holds
    m = _model("softmax", "relu", sizes=[5, 7, 3])
    X, y = _data(9000, [5, 7, 3], "softmax")
    logits, _ = R.forward(m.parameters(), X, "relu")
    np.testing.assert_allclose(m.logits(X), logits, rtol=1e-12, atol=1e-12)
    base = m.logits(X)
    np.testing.assert_array_equal(m.logits(np.asfortranarray(X)), base)
    wide = np.zeros((X.shape[0], 10))
    wide[:, ::2] = X
    np.testing.assert_array_equal(m.logits(wide[:, ::2]), base)
    # float32 input to a float64 model: converted exactly
    X32 = X.astype(np.float32)
    np.testing.assert_array_equal(m.logits(X32), m.logits(X32.astype(np.float64)))
    before = X.copy()
    m.loss(X, y), m.score(X, y), m.predict_proba(X), m.loss_and_grads(X, y)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("bad, exc, match", [
    (np.zeros((4, 3)), ValueError, "features"),
    (np.zeros(5), ValueError, "2-D"),
    (np.zeros((4, 5), dtype=np.int64), TypeError, "float32 or float64"),
    (np.zeros((0, 5)), ValueError, "no samples"),
    ([[0.0] * 5], TypeError, "numpy.ndarray"),
    (np.full((4, 5), np.nan), ValueError, "NaN"),
])
def test_evaluation_rejects_bad_X(bad, exc, match):
    m = _model(sizes=[5, 4, 3])
    with pytest.raises(exc, match=match):
        m.predict(bad)


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_loss_and_grads_match_reference(output, activation, alpha):
    for dtype in (np.float64, np.float32):
        m = _model(output, activation, dtype, alpha=alpha)
        X, y = _data(23, SIZES, output, dtype)
        loss, grads = m.loss_and_grads(X, y)
        ref_loss, ref_grads = R.loss_and_grads(m.parameters(), X, y, activation, output, alpha)
        tol = TOL[dtype]
        assert loss == pytest.approx(ref_loss, rel=tol["rtol"])
        assert len(grads) == len(ref_grads)
        for i, (g, r) in enumerate(zip(grads, ref_grads)):
            assert g.dtype == dtype and g.shape == r.shape
            np.testing.assert_allclose(g, r, err_msg=f"{output} {activation} grad {i}", **tol)
            assert not np.shares_memory(g, m._grad_flat), "grads must be copies"


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weight_gradients_summed_in_chunks_of_rows_match_reference(dtype, n_threads):
    """A small layer's weight gradient over a big batch is summed in chunks of rows (64x100
    over 1023 rows: 1023 * 6400 multiply-adds, 7 chunks of OpenBLAS's small-kernel size):
    the chunked sum is the reference's within the stated tolerance, on 1 and 2 threads."""
    sizes = [64, 100, 10]
    m = _model("softmax", "relu", dtype, alpha=0.01, sizes=sizes)
    X, y = _data(1023, sizes, "softmax", dtype)
    fastgd.set_num_threads(n_threads)
    try:
        loss, grads = m.loss_and_grads(X, y)
    finally:
        fastgd.set_num_threads(None)
    ref_loss, ref_grads = R.loss_and_grads(m.parameters(), X, y, "relu", "softmax", 0.01)
    assert loss == pytest.approx(ref_loss, rel=TOL[dtype]["rtol"])
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, **TOL[dtype])


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_grads_match_central_differences(output, activation):
    m = _model(output, activation, np.float64, alpha=0.02, seed=5)
    X, y = _data(13, SIZES, output, seed=6)
    _, grads = m.loss_and_grads(X, y)
    rng = np.random.default_rng(7)
    h = 1e-6
    for i, p in enumerate(m.parameters()):
        for flat_index in rng.choice(p.size, size=min(3, p.size), replace=False):
            idx = np.unravel_index(flat_index, p.shape)
            old = p[idx]
            p[idx] = old + h
            up = m.loss(X, y)
            p[idx] = old - h
            down = m.loss(X, y)
            p[idx] = old
            numeric = (up - down) / (2 * h)
            assert grads[i][idx] == pytest.approx(numeric, rel=1e-5, abs=1e-8), \
                f"{output} {activation} param {i} {idx}"


def test_loss_and_grads_leave_parameters_alone():
    m = _model("softmax", "relu", alpha=0.1)
    X, y = _data(17, SIZES, "softmax")
    before = m._flat.copy()
    m.loss_and_grads(X, y)
    np.testing.assert_array_equal(m._flat, before)


# ----------------------------------------------------------------------------- shortcuts

def test_linear_regression_recovers_coefficients():
    X, y, w = datasets.make_regression(400, 5, noise=0.01, bias=0.5, dtype=np.float64, seed=0,
                                       return_coef=True)
    m = fastgd.LinearRegression(5, dtype=np.float64)
    assert m.layer_sizes == [5, 1] and m.output == "linear" and not m._flat.any()
    fastgd.fit(m, X, y, fastgd.Adam(m.parameters(), lr=0.05), epochs=60, batch_size=32, seed=0)
    np.testing.assert_allclose(m.parameters()[0][:, 0], w, atol=0.01)
    assert m.parameters()[1][0] == pytest.approx(0.5, abs=0.01)
    assert m.score(X, y) > 0.999
    assert m.predict(X).shape == (400,)


def test_logistic_regression_separates():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 3))
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3 > 0).astype(np.int64)
    m = fastgd.LogisticRegression(3, dtype=np.float64)
    assert m.output == "sigmoid" and m.layer_sizes == [3, 1]
    fastgd.fit(m, X, y, fastgd.Adam(m.parameters(), lr=0.1), epochs=100, batch_size=300, seed=0)
    assert m.score(X, y) >= 0.99
    assert m.predict(X).shape == (300,)
    assert m.predict_proba(X).shape == (300, 1)


def test_softmax_regression_separates():
    X, y = datasets.make_classification(600, 4, n_classes=3, class_sep=3.0, noise=0.3,
                                        dtype=np.float64, seed=2)
    m = fastgd.SoftmaxRegression(4, 3, dtype=np.float64)
    assert m.output == "softmax" and m.layer_sizes == [4, 3]
    fastgd.fit(m, X, y, fastgd.Adam(m.parameters(), lr=0.05), epochs=20, batch_size=32, seed=0)
    assert m.score(X, y) >= 0.99


def test_digits_reaches_90_percent():
    X, y = datasets.load_digits(return_X_y=True, dtype=np.float32)
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, 0.25, seed=0, stratify=True)
    m = fastgd.MLP([64, 64, 10], dtype=np.float32, seed=0)
    # one thread: this tests learning, not threading, and an OpenMP team on a loaded CI
    # machine can wait a scheduler time slice per region (measured 0.02 s -> 5 s here)
    h = fastgd.fit(m, Xtr, ytr, fastgd.Adam(m.parameters(), lr=1e-2), epochs=5, batch_size=32,
                   seed=0, validation_data=(Xte, yte), n_threads=1)
    assert h.fast_path
    assert m.score(Xte, yte) > 0.9
    assert h.val_metric[-1] == m.score(Xte, yte)
    assert h.loss[-1] < h.loss[0]


# ----------------------------------------------------------------------------- persistence

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip(tmp_path, dtype):
    m = fastgd.MLP([4, 6, 3], "leaky_relu", "sigmoid", dtype=dtype, seed=2, alpha=0.25)
    path = tmp_path / "model.npz"
    m.save(path)
    back = fastgd.MLP.load(path)
    assert back.layer_sizes == m.layer_sizes
    assert (back.activation, back.output, back.dtype, back.alpha) == \
        ("leaky_relu", "sigmoid", np.dtype(dtype), 0.25)
    np.testing.assert_array_equal(back._flat, m._flat)
    assert all(np.shares_memory(p, back._flat) for p in back.parameters())
    X, _ = _data(9, [4, 6, 3], "sigmoid", dtype)
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))


def test_load_rejects_mismatched_parameters(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, layer_sizes=np.array([4, 3]), activation="relu", output="softmax",
             alpha=0.0, dtype="float64", params=np.zeros(7))
    with pytest.raises(ValueError, match="parameter count"):
        fastgd.MLP.load(path)


def test_copy_is_independent():
    m = _model(alpha=0.5)
    c = m.copy()
    np.testing.assert_array_equal(c._flat, m._flat)
    assert (c.layer_sizes, c.activation, c.output, c.dtype, c.alpha) == \
        (m.layer_sizes, m.activation, m.output, m.dtype, m.alpha)
    assert not np.shares_memory(c._flat, m._flat)
    c.parameters()[0][...] = 7
    assert not np.array_equal(c._flat, m._flat)
    assert "layer_sizes=[5, 8, 6, 3]" in repr(m)
