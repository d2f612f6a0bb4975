"""Multi-layer perceptrons whose parameters live in one contiguous buffer.

The semantics (layout, losses, activations) are fastgd/reference/mlp.py's; this class
holds the parameters and runs forward/backward through the C engine. Linear, logistic and
softmax regression are the zero-hidden-layer cases.
"""
import numbers

import numpy as np

from fastgd import _checks

from fastgd import init as _init

from fastgd.model import _engine

from fastgd._runtime import determinism as _determinism
from fastgd._runtime import owners as _owners
from fastgd._runtime import threads as _threads
from fastgd._runtime.npzio import NpzReader, write_npz
from fastgd.optim.utils import flat_parameters
from fastgd.reference import mlp as ref

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_GAIN_NAME = {"relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh",
              "sigmoid": "sigmoid", "identity": "linear"}


class MLP:
    """Dense network ``layer_sizes = [n_in, h1, ..., n_out]``.

    activation: hidden activation, one of relu, leaky_relu (slope 0.01), tanh, sigmoid,
    identity. output: softmax (cross-entropy; labels are class ids or one-hot rows),
    sigmoid (binary cross-entropy; targets in [0, 1], one column per output) or linear
    (squared error). init: "he", "xavier", "normal", "zeros", "orthogonal" or any
    fastgd.init function ``f(array, seed=Generator)``; biases start at zero. alpha: L2
    penalty (alpha/2)·Σ||W||² on the weights.
    """

    def __init__(self, layer_sizes, activation="relu", output="softmax", init="he",
                 dtype=np.float32, seed=None, alpha=0.0):
        sizes = _check_sizes(layer_sizes)
        if activation not in ref.ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ref.ACTIVATIONS}, got {activation!r}")
        if output not in ref.OUTPUTS:
            raise ValueError(f"output: expected one of {ref.OUTPUTS}, got {output!r}")
        if output == "softmax" and sizes[-1] < 2:
            raise ValueError("layer_sizes: a softmax output needs at least 2 classes; use "
                             "output='sigmoid' for one binary output")
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
        if dtype not in _FLOATS:
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        alpha = _checks.real(alpha, "alpha", low=0.0)
        init_fn = _resolve_init(init)
        self.layer_sizes = sizes
        self.activation = activation
        self.output = output
        self.dtype = dtype
        self.alpha = float(alpha)
        shapes = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            shapes += [(n_in, n_out), (n_out,)]
        self._flat, self._params = flat_parameters(shapes, dtype)
        # the engine's gradient scratch space (after a batch-1 fit it holds no complete
        # gradient: the weight gradients are made inside the update); loss_and_grads fills it
        self._grad_flat, self._grads = flat_parameters(shapes, dtype)
        _owners.register(self, self._params)    # so a pickled optimizer finds its model
        self.initialize(init_fn, seed)

    @property
    def n_layers(self):
        return len(self.layer_sizes) - 1

    def initialize(self, init="he", seed=None):
        """Re-draw the weights with ``init`` (biases to zero)."""
        init_fn = _resolve_init(init)
        rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
        for l, W in enumerate(self._params[0::2]):
            if init_fn in (_init.he_normal, _init.he_uniform):
                init_fn(W, nonlinearity=_GAIN_NAME[self.activation] if l < self.n_layers - 1
                        else "linear", negative_slope=ref.LEAKY_SLOPE
                        if self.activation == "leaky_relu" and l < self.n_layers - 1 else 0.0,
                        seed=rng)
            else:
                init_fn(W, seed=rng)
        for b in self._params[1::2]:
            b[...] = 0
        return self

    def parameters(self):
        """``[W1, b1, W2, b2, ...]``: views into one buffer, updated in place by optimizers."""
        return list(self._params)

    @property
    def n_params(self):
        return self._flat.size

    # ------------------------------------------------------------ inputs
    def check_X(self, X, name="X"):
        """Validate a feature matrix without copying it (any float dtype, C or F order)."""
        if not isinstance(X, np.ndarray) or isinstance(X, np.ma.MaskedArray):
            # a masked array's mask would be ignored: its hidden values would train
            raise TypeError(f"{name}: expected a numpy.ndarray, got {type(X).__name__}")
        if X.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D array (samples x features), got "
                             f"{X.ndim}-D")
        if X.dtype not in _FLOATS:
            raise TypeError(f"{name}: expected float32 or float64, got {X.dtype}; convert "
                            f"with {name}.astype(np.float32)")
        if X.shape[1] != self.layer_sizes[0]:
            raise ValueError(f"{name}: has {X.shape[1]} features, the model expects "
                             f"{self.layer_sizes[0]}")
        if X.shape[0] == 0:
            raise ValueError(f"{name}: has no samples")
        _check_finite(X, name)
        return X

    def encode_targets(self, y, n, name="y"):
        """(labels, Y): int64 class ids for softmax, float targets (n x n_out) otherwise."""
        n_out = self.layer_sizes[-1]
        y = np.asarray(y)
        if y.shape[0] != n if y.ndim else True:
            raise ValueError(f"{name}: has {y.shape[0] if y.ndim else 0} entries, X has {n} rows")
        if self.output == "softmax":
            bad_type = TypeError(f"{name}: expected integer class ids (or one-hot rows), "
                                 f"got {y.dtype} of shape {y.shape}")
            if y.ndim == 2:
                if y.shape[1] != n_out:
                    raise ValueError(f"{name}: one-hot rows need {n_out} columns, got {y.shape[1]}")
                if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
                    raise bad_type
                # argmax would silently pick a class from a NaN or soft-label row
                if not (np.all((y == 0) | (y == 1)) and np.all(np.count_nonzero(y, axis=1) == 1)):
                    raise ValueError(f"{name}: one-hot rows must hold a single 1 and zeros "
                                     "elsewhere")
                y = np.argmax(y, axis=1)
            if y.ndim == 1 and np.issubdtype(y.dtype, np.floating):
                # checked as floats: casting inf or a huge value to int64 is undefined
                _check_finite(y, name)
                if not np.all(y == np.round(y)):
                    raise bad_type
            elif y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
                raise bad_type
            if y.size and (y.min() < 0 or y.max() >= n_out):
                raise ValueError(f"{name}: class ids must lie in [0, {n_out}), got "
                                 f"[{y.min()}, {y.max()}]")
            return np.ascontiguousarray(y, dtype=np.int64), None
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if Y.ndim != 2 or Y.shape[1] != n_out:
            raise ValueError(f"{name}: expected shape ({n}, {n_out}) or ({n},) for one output, "
                             f"got {y.shape}")
        if np.iscomplexobj(Y) or not (np.issubdtype(Y.dtype, np.number) or Y.dtype == np.bool_):
            raise TypeError(f"{name}: expected real numbers, got {Y.dtype}")
        if Y.dtype not in _FLOATS:
            Y = Y.astype(self.dtype)
        _check_finite(Y, name)
        if self.output == "sigmoid" and Y.size and (Y.min() < 0 or Y.max() > 1):
            raise ValueError(f"{name}: sigmoid targets must lie in [0, 1]")
        return None, Y

    # ------------------------------------------------------------ evaluation
    def _engine(self, batch_max, n_threads=None):
        return _engine.Engine(self._flat, self._grad_flat, self.layer_sizes, self.activation,
                              self.output, self.alpha, batch_max, _threads.resolve(n_threads),
                              _determinism.get_deterministic())

    def logits(self, X):
        """Last layer's pre-activations, computed by the C engine in chunks of rows."""
        X = self.check_X(X)
        out = np.empty((X.shape[0], self.layer_sizes[-1]), dtype=self.dtype)
        with _threads.single_threaded_blas():
            return self._engine(min(X.shape[0], 4096)).logits(X, out)

    def predict_proba(self, X):
        if self.output == "linear":
            raise ValueError("predict_proba: a linear output has no probabilities; use predict")
        return ref.predict_output(self.logits(X), self.output)

    def predict(self, X):
        """Class ids (softmax), 0/1 labels (sigmoid, threshold 0.5) or values (linear)."""
        z = self.logits(X)
        if self.output == "softmax":
            return np.argmax(z, axis=1)
        if self.output == "sigmoid":
            pred = (z > 0).astype(np.int64)
            return pred[:, 0] if pred.shape[1] == 1 else pred
        return z[:, 0] if z.shape[1] == 1 else z

    def loss_and_grads(self, X, y):
        """Mean loss (+ L2 penalty) over all rows and copies of every parameter's gradient."""
        X = self.check_X(X)
        labels, Y = self.encode_targets(y, X.shape[0])
        with _threads.single_threaded_blas():
            loss = self._engine(X.shape[0]).loss_and_grads(X, labels, Y)
        return loss + ref.l2_penalty(self._params, self.alpha), [g.copy() for g in self._grads]

    def loss(self, X, y):
        """Mean loss (+ L2 penalty), evaluated in chunks (no gradients)."""
        X = self.check_X(X)
        return self._loss_and_metric(X, *self.encode_targets(y, X.shape[0]))[0]

    def score(self, X, y):
        """Accuracy (softmax, sigmoid) or the coefficient of determination R² (linear)."""
        X = self.check_X(X)
        return self._loss_and_metric(X, *self.encode_targets(y, X.shape[0]))[1]

    def _loss_and_metric(self, X, labels, Y):
        """(loss, metric) of checked inputs and encoded targets, from one forward pass."""
        z = np.empty((X.shape[0], self.layer_sizes[-1]), dtype=self.dtype)
        with _threads.single_threaded_blas():
            z = self._engine(min(X.shape[0], 4096)).logits(X, z)
        data, _ = ref.data_loss_and_dlogits(z, labels if labels is not None else Y, self.output)
        return data + ref.l2_penalty(self._params, self.alpha), ref.metric(z, labels, Y,
                                                                           self.output)

    @property
    def metric_name(self):
        return "r2" if self.output == "linear" else "accuracy"

    # ------------------------------------------------------------ persistence
    def _config(self):
        """The architecture, as plain data (what a model file and a checkpoint store)."""
        return {"layer_sizes": list(self.layer_sizes), "activation": self.activation,
                "output": self.output, "dtype": self.dtype.name, "alpha": self.alpha}

    def _file_arrays(self):
        c = self._config()
        return {"layer_sizes": np.array(c["layer_sizes"], dtype=np.int64),
                "activation": np.array(c["activation"]), "output": np.array(c["output"]),
                "alpha": np.array(c["alpha"]), "dtype": np.array(c["dtype"]),
                "params": self._flat}

    def save(self, path):
        """Write architecture and parameters to an .npz file (``.npz`` is appended when
        missing). The file is replaced atomically: a crash mid-write leaves the old one."""
        return write_npz(path, self._file_arrays())

    @classmethod
    def load(cls, path):
        """A model from :meth:`save`'s file (or a checkpoint's). Reads no pickle; a
        truncated, corrupted or hostile file raises ``ValueError`` naming the file and the
        problem, before anything is allocated from the sizes it declares."""
        with NpzReader(path, "model file") as f:
            return cls._from_npz(f)

    @classmethod
    def _from_npz(cls, f):
        sizes = f.read("layer_sizes", dtype="iu", ndim=1,
                       max_bytes=8 * (_engine.MAX_LAYERS_SUPPORTED + 1))
        config = {"layer_sizes": [int(s) for s in sizes],
                  "activation": f.read_str("activation", 64),
                  "output": f.read_str("output", 64), "dtype": f.read_str("dtype", 16)}
        alpha = f.read("alpha", dtype="fi", ndim=0)
        config["alpha"] = float(alpha)
        try:
            _check_sizes(config["layer_sizes"])
            dtype = np.dtype(config["dtype"])
            if dtype not in _FLOATS:
                raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        except (TypeError, ValueError) as e:
            raise f.error(f"{e}") from None
        n_params = sum(a * b + b for a, b in zip(config["layer_sizes"][:-1],
                                                 config["layer_sizes"][1:]))
        shape, got = f.info("params")
        if shape != (n_params,) or got != dtype:
            raise f.error(f"params: parameter count does not match its layer sizes "
                          f"({config['layer_sizes']} need {n_params} of {dtype}, the file "
                          f"holds shape {shape} of {got})")
        params = f.read("params", dtype=dtype, shape=(n_params,))
        if not np.isfinite(params).all():
            raise f.error("params: contains NaN or inf")
        try:
            model = cls._from_config(config)
        except (TypeError, ValueError) as e:
            raise f.error(f"{e}") from None
        model._flat[...] = params
        return model

    @classmethod
    def _from_config(cls, config, obj=None):
        model = MLP.__new__(cls) if obj is None else obj
        MLP.__init__(model, config["layer_sizes"], activation=config["activation"],
                     output=config["output"], dtype=config["dtype"], alpha=config["alpha"],
                     init="zeros")
        return model

    def __reduce__(self):
        # pickled through the model file's state, so the parameters come back as views of
        # one flat buffer (a plain pickle would make each view its own copy)
        extra = {k: v for k, v in self.__dict__.items() if k not in _PICKLED}
        return (_unpickle, (type(self), self._config(), self._flat, extra))

    def copy(self):
        other = MLP(self.layer_sizes, self.activation, self.output, "zeros", self.dtype,
                    alpha=self.alpha)
        other._flat[...] = self._flat
        return other

    def __repr__(self):
        return (f"{type(self).__name__}(layer_sizes={self.layer_sizes}, activation="
                f"{self.activation!r}, output={self.output!r}, dtype={self.dtype.name})")


_PICKLED = ("layer_sizes", "activation", "output", "dtype", "alpha", "_flat", "_params",
            "_grad_flat", "_grads")


def _unpickle(cls, config, flat, extra):
    model = cls._from_config(config)
    model._flat[...] = flat
    model.__dict__.update(extra)
    return model


def LinearRegression(n_features, n_outputs=1, **kw):
    """Least squares by gradient descent: MLP([n_features, n_outputs], output="linear")."""
    return MLP([n_features, n_outputs], output="linear", init=kw.pop("init", "zeros"), **kw)


def LogisticRegression(n_features, n_outputs=1, **kw):
    """Binary (or multi-label) logistic regression: MLP(..., output="sigmoid")."""
    return MLP([n_features, n_outputs], output="sigmoid", init=kw.pop("init", "zeros"), **kw)


def SoftmaxRegression(n_features, n_classes, **kw):
    """Multinomial logistic regression: MLP([n_features, n_classes], output="softmax")."""
    return MLP([n_features, n_classes], output="softmax", init=kw.pop("init", "zeros"), **kw)


def _resolve_init(init):
    if callable(init):
        return init
    if not isinstance(init, str):
        raise TypeError(f"init: expected a name or a function, got {init!r}")
    try:
        return _init.get(init)
    except ValueError as e:
        raise ValueError(f"init: {e}") from None


def _check_sizes(layer_sizes):
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise TypeError(f"layer_sizes: expected a list of ints, got {layer_sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes: need at least [n_in, n_out], got {sizes}")
    if len(sizes) - 1 > _engine.MAX_LAYERS_SUPPORTED:
        raise ValueError(f"layer_sizes: at most {_engine.MAX_LAYERS_SUPPORTED} layers")
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"layer_sizes[{i}]: expected an int, got {s!r}")
        if s < 1:
            raise ValueError(f"layer_sizes[{i}]: a layer needs width >= 1, got {s}")
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > 2 ** 34:     # 64 GiB of float32 parameters, twice (gradients)
        raise ValueError(f"layer_sizes: expected at most 2**34 parameters, got {n_params} "
                         f"for {sizes}")
    return [int(s) for s in sizes]


def _check_finite(A, name, chunk_elements=1 << 18):
    """NaN/inf check in row chunks of ~256k elements, so a memmap is never loaded whole
    and the temporary mask stays small whatever the row count (the check is bound by
    reading X: ~8 ms for 60,000 x 784 float32)."""
    rows_per_chunk = max(1, chunk_elements // max(1, A.shape[1] if A.ndim > 1 else 1))
    for r in range(0, A.shape[0], rows_per_chunk):
        chunk = A[r:r + rows_per_chunk]
        if not np.isfinite(chunk).all():
            bad = r + int(np.argwhere(~np.isfinite(chunk))[0][0])
            raise ValueError(f"{name}: contains NaN or inf (first at row {bad})")
