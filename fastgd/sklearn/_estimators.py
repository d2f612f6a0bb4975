"""MLPClassifier and MLPRegressor: scikit-learn's signatures, fastgd's engine underneath."""
import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (_check_partial_fit_first_call, type_of_target,
                                      unique_labels)
from sklearn.utils.validation import check_is_fitted, validate_data

from fastgd.sklearn._base import _STOCHASTIC, BaseMLP, _keep_params

_DOC_PARAMS = """
    Parameters are scikit-learn's (``sklearn.neural_network.MLP{kind}``), with the same
    defaults and meaning; in addition:

    solver : also fastgd's own rules "rmsprop", "nadam", "adamax", "radam", "adagrad"
        (``learning_rate_init``, ``beta_1``/``beta_2``, ``epsilon`` passed to them; the
        ``learning_rate`` schedule applies to "sgd" only, as in scikit-learn).
    n_threads : int or None, threads of fastgd's engine (None: ``fastgd.get_num_threads()``,
        which follows OMP_NUM_THREADS, so joblib workers each get their share of the cores).
{extra}
    Sparse X is accepted and densified (the engine is dense). float32 X trains a float32
    model, anything else float64.
"""


def _stochastic(est):
    if est.solver not in _STOCHASTIC:
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                             f"{est.solver} is not stochastic.")
    return True


class MLPClassifier(ClassifierMixin, BaseMLP):
    __doc__ = "Multi-layer perceptron classifier trained in fastgd's C engine.\n" + \
        _DOC_PARAMS.format(kind="Classifier", extra=(
            "    class_weight : dict {label: weight}, \"balanced\" or None; multiplies each\n"
            "        row's sample weight (\"balanced\": n_samples / (n_classes * count)).\n"))

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, n_threads=None):
        _keep_params(self, locals())

    _score_function = staticmethod(accuracy_score)

    @property
    def _output(self):
        lb = self._label_binarizer
        return "softmax" if lb.y_type_ == "multiclass" else "sigmoid"

    def _out_activation_name(self):
        return "softmax" if self._output == "softmax" else "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        return X, y

    def _encode(self, y):
        """fastgd targets: class ids (softmax), or 0/1 columns (sigmoid: binary, multilabel)."""
        if self._output == "softmax" and y.ndim == 1:
            # classes_ is sorted (np.unique), so a label's id is its position; the same ids
            # as the binarizer's one-hot rows, without its ~5 ms of target checks per fit
            ids = np.searchsorted(self.classes_, y)
            if np.all(ids < len(self.classes_)) and np.array_equal(
                    self.classes_[np.minimum(ids, len(self.classes_) - 1)], y):
                return np.asarray(ids, dtype=np.int64), len(self.classes_)
        Yb = self._label_binarizer.transform(y)
        if self._output == "softmax":
            return np.ascontiguousarray(np.argmax(Yb, axis=1), dtype=np.int64), Yb.shape[1]
        return Yb, Yb.shape[1]

    def _class_weight_of_rows(self, y):
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError("class_weight: not supported for multilabel targets")
        weights = compute_class_weight(self.class_weight, classes=self.classes_,
                                       y=np.asarray(y))
        return weights[np.searchsorted(self.classes_, y)]

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y (class labels, or a label indicator matrix)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _predict_checked(self, X):
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict(self, X):
        """Class labels (or label indicator rows for multilabel targets)."""
        return self._predict_checked(self._predict_input(X))

    def predict_proba(self, X):
        """Probabilities, columns ordered as ``classes_``."""
        y_pred = self._forward(self._predict_input(X))
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    __doc__ = "Multi-layer perceptron regressor trained in fastgd's C engine.\n" + \
        _DOC_PARAMS.format(kind="Regressor", extra=(
            "    loss : \"squared_error\" only (scikit-learn's \"poisson\" needs an exp output\n"
            "        layer, which fastgd's engine does not have).\n"))

    _output = "linear"
    _score_function = staticmethod(r2_score)

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 n_threads=None):
        _keep_params(self, locals())

    def _check_params(self):
        if self.loss != "squared_error":
            raise ValueError(f"loss: fastgd supports 'squared_error' only, got {self.loss!r}")
        return super()._check_params()

    def _out_activation_name(self):
        return "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _encode(self, y):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return Y, Y.shape[1]

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and real targets y (one or several outputs)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _predict_checked(self, X):
        y_pred = self._forward(X)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def predict(self, X):
        """Predicted values: shape (n,) for one output, (n, n_outputs) otherwise."""
        check_is_fitted(self)
        return self._predict_checked(self._predict_input(X))


# Checks of sklearn.utils.estimator_checks that cannot apply, with the reason, for
# ``check_estimator(est, expected_failed_checks=EXPECTED_FAILED_CHECKS)``: none today. (The
# sample-weight equivalence checks pass at the default parameters too: their 15 rows fit
# in one batch of "auto" = min(200, n), where a weight of k is exactly k repeated rows.)
EXPECTED_FAILED_CHECKS = {}
