"""What MLPClassifier and MLPRegressor share: validation, scikit-learn's initialization,
and the two solvers -- mini-batch epochs in fastgd's C engine (one engine call per epoch,
fastgd/sklearn/_epochs.py) and L-BFGS-B over the engine's full-batch loss and gradient.

Design: scikit-learn's ``MultiLayerPerceptron`` runs Python per batch; here Python runs
once per epoch, in a callback that does exactly what scikit-learn does between
epochs (the loss curve, ``tol``/``n_iter_no_change``, the validation score and best
weights of early stopping, the learning-rate rules, the ConvergenceWarning). The update
rules are scikit-learn's: SGD with the learning rate inside the velocity
(``SGD(lr_in_momentum=True)``, Nesterov as scikit-learn writes it) and Adam with epsilon
hat (``Adam(epsilon_hat=True)``); weights start as scikit-learn draws them (Glorot uniform
from ``RandomState(random_state)``, biases too).

Where the numbers can differ from scikit-learn's, and why:
- the epoch's row order: fastgd's ``batching.epoch_order`` seeded from ``random_state``,
  not ``sklearn.utils.shuffle`` (with ``shuffle=False`` both take rows in order);
- the L2 term is scikit-learn's, ``alpha / S_b`` for a batch of weight sum ``S_b``
  (fastgd/sklearn/_epochs.py), but rounds differently: ``A^T d / S_b + (alpha / S_b) W``
  against scikit-learn's ``(A^T d + alpha W) / S_b``;
- GEMM summation order (BLAS), as between any two BLAS builds.
"""
import numbers
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

import fastgd
from fastgd._runtime import threads as _threads
from fastgd.reference import mlp as ref
from fastgd.sklearn import _epochs, _lbfgs

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_STOCHASTIC = ("sgd", "adam", "rmsprop", "nadam", "adamax", "radam", "adagrad")
_SOLVERS = ("lbfgs",) + _STOCHASTIC
_LR_RULES = ("constant", "invscaling", "adaptive")


def _make_optimizer(est, params):
    """scikit-learn's two rules in its conventions, and fastgd's others with its names."""
    lr, solver = float(est.learning_rate_init), est.solver
    betas = (float(est.beta_1), float(est.beta_2))
    eps = float(est.epsilon)
    if solver == "sgd":
        mu = float(est.momentum)
        return fastgd.SGD(params, lr=lr, momentum=mu, nesterov=bool(est.nesterovs_momentum)
                          and mu > 0, lr_in_momentum=True, buffer_init="zeros")
    if solver == "adam":
        return fastgd.Adam(params, lr=lr, betas=betas, eps=eps, epsilon_hat=True)
    if solver == "rmsprop":
        return fastgd.RMSprop(params, lr=lr, alpha=betas[1], eps=eps)
    if solver == "adagrad":
        return fastgd.Adagrad(params, lr=lr, eps=eps)
    cls = {"nadam": fastgd.NAdam, "adamax": fastgd.Adamax, "radam": fastgd.RAdam}[solver]
    return cls(params, lr=lr, betas=betas, eps=eps)


def _keep_params(est, args):
    """Store each ``__init__`` argument unchanged under its own name (scikit-learn's
    contract: no validation or derived attribute in ``__init__``; ``get_params`` reads
    them back by the signature's names). ``args`` is the constructor's ``locals()``."""
    for name, value in args.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


class BaseMLP(BaseEstimator):
    """Shared machinery; use MLPClassifier or MLPRegressor."""

    # ----------------------------------------------------------------- parameters
    def _check_params(self):
        def real(name, low, high=None, low_open=False, high_open=False):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) \
                    or (v <= low if low_open else v < low) or \
                    (high is not None and (v >= high if high_open else v > high)):
                lo, hi = "(" if low_open else "[", ")" if high_open or high is None else "]"
                raise ValueError(f"{name}: expected a number in {lo}{low}, "
                                 f"{'inf' if high is None else high}{hi}, got {v!r}")

        def integer(name, low):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                raise ValueError(f"{name}: expected an int >= {low}, got {v!r}")

        def choice(name, options):
            v = getattr(self, name)
            if not isinstance(v, str) or v not in options:
                raise ValueError(f"{name}: expected one of {options}, got {v!r}")

        choice("activation", tuple(_ACTIVATIONS))
        choice("solver", _SOLVERS)
        choice("learning_rate", _LR_RULES)
        real("alpha", 0)
        real("learning_rate_init", 0, low_open=True)
        real("power_t", 0)
        integer("max_iter", 1)
        real("tol", 0)
        real("momentum", 0, 1)
        real("validation_fraction", 0, 1, high_open=True)
        real("beta_1", 0, 1, high_open=True)
        real("beta_2", 0, 1, high_open=True)
        real("epsilon", 0, low_open=True)
        integer("n_iter_no_change", 1)
        integer("max_fun", 1)
        if not (self.batch_size == "auto" or (isinstance(self.batch_size, numbers.Integral)
                                              and not isinstance(self.batch_size, bool)
                                              and self.batch_size >= 1)):
            raise ValueError(f"batch_size: expected 'auto' or an int >= 1, got "
                             f"{self.batch_size!r}")
        if self.n_threads is not None:
            _threads.resolve(self.n_threads)
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError(f"hidden_layer_sizes: expected ints >= 1, got "
                                 f"{self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    # ----------------------------------------------------------------- inputs
    def _check_X(self, X, reset):
        X = validate_data(self, X, accept_sparse=["csr", "csc"],
                          dtype=(np.float64, np.float32), reset=reset)
        return self._dense(X)

    def _dense(self, X):
        # fastgd's engine is dense: sparse input is densified (documented in the README)
        if sp.issparse(X):
            X = X.toarray()
        if hasattr(self, "_dtype") and X.dtype != self._dtype:
            X = X.astype(self._dtype)
        return X

    def _check_sample_weight(self, sample_weight, X, y):
        class_weight = getattr(self, "class_weight", None)
        if sample_weight is None and class_weight is None:
            return None
        n = X.shape[0]
        if sample_weight is None:
            sw = np.ones(n, dtype=np.float64)
        else:
            sw = np.asarray(sample_weight, dtype=np.float64)
            if sw.ndim == 0:
                sw = np.full(n, float(sw))
            if sw.shape != (n,):
                raise ValueError(f"sample_weight: expected shape ({n},), got {sw.shape}")
            if not np.all(np.isfinite(sw)):
                raise ValueError("sample_weight: contains NaN or inf")
            if np.any(sw < 0):
                raise ValueError("sample_weight: expected non-negative weights")
            sw = sw.copy()
        if class_weight is not None:
            sw *= self._class_weight_of_rows(y)
        if not np.any(sw > 0):
            raise ValueError("sample_weight: every weight is zero")
        return sw

    # ----------------------------------------------------------------- the model
    def _init_model(self, layer_units, dtype):
        """A fastgd.MLP holding scikit-learn's initial weights (Glorot uniform from the
        estimator's RandomState, in scikit-learn's draw order)."""
        model = fastgd.MLP(layer_units, activation=_ACTIVATIONS[self.activation],
                           output=self._output, init="zeros", dtype=dtype)
        params = model.parameters()
        factor = 2.0 if self.activation == "logistic" else 6.0
        for i, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:])):
            bound = np.sqrt(factor / (fan_in + fan_out))
            params[2 * i][...] = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            params[2 * i + 1][...] = self._random_state.uniform(-bound, bound, fan_out)
        return model

    def _bind(self, model):
        """Point coefs_/intercepts_ at the model's parameters (views, updated in place)."""
        self._model = model
        params = model.parameters()
        self.coefs_ = params[0::2]
        self.intercepts_ = params[1::2]

    def _current_model(self):
        """The fastgd.MLP behind coefs_/intercepts_, rebuilt (not stored) when they were
        replaced or unpickled; predict must not change the estimator's state."""
        model = getattr(self, "_model", None)
        if model is not None and all(a is b for a, b in zip(
                self.coefs_ + self.intercepts_, model.parameters()[0::2] +
                model.parameters()[1::2])) and len(self.coefs_) == model.n_layers:
            return model
        units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        model = fastgd.MLP(units, activation=_ACTIVATIONS[self.activation],
                           output=self._output, init="zeros", dtype=self.coefs_[0].dtype)
        params = model.parameters()
        for i, (c, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            params[2 * i][...] = c
            params[2 * i + 1][...] = b
        return model

    def __getstate__(self):
        state = self.__dict__.copy()
        model = state.pop("_model", None)
        opt = state.pop("_optimizer", None)
        if model is not None:
            # coefs_ and intercepts_ pickle as plain arrays; the optimizer as its state
            state["coefs_"] = [c.copy() for c in self.coefs_]
            state["intercepts_"] = [b.copy() for b in self.intercepts_]
        if opt is not None:
            state["_optimizer_state"] = opt.state_dict()
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "coefs_" in state:
            self._bind(self._current_model())
        saved = self.__dict__.pop("_optimizer_state", None)
        if saved is not None:
            self._optimizer = _make_optimizer(self, self._model.parameters())
            self._optimizer.load_state_dict(saved)

    def _forward(self, X):
        """Output-layer activations (probabilities or values), computed in C."""
        model = self._current_model()
        z = model.logits(X)
        return ref.predict_output(z, self._output)

    def _n_threads(self):
        return _threads.resolve(self.n_threads)

    # ----------------------------------------------------------------- fit
    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self._check_params()
        if self.solver not in _STOCHASTIC and incremental:
            raise AttributeError(f"partial_fit is only available for stochastic "
                                 f"optimizers. {self.solver} is not stochastic.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        X = self._dense(X) if not first_pass else (X.toarray() if sp.issparse(X) else X)
        sw = self._check_sample_weight(sample_weight, X, y)
        targets, n_outputs = self._encode(y)
        if self._output != "softmax":      # 0/1 columns or values, in the model's dtype
            targets = np.ascontiguousarray(targets, dtype=X.dtype if first_pass else self._dtype)
        layer_units = [X.shape[1]] + hidden + [n_outputs]
        self._random_state = check_random_state(self.random_state)
        if not first_pass:
            units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
            if units != layer_units:
                raise ValueError(f"warm_start/partial_fit: the layers {units} of the fitted "
                                 f"model do not match {layer_units}")
            if getattr(self, "_model", None) is None or self._current_model() is not self._model:
                self._bind(self._current_model())
        else:
            self._dtype = X.dtype
            self.n_iter_ = 0
            self.t_ = 0
            self.n_outputs_ = n_outputs
            self.n_layers_ = len(layer_units)
            self.out_activation_ = self._out_activation_name()
            self._bind(self._init_model(layer_units, X.dtype))
            self._optimizer = None
            self._best_coefs = [c.copy() for c in self.coefs_]
            self._best_intercepts = [b.copy() for b in self.intercepts_]
            for name in ("loss_curve_", "best_loss_", "validation_scores_",
                         "best_validation_score_"):
                self.__dict__.pop(name, None)
            if self.solver in _STOCHASTIC:
                self.loss_curve_ = []
                self._no_improvement_count = 0
                if self.early_stopping:
                    self.validation_scores_ = []
                    self.best_validation_score_ = -np.inf
                    self.best_loss_ = None
                else:
                    self.best_loss_ = np.inf
                    self.validation_scores_ = None
                    self.best_validation_score_ = None
        self.n_threads_ = self._n_threads()
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, targets, sw)
        else:
            self._fit_stochastic(X, y, targets, sw, incremental)
        if not np.all(np.isfinite(self._model._flat)):
            raise ValueError("Solver produced non-finite parameter weights. The input data may"
                             " contain large values and need to be preprocessed.")
        return self

    def _data_loss(self, fastgd_loss):
        """scikit-learn's squared_loss averages over outputs too (its gradient does not)."""
        return fastgd_loss / self.n_outputs_ if self._output == "linear" else fastgd_loss

    def _fit_lbfgs(self, X, targets, sw):
        model = self._model
        n = X.shape[0]
        wsum = float(sw.sum()) if sw is not None else float(n)
        model.alpha = float(self.alpha) / wsum
        flat = model._flat
        labels, Y = (targets, None) if self._output == "softmax" else (None, targets)
        loss_grad = _lbfgs.FullBatchObjective(model, X, labels, Y, sw, self.n_threads_,
                                              self._data_loss)
        with _threads.single_threaded_blas():
            res = scipy.optimize.minimize(
                loss_grad, flat.astype(np.float64), method="L-BFGS-B", jac=True,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        flat[...] = res.x
        if res.status != 0:
            msg = res.message.decode("latin1") if isinstance(res.message, bytes) else res.message
            warnings.warn(f"lbfgs failed to converge after {res.nit} iteration(s) (status="
                          f"{res.status}):\n{msg}\n\nIncrease the number of iterations "
                          "(max_iter) or scale the data.", ConvergenceWarning, stacklevel=3)
        self.n_iter_ = min(int(res.nit), self.max_iter)
        self.loss_ = float(res.fun)
        if self.verbose:
            print(f"L-BFGS-B: {self.n_iter_} iterations, {res.nfev} evaluations, "
                  f"loss = {self.loss_:.8f}")

    def _fit_stochastic(self, X, y, targets, sw, incremental):
        model = self._model
        if not incremental or getattr(self, "_optimizer", None) is None:
            self._optimizer = _make_optimizer(self, model.parameters())
        opt = self._optimizer
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        X_val = y_val = sw_val = None
        if early_stopping:
            # as scikit-learn: stratified for one output column (binary) only
            stratify = targets if is_classifier(self) and self.n_outputs_ == 1 else None
            parts = train_test_split(X, targets, y, *(() if sw is None else (sw,)),
                                     random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, X_val, targets, _, _, y_val = parts[:6]
            if sw is not None:
                sw, sw_val = parts[6], parts[7]
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It "
                              "is going to be clipped", stacklevel=3)
            batch_size = int(np.clip(self.batch_size, 1, n))
        model.alpha = 0.0       # the engine gets scikit-learn's alpha / S_b per batch
        group = opt.param_groups[0]
        self.n_iter_ = 0
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        state = {"stop": False}

        def on_epoch_end(data, penalty):
            self.n_iter_ += 1
            self.loss_ = self._data_loss(data) + penalty
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            self._update_no_improvement_count(early_stopping, X_val, y_val, sw_val)
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                group["lr"] = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early_stopping else "Training loss"
                msg = (f"{what} did not improve more than tol={self.tol:f} for "
                       f"{self.n_iter_no_change} consecutive epochs.")
                if self.solver == "sgd" and self.learning_rate == "adaptive" and \
                        group["lr"] > 1e-6:
                    group["lr"] = group["lr"] / 5.0
                    if self.verbose:
                        print(msg + " Setting learning rate to %f" % group["lr"])
                    self._no_improvement_count = 0
                else:
                    if self.verbose:
                        print(msg + (" Learning rate too small." if self.solver == "sgd" and
                                     self.learning_rate == "adaptive" else "") + " Stopping.")
                    state["stop"] = True
                    return True
            return False

        try:
            _epochs.run_epochs(model, opt, X, targets, sw, alpha=float(self.alpha),
                               batch_size=batch_size,
                               epochs=1 if incremental else self.max_iter,
                               shuffle=bool(self.shuffle), seed=seed,
                               n_threads=self.n_threads_, on_epoch_end=on_epoch_end)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        if not incremental and not state["stop"] and self.n_iter_ == self.max_iter:
            warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                          "optimization hasn't converged yet." % self.max_iter,
                          ConvergenceWarning, stacklevel=3)
        if early_stopping:
            flat = model._flat
            off = 0
            for c, b in zip(self._best_coefs, self._best_intercepts):
                flat[off:off + c.size] = c.ravel()
                off += c.size
                flat[off:off + b.size] = b
                off += b.size

    def _update_no_improvement_count(self, early_stopping, X_val, y_val, sw_val):
        if early_stopping:
            score = self._score_fitted(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _score_fitted(self, X, y, sample_weight):
        pred = self._predict_checked(X)
        if np.issubdtype(pred.dtype, np.floating) and not np.isfinite(pred).all():
            return np.nan
        return float(self._score_function(y, pred, sample_weight=sample_weight))

    # ----------------------------------------------------------------- predict
    def _predict_input(self, X):
        check_is_fitted(self)
        return self._check_X(X, reset=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
