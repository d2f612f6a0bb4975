"""sample_weight and class_weight in fastgd.sklearn: the same numbers as scikit-learn's
weighted MLP, weights as repetitions for the full-batch solver, class_weight as the
sample weights scikit-learn's compute_sample_weight gives."""
import numpy as np
import pytest

pytest.importorskip("sklearn")   # every test here needs scikit-learn

from sklearn.neural_network import MLPClassifier as SKClassifier       # noqa: E402
from sklearn.neural_network import MLPRegressor as SKRegressor         # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight           # noqa: E402

from fastgd.sklearn import MLPClassifier, MLPRegressor                 # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _problem(n=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 6)
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 0)
    Y = np.c_[X[:, 0] - X[:, 1], X[:, 2] * X[:, 3]]
    w = rng.randint(0, 4, n).astype(float)
    return X, y, Y, w


def _diff(a, b):
    return max(float(np.max(np.abs(p - q))) for p, q in
               zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


@pytest.mark.parametrize("solver,alpha", [("sgd", 0.0), ("adam", 0.0), ("lbfgs", 1e-2)])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_weighted_fit_matches_scikit_learn(kind, solver, alpha):
    """Rows in order: the weighted batches are scikit-learn's."""
    X, y, Y, w = _problem()
    ours, theirs, target = (MLPClassifier, SKClassifier, y) if kind == "classifier" else \
        (MLPRegressor, SKRegressor, Y)
    p = dict(hidden_layer_sizes=(7,), batch_size=40, shuffle=False, max_iter=4,
             random_state=1, alpha=alpha, solver=solver)
    a = ours(**p).fit(X, target, sample_weight=w)
    b = theirs(**p).fit(X, target, sample_weight=w)
    assert _diff(a, b) < 1e-12
    if solver == "lbfgs":
        assert a.loss_ == pytest.approx(b.loss_, rel=1e-12)
    else:
        np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_l2_of_partial_and_weighted_batches_matches_scikit_learn(kind, solver, weighted):
    """scikit-learn's L2 term is alpha / (the batch's weight sum): a last partial batch
    (120 rows in batches of 50) and weighted batches each get their own. Same start, rows
    in order: parameters and the loss curve (penalty at each batch's weights) agree to
    float64 rounding (measured <= 1.2e-16 and 7e-16; before, one alpha per fit: 1e-4)."""
    X, y, Y, w = _problem()
    ours, theirs, target = (MLPClassifier, SKClassifier, y) if kind == "classifier" else \
        (MLPRegressor, SKRegressor, Y)
    p = dict(hidden_layer_sizes=(7,), batch_size=50, shuffle=False, max_iter=6,
             random_state=1, alpha=1e-2, solver=solver)
    sw = w if weighted else None
    a = ours(**p).fit(X, target, sample_weight=sw)
    b = theirs(**p).fit(X, target, sample_weight=sw)
    assert _diff(a, b) < 1e-13
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-13)
    assert a.loss_ == pytest.approx(b.loss_, rel=1e-13)


def test_full_batch_weights_are_repetitions():
    X, y, _, w = _problem()
    rep = np.repeat(np.arange(len(X)), w.astype(int))
    p = dict(hidden_layer_sizes=(7,), solver="lbfgs", max_iter=30, random_state=0)
    a = MLPClassifier(**p).fit(X, y, sample_weight=w)
    b = MLPClassifier(**p).fit(X[rep], y[rep])
    assert _diff(a, b) < 1e-9
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-7, atol=1e-9)


def test_unit_weights_change_nothing():
    X, y, _, _ = _problem()
    for solver in ("adam", "sgd", "lbfgs"):
        p = dict(hidden_layer_sizes=(7,), solver=solver, max_iter=5, random_state=0)
        a = MLPClassifier(**p).fit(X, y)
        b = MLPClassifier(**p).fit(X, y, sample_weight=np.ones(len(X)))
        assert _diff(a, b) == 0.0, solver


@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 2: 0.5}])
def test_class_weight_is_compute_sample_weight(class_weight):
    X, y, _, w = _problem()
    labels = np.array(["a", "b", "c"])[y]
    p = dict(hidden_layer_sizes=(7,), max_iter=5, random_state=0)
    cw = class_weight if isinstance(class_weight, str) else \
        {"abc"[k]: v for k, v in class_weight.items()}
    a = MLPClassifier(**p, class_weight=cw).fit(X, labels, sample_weight=w)
    b = MLPClassifier(**p).fit(X, labels,
                               sample_weight=w * compute_sample_weight(cw, labels))
    assert _diff(a, b) == 0.0
    # partial_fit takes it too
    MLPClassifier(**p, class_weight=cw).partial_fit(X, labels, classes=["a", "b", "c"])


def test_weighted_early_stopping_and_errors():
    X, y, _, w = _problem(200)
    a = MLPClassifier(early_stopping=True, max_iter=30, random_state=0).fit(
        X, y, sample_weight=w + 1)
    assert len(a.validation_scores_) == a.n_iter_
    for bad in (np.ones(3), -np.ones(200), np.zeros(200)):
        with pytest.raises(ValueError):
            MLPClassifier(max_iter=2).fit(X, y, sample_weight=bad)
    with pytest.raises(ValueError, match="multilabel"):
        MLPClassifier(max_iter=2, class_weight="balanced").fit(X, np.c_[y == 0, y == 1])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_lbfgs_in_blocks_of_rows_matches_scikit_learn(kind, weighted):
    """600 rows: the full-batch objective runs as 5 blocks of 128 rows (their gradients
    summed with their weight shares); scikit-learn's one pass agrees to rounding."""
    X, y, Y, w = _problem(600)
    ours, theirs, target = (MLPClassifier, SKClassifier, y) if kind == "classifier" else \
        (MLPRegressor, SKRegressor, Y)
    p = dict(hidden_layer_sizes=(7,), solver="lbfgs", max_iter=15, random_state=1,
             alpha=1e-2)
    sw = w if weighted else None
    a = ours(**p, n_threads=1).fit(X, target, sample_weight=sw)
    b = theirs(**p).fit(X, target, sample_weight=sw)
    assert a.n_iter_ == b.n_iter_
    assert _diff(a, b) < 1e-9
    assert a.loss_ == pytest.approx(b.loss_, rel=1e-10)


def test_lbfgs_blocks_keep_each_thread_a_share():
    from fastgd.sklearn._lbfgs import block_rows
    assert block_rows(100, 1) == block_rows(7510, 1) == 128   # one thread: 128 rows
    assert block_rows(7510, 2) == 280        # >= 2**20 multiply-adds for each thread
    assert block_rows(79510, 2) == 256
