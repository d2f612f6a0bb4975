"""fastgd.sklearn against scikit-learn's own MLP: the same numbers where the batches are the
same, the same stopping rules, and the estimator contract (check_estimator, pickling,
clone, Pipeline, GridSearchCV)."""
import os
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")   # every test here needs scikit-learn

from sklearn.base import clone                                         # noqa: E402
from sklearn.exceptions import ConvergenceWarning                      # noqa: E402
from sklearn.model_selection import GridSearchCV                       # noqa: E402
from sklearn.neural_network import MLPClassifier as SKClassifier       # noqa: E402
from sklearn.neural_network import MLPRegressor as SKRegressor         # noqa: E402
from sklearn.pipeline import make_pipeline                             # noqa: E402
from sklearn.preprocessing import StandardScaler                       # noqa: E402
from sklearn.utils.estimator_checks import check_estimator             # noqa: E402

from fastgd.sklearn import MLPClassifier, MLPRegressor                 # noqa: E402
from fastgd.sklearn._estimators import EXPECTED_FAILED_CHECKS          # noqa: E402

# short fits stop at max_iter on purpose; test_convergence_warning checks the warning
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _problem(n=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 6)
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 0)
    Y = np.c_[X[:, 0] - X[:, 1], X[:, 2] * X[:, 3]]
    return X, y, Y


def _max_param_diff(a, b):
    return max(float(np.max(np.abs(p - q))) for p, q in
               zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


@pytest.mark.parametrize("est", [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100),
                                 MLPClassifier(max_iter=100, solver="lbfgs"),
                                 MLPRegressor(max_iter=100, solver="lbfgs")],
                         ids=["classifier", "regressor", "classifier-lbfgs", "regressor-lbfgs"])
def test_check_estimator(est):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = check_estimator(est, expected_failed_checks=EXPECTED_FAILED_CHECKS,
                                  on_fail=None, on_skip=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results
              if r["status"] == "failed"]
    assert not failed
    # only scikit-learn's array-API check (it needs SCIPY_ARRAY_API) may be skipped
    assert {r["check_name"] for r in results if r["status"] == "skipped"} <= {
        "check_array_api_input", "check_classifiers_multilabel_output_format_decision_function"}


SOLVERS = [dict(solver="sgd"), dict(solver="sgd", nesterovs_momentum=False),
           dict(solver="sgd", momentum=0.0),
           dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.1),
           dict(solver="adam"), dict(solver="lbfgs")]


@pytest.mark.parametrize("kw", SOLVERS, ids=lambda kw: "-".join(map(str, kw.values())))
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_same_numbers_as_scikit_learn(kind, kw):
    """Rows in order and batches that divide n: scikit-learn's update, init and loss
    conventions give the same parameters (float64, up to BLAS summation order)."""
    X, y, Y = _problem()
    ours, theirs = (MLPClassifier, SKClassifier) if kind == "classifier" else \
        (MLPRegressor, SKRegressor)
    target = y if kind == "classifier" else Y
    p = dict(hidden_layer_sizes=(7, 5), batch_size=40, shuffle=False, max_iter=5,
             random_state=1, alpha=1e-3, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = ours(**p).fit(X, target)
        b = theirs(**p).fit(X, target)
    assert _max_param_diff(a, b) < 1e-12
    assert a.n_iter_ == b.n_iter_
    if kw["solver"] == "lbfgs":
        assert a.loss_ == pytest.approx(b.loss_, rel=1e-12)
    else:   # the penalty at each batch's weights, as scikit-learn's
        np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
        assert a.t_ == b.t_


def test_stopping_rules_match():
    """tol/n_iter_no_change on the training loss, the adaptive rate's /5 steps, and early
    stopping on a validation fraction stop at the same epoch as scikit-learn's."""
    X, y, _ = _problem(200)
    cases = [dict(solver="sgd", learning_rate="adaptive", tol=1e-2, n_iter_no_change=2),
             dict(solver="adam", tol=1e-2, n_iter_no_change=3, learning_rate_init=0.01)]
    for kw in cases:
        p = dict(hidden_layer_sizes=(8,), batch_size=50, shuffle=False, max_iter=300,
                 random_state=0, alpha=0.0, **kw)
        a, b = MLPClassifier(**p).fit(X, y), SKClassifier(**p).fit(X, y)
        assert a.n_iter_ == b.n_iter_ < 300, kw
        np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-9)
        assert a.best_loss_ == pytest.approx(b.best_loss_, rel=1e-9)


def test_early_stopping_keeps_best_weights():
    X, y, _ = _problem(300)
    a = MLPClassifier(hidden_layer_sizes=(10,), early_stopping=True, n_iter_no_change=3,
                      max_iter=200, random_state=0, learning_rate_init=0.02).fit(X, y)
    assert a.n_iter_ < 200
    assert len(a.validation_scores_) == a.n_iter_
    assert a.best_validation_score_ == max(a.validation_scores_)
    assert a.best_loss_ is None
    with pytest.raises(ValueError, match="early_stopping"):
        a.partial_fit(X, y)


def test_convergence_warning():
    X, y, _ = _problem()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(solver="lbfgs", max_iter=3, random_state=0).fit(X, y)


def test_labels_outputs_and_dtypes():
    X, y, Y = _problem()
    names = np.array(["cat", "dog", "emu"])[y]
    clf = MLPClassifier(max_iter=20, random_state=0).fit(X.astype(np.float32), names)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert set(clf.predict(X)) <= set(names)
    assert clf.coefs_[0].dtype == np.float32
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3 and clf.n_layers_ == 3
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(clf.predict_proba(X)),
                               rtol=1e-5)
    binary = MLPClassifier(max_iter=20, random_state=0).fit(X, y > 0)
    assert binary.out_activation_ == "logistic" and binary.predict_proba(X).shape == (120, 2)
    assert binary.coefs_[0].dtype == np.float64
    multilabel = np.c_[y == 0, y == 1, y == 2].astype(int)
    ml = MLPClassifier(max_iter=50, random_state=0).fit(X, multilabel)
    assert ml.predict(X).shape == (120, 3) and ml.out_activation_ == "logistic"
    reg = MLPRegressor(max_iter=20, random_state=0).fit(X.tolist(), Y.tolist())
    assert reg.predict(X).shape == (120, 2) and reg.n_features_in_ == 6


@pytest.mark.parametrize("labels", [np.array(["emu", "cat", "dog"]), np.array([2.0, -1.0, 7.0]),
                                    np.array([30, 10, 20]), np.array(["b", 3, None], object)],
                         ids=["strings", "floats", "ints", "mixed"])
def test_class_ids_are_the_binarizers(labels):
    """The estimator encodes labels by their place in the sorted classes_; that must be the
    one-hot column scikit-learn's LabelBinarizer gives them (or the same refusal)."""
    y = labels[np.random.RandomState(0).randint(0, 3, 40)]
    X = np.random.RandomState(1).randn(40, 3)
    clf = MLPClassifier(max_iter=1)
    if labels.dtype == object:
        with pytest.raises((TypeError, ValueError)):
            clf.fit(X, y)
        return
    clf.fit(X, y)
    ids, n = clf._encode(y)
    assert n == 3 and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, np.argmax(clf._label_binarizer.transform(y), axis=1))
    np.testing.assert_array_equal(clf.classes_[ids], y)
    rest = y != y[0]            # a first partial_fit without one class: classes= has it
    part = MLPClassifier(max_iter=1).partial_fit(X[rest], y[rest], classes=np.unique(y))
    np.testing.assert_array_equal(part._encode(y)[0], ids)


def test_dataframe_and_sparse_input():
    pd = pytest.importorskip("pandas")
    sp = pytest.importorskip("scipy.sparse")
    X, y, _ = _problem()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    clf = MLPClassifier(max_iter=10, random_state=0).fit(df, pd.Series(y))
    assert list(clf.feature_names_in_) == list(df.columns)
    dense = MLPClassifier(max_iter=10, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(df), dense.predict_proba(X))
    X[np.abs(X) < 0.5] = 0
    a = MLPClassifier(max_iter=10, random_state=0).fit(sp.csr_matrix(X), y)
    b = MLPClassifier(max_iter=10, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(sp.csc_matrix(X)), b.predict_proba(X))


def test_partial_fit_warm_start_and_pickle():
    X, y, _ = _problem()
    a = MLPClassifier(random_state=0, hidden_layer_sizes=(9,))
    a.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    for est in (a, b):     # the optimizer's state survives the pickle: same next epoch
        est.partial_fit(X[60:], y[60:])
    assert _max_param_diff(a, b) == 0.0
    assert a.t_ == b.t_ == 120
    with pytest.raises(ValueError, match="classes"):
        a.partial_fit(X, y + 5)
    w = MLPClassifier(max_iter=5, warm_start=True, random_state=0).fit(X, y)
    first = [c.copy() for c in w.coefs_]
    w.fit(X, y)
    assert len(w.loss_curve_) == 10 and not np.array_equal(first[0], w.coefs_[0])
    with pytest.raises(AttributeError):
        MLPClassifier(solver="lbfgs").partial_fit


def test_clone_pipeline_and_grid_search():
    X, y, _ = _problem(150)
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, random_state=0,
                        learning_rate_init=0.05)
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "coefs_")
    pipe = make_pipeline(StandardScaler(), est).fit(X * 100, y)
    assert pipe.score(X * 100, y) > 0.8
    # each of the 2 jobs gets its share of the cores (joblib sets OMP_NUM_THREADS in its
    # workers, and n_threads=None follows it): a scorer reports the worker's count
    gs = GridSearchCV(est, {"alpha": [1e-4, 1e-2]}, cv=2, n_jobs=2, refit="accuracy",
                      scoring={"accuracy": "accuracy",
                               "threads": lambda e, X, y: e.n_threads_}).fit(X, y)
    assert gs.best_score_ > 0.5
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert np.all(2 * gs.cv_results_["mean_test_threads"] <= max(cores, 2))


def test_solver_extras_and_bad_parameters():
    X, y, _ = _problem()
    for solver in ("rmsprop", "nadam", "adamax", "radam", "adagrad"):
        clf = MLPClassifier(solver=solver, max_iter=30, random_state=0,
                            learning_rate_init=0.01)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            assert clf.fit(X, y).score(X, y) > 0.5, solver
    for bad in (dict(solver="newton"), dict(alpha=-1), dict(batch_size=0),
                dict(hidden_layer_sizes=(3, 0)), dict(momentum=2.0), dict(max_iter=0)):
        with pytest.raises(ValueError):
            MLPClassifier(**bad).fit(X, y)
    with pytest.raises(ValueError, match="squared_error"):
        MLPRegressor(loss="poisson").fit(X, y)


def test_import_fastgd_does_not_import_sklearn():
    import subprocess
    import sys
    code = "import sys, fastgd; sys.exit('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
