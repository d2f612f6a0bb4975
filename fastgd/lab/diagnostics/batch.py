r"""Batch, mini-batch and stochastic gradient descent, measured (LESSON.md §3).

Two views of the same trade-off:

* :func:`cost_curves` -- the lesson's picture. For each batch size B the cost of the batch
  each step sees, :math:`J^{\{t\}} = \frac1B\sum_{i\in\text{batch } t} L(\hat y_i, y_i)`,
  step by step: smooth for batch GD (B = m, the same set every step), noisy but going down
  for mini-batches, very noisy for SGD (B = 1). Recorded by ``fastgd.fit`` itself with
  ``callback_every=1`` (the engine's cost of each batch, before its step). Beside it the
  full training cost
  :math:`J = \frac1m\sum_i L` after each *epoch* of ``fastgd.fit`` itself (the C engine),
  and its throughput.
* :func:`batch_size_sweep` -- the lesson's advice ("try a few sizes, powers of two, 64 to
  512, keep the one that lowers the cost fastest") measured: for each power of two
  1 ... m (and m), the epochs (and updates) ``fastgd.fit`` needs until J <= ``target_loss``,
  and its throughput; their ratio is the training time to the target.

Progress is counted in epochs and updates, which do not depend on the machine; time enters
only through throughput, the *median* over epochs of each epoch's samples per second
(:func:`median_rate`): every epoch repeats the same work, so the median ignores the few
that a loaded machine stalls (a sum of epoch times does not). J is checked in a callback
at epoch ends, outside History.time.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from threadpoolctl import threadpool_limits

import fastgd
from fastgd import batching, reference

__all__ = ["CostCurve", "cost_curves", "Sweep", "SweepRow", "batch_size_sweep", "full_loss",
           "default_modes", "powers_of_two", "median_rate", "one_blas_thread"]


def full_loss(model, X, y):
    """Mean data loss J over all of (X, y), via fastgd.reference's NumPy forward pass.

    Not ``model.loss``: that runs the C engine at the default thread count, and on a
    loaded 2-core machine two OpenMP threads waiting on each other made each call ~10x
    slower than this (measured: 25 ms against ~2 ms for the 1797 digits). Call it under
    single-threaded BLAS (:func:`one_blas_thread`)."""
    labels, Y = model.encode_targets(y, X.shape[0])
    logits, _ = reference.mlp.forward(model.parameters(), np.asarray(X, dtype=model.dtype),
                                      model.activation)
    return float(reference.mlp.data_loss_and_dlogits(
        logits, labels if labels is not None else Y, model.output)[0])


def one_blas_thread():
    """Context manager: NumPy's BLAS on one thread. These matrices are small, and a second
    BLAS pool fighting other processes for 2 cores made each NumPy step ~10x slower."""
    return threadpool_limits(limits=1, user_api="blas")


def median_rate(history):
    """Median over epochs of samples / seconds of a History: the throughput of one epoch's
    work, robust to the few epochs a busy machine stalls (nan with no timed epoch)."""
    rates = [s / t for s, t in zip(history.samples, history.time) if t and t > 0]
    return float(np.median(rates)) if rates else float("nan")


def default_modes(n):
    """(label, batch size, SGD learning rate): SGD needs the smaller rate (LESSON.md §3)."""
    return [("batch GD", n, 0.5), ("mini-batch 64", 64, 0.1), ("SGD (batch 1)", 1, 0.01)]


@dataclass
class CostCurve:
    """``batch_loss[t]``: cost of the batch seen at step t (before the step).
    ``epoch_loss[e]``: full J after epoch e of fastgd.fit (index 0 = the start);
    ``samples_per_second``: fit's median epoch throughput (:func:`median_rate`)."""

    label: str
    batch_size: int
    lr: float
    batch_loss: np.ndarray
    epoch_loss: np.ndarray
    samples_per_second: float
    updates_per_epoch: int

    @property
    def noise(self):
        """Mean |J^{t+1} - J^t| over the recorded steps: how jagged the curve is."""
        return float(np.mean(np.abs(np.diff(self.batch_loss)))) if len(self.batch_loss) > 1 \
            else 0.0

    @property
    def seconds_per_step(self):
        """Median seconds per update: batch size / samples per second."""
        return self.batch_size / self.samples_per_second


def _model(sizes, seed, dtype):
    """The experiments' classifier: ReLU hidden layers, softmax output, seeded He init
    (the same seed gives every compared run the same starting weights)."""
    return fastgd.MLP(sizes, activation="relu", output="softmax", dtype=dtype, seed=seed)


def _n_classes(*ys):
    return max(2, max(int(np.max(y)) for y in ys) + 1)


def cost_curves(X, y, *, hidden=(64,), modes=None, steps=300, epochs=10, seed=0,
                n_threads=1, dtype=np.float32):
    """Per-step batch costs, and J per epoch of fastgd.fit, for each ``(label, batch_size,
    lr)`` mode (default :func:`default_modes`), plain SGD, same initial weights for every
    mode.

    ``steps``: steps recorded per mode; ``epochs``: fit's epochs per mode for the
    cost-per-epoch curve and the throughput.
    """
    X = np.ascontiguousarray(X, dtype=dtype)
    n = X.shape[0]
    sizes = [X.shape[1], *hidden, _n_classes(y)]
    modes = default_modes(n) if modes is None else modes
    with one_blas_thread():
        return [_cost_curve(X, y, sizes, label, bs, lr, steps, epochs, seed, n_threads,
                            dtype) for label, bs, lr in modes]


class _BatchLosses:
    """fit callback (``callback_every=1``) that records the cost of every batch, as the
    engine computed it before that batch's step, until ``steps`` are recorded.

    fit's logs carry the running mean cost of the epoch so far and its sample count;
    each batch's own cost is the difference of successive running sums (float64)."""

    def __init__(self, steps):
        self.steps, self.losses, self._sum, self._rows = steps, [], 0.0, 0

    def _take(self, logs):
        total = logs["loss"] * logs["samples"]
        rows = logs["samples"] - self._rows
        if rows > 0 and len(self.losses) < self.steps:
            self.losses.append((total - self._sum) / rows)
        self._sum, self._rows = total, logs["samples"]
        return len(self.losses) >= self.steps

    def on_batches_end(self, epoch, logs):
        return self._take(logs)

    def on_epoch_end(self, epoch, logs):
        done = self._take(logs)   # the epoch's last batch (no on_batches_end for it)
        self._sum, self._rows = 0.0, 0
        return done


def _cost_curve(X, y, sizes, label, bs, lr, steps, epochs, seed, n_threads, dtype):
    """One mode: fit with a callback after every batch (the per-step view), then a plain
    fit from the same start (the epoch view and the throughput)."""
    n = X.shape[0]
    nb = batching.n_batches(n, bs)
    model = _model(sizes, seed, dtype)
    rec = _BatchLosses(steps)
    fastgd.fit(model, X, y, fastgd.SGD(model.parameters(), lr=lr), epochs=-(-steps // nb),
               batch_size=bs, seed=seed, callbacks=[rec], callback_every=1,
               n_threads=n_threads)
    # The epoch view: the C engine from the same start (J evaluated outside History.time).
    model = _model(sizes, seed, dtype)
    opt = fastgd.SGD(model.parameters(), lr=lr)
    ep_loss = [full_loss(model, X, y)]
    h = fastgd.fit(model, X, y, opt, epochs=epochs, batch_size=bs, seed=seed,
                   callbacks=[lambda e, logs: ep_loss.append(full_loss(model, X, y))],
                   n_threads=n_threads)
    return CostCurve(label, bs, lr, np.array(rec.losses), np.array(ep_loss), median_rate(h),
                     nb)


def powers_of_two(n):
    """1, 2, 4, ... below n, then n itself (batch gradient descent)."""
    return [2 ** i for i in range(int(math.log2(n)) + 1) if 2 ** i < n] + [n]


@dataclass
class SweepRow:
    """One batch size: ``epochs`` and ``steps`` (updates) until J <= target (None if not
    reached within ``max_epochs``); ``samples_per_second`` the median epoch throughput;
    ``final_loss`` the last J measured."""

    batch_size: int
    epochs: int
    steps: int
    samples_per_second: float
    final_loss: float
    n_samples: int

    @property
    def reached(self):
        return self.epochs is not None

    @property
    def seconds(self):
        """Training seconds to the target at the median throughput: epochs · m / (samples
        per second); None if not reached."""
        if not self.reached:
            return None
        return self.epochs * self.n_samples / self.samples_per_second


@dataclass
class Sweep:
    target_loss: float
    max_epochs: int
    rows: list = field(default_factory=list)

    @property
    def best(self):
        """The row that reached the target in the least training time (None if none did)."""
        done = [r for r in self.rows if r.reached]
        return min(done, key=lambda r: r.seconds) if done else None

    def row(self, batch_size):
        return next(r for r in self.rows if r.batch_size == batch_size)


def batch_size_sweep(X, y, *, target_loss, hidden=(128,), sizes=None, optimizer=None,
                     max_epochs=100, seed=0, n_threads=1, dtype=np.float32):
    """Epochs, updates and training time to reach ``J <= target_loss`` for each batch size.

    ``optimizer``: factory ``f(params) -> optimizer``, the same for every size (default
    ``Adam(lr=1e-3)``, a rate that is reasonable from B = 1 to B = m); every size starts
    from the same weights. A size stops at the target or after ``max_epochs`` (a budget
    in samples, the same for every size and every machine).
    """
    X = np.ascontiguousarray(X, dtype=dtype)
    n = X.shape[0]
    sizes = powers_of_two(n) if sizes is None else sorted(set(int(s) for s in sizes))
    optimizer = optimizer or (lambda p: fastgd.Adam(p, lr=1e-3))
    layer_sizes = [X.shape[1], *hidden, _n_classes(y)]
    sweep = Sweep(target_loss=float(target_loss), max_epochs=int(max_epochs))
    with one_blas_thread():
        for bs in sizes:
            sweep.rows.append(_to_target(X, y, layer_sizes, bs, optimizer, target_loss,
                                         max_epochs, seed, n_threads, dtype))
    return sweep


def _to_target(X, y, layer_sizes, bs, optimizer, target_loss, max_epochs, seed, n_threads,
               dtype):
    model = _model(layer_sizes, seed, dtype)
    opt = optimizer(model.parameters())
    state = {"loss": None, "hit": None}

    def on_epoch(epoch, logs):
        state["loss"] = full_loss(model, X, y)
        if state["loss"] <= target_loss:
            state["hit"] = epoch + 1
            return True
        return False

    h = fastgd.fit(model, X, y, opt, epochs=max_epochs, batch_size=bs, seed=seed,
                   callbacks=[on_epoch], n_threads=n_threads)
    epochs = state["hit"]
    steps = None if epochs is None else epochs * batching.n_batches(X.shape[0], bs)
    return SweepRow(bs, epochs, steps, median_rate(h), state["loss"], X.shape[0])
