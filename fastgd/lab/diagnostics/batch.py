r"""Batch, mini-batch and stochastic gradient descent, measured (LESSON.md §3).

Two views of the same trade-off:

* :func:`cost_curves` -- the lesson's picture. For each batch size B the cost of the batch
  each step sees, :math:`J^{\{t\}} = \frac1B\sum_{i\in\text{batch } t} L(\hat y_i, y_i)`,
  step by step: smooth for batch GD (B = m, the same set every step), noisy but going down
  for mini-batches, very noisy for SGD (B = 1). Recorded with a per-step Python loop
  (NumPy forward/backward of fastgd.reference.mlp + the fastgd optimizer's step) over the
  batches ``fastgd.fit`` would use. Beside it the full training cost
  :math:`J = \frac1m\sum_i L` against *seconds*, from ``fastgd.fit`` itself (the C engine)
  at the end of each epoch, for a fixed time budget per batch size.
* :func:`batch_size_sweep` -- the lesson's advice ("try a few sizes, powers of two, 64 to
  512, keep the one that lowers the cost fastest") measured: for each power of two
  1 ... m (and m), the training seconds ``fastgd.fit`` needs until J <= ``target_loss``.
  J is checked at epoch ends only, so times have epoch granularity; the check runs in a
  callback and is not counted (History.time is training time only).
"""
import math
from dataclasses import dataclass, field

import numpy as np

from fastgd import batching, optim

from fastgd._runtime import threads as _threads
from fastgd.model.mlp import MLP
from fastgd.reference import mlp as ref
from fastgd.training.train import fit

__all__ = ["CostCurve", "cost_curves", "Sweep", "SweepRow", "batch_size_sweep", "full_loss",
           "default_modes", "powers_of_two"]


def full_loss(model, X, y):
    """Mean data loss J over all of (X, y), via the NumPy forward pass (no thread pools:
    cheap and steady enough to run after every epoch)."""
    labels, Y = model.encode_targets(y, X.shape[0])
    logits, _ = ref.forward(model.parameters(), np.asarray(X, dtype=model.dtype),
                            model.activation)
    return ref.data_loss_and_dlogits(logits, labels if labels is not None else Y,
                                     model.output)[0]


def default_modes(n):
    """(label, batch size, SGD learning rate): SGD needs the smaller rate (LESSON.md §3)."""
    return [("batch GD", n, 0.5), ("mini-batch 64", 64, 0.1), ("SGD (batch 1)", 1, 0.01)]


@dataclass
class CostCurve:
    """``batch_loss[t]``: cost of the batch seen at step t (before the step).
    ``epoch_seconds`` / ``epoch_loss``: cumulative fit training time and full J at each
    epoch end; ``seconds_per_step``: fit's mean time per step."""

    label: str
    batch_size: int
    lr: float
    batch_loss: np.ndarray
    epoch_seconds: np.ndarray
    epoch_loss: np.ndarray
    seconds_per_step: float

    @property
    def noise(self):
        """Mean |J^{t+1} - J^t| over the recorded steps: how jagged the curve is."""
        return float(np.mean(np.abs(np.diff(self.batch_loss)))) if len(self.batch_loss) > 1 \
            else 0.0


def _model(sizes, seed, dtype):
    """The experiments' classifier: ReLU hidden layers, softmax output, seeded He init
    (the same seed gives every compared run the same starting weights)."""
    return MLP(sizes, activation="relu", output="softmax", dtype=dtype, seed=seed)


def _n_classes(*ys):
    return max(2, max(int(np.max(y)) for y in ys) + 1)


def cost_curves(X, y, *, hidden=(64,), modes=None, steps=300, seconds=0.3, seed=0,
                n_threads=1, dtype=np.float32):
    """Per-step batch costs and cost-vs-seconds for each ``(label, batch_size, lr)`` mode
    (default :func:`default_modes`), plain SGD, same initial weights for every mode.

    ``steps``: steps recorded per mode; ``seconds``: fit's training-time budget per mode
    for the cost-vs-time curve (at least one epoch runs).
    """
    X = np.ascontiguousarray(X, dtype=dtype)
    n = X.shape[0]
    sizes = [X.shape[1], *hidden, _n_classes(y)]
    modes = default_modes(n) if modes is None else modes
    # One BLAS thread: these matrices are small, and a second BLAS pool fighting other
    # processes for 2 cores made each NumPy step ~10x slower (measured).
    with _threads.single_threaded_blas():
        return [_cost_curve(X, y, sizes, label, bs, lr, steps, seconds, seed, n_threads, dtype)
                for label, bs, lr in modes]


def _cost_curve(X, y, sizes, label, bs, lr, steps, seconds, seed, n_threads, dtype):
    """One mode: the per-step loop, then the timed fit run."""
    n = X.shape[0]
    model = _model(sizes, seed, dtype)
    opt = optim.SGD(model.parameters(), lr=lr)
    labels = model.encode_targets(y, n)[0]
    losses, nb = [], batching.n_batches(n, bs)
    epoch = 0
    while len(losses) < steps:
        order = batching.epoch_order(n, seed, epoch)
        for b in range(min(nb, steps - len(losses))):
            idx = order[b * bs:(b + 1) * bs]
            loss, grads = ref.data_loss_and_grads(model.parameters(), X[idx], labels[idx],
                                                  model.activation, model.output)
            losses.append(loss)
            opt.step(grads)
        epoch += 1
    # The time view: the C engine from the same start, stopped by a callback once
    # the budget is spent (the J evaluation is outside History.time).
    model = _model(sizes, seed, dtype)
    opt = optim.SGD(model.parameters(), lr=lr)
    ep_loss, spent = [full_loss(model, X, y)], [0.0]

    def on_epoch(epoch, logs):
        spent.append(spent[-1] + logs["time"])
        ep_loss.append(full_loss(model, X, y))
        return spent[-1] >= seconds

    h = fit(model, X, y, opt, epochs=100000, batch_size=bs, seed=seed,
            callbacks=[on_epoch], n_threads=n_threads)
    return CostCurve(label, bs, lr, np.array(losses), np.array(spent),
                     np.array(ep_loss), sum(h.time) / (len(h) * nb))


def powers_of_two(n):
    """1, 2, 4, ... below n, then n itself (batch gradient descent)."""
    return [2 ** i for i in range(int(math.log2(n)) + 1) if 2 ** i < n] + [n]


@dataclass
class SweepRow:
    """One batch size: ``seconds`` (training time) and ``epochs`` until J <= target
    (None if not reached within the limits); ``final_loss`` the last J measured."""

    batch_size: int
    seconds: float
    epochs: int
    steps: int
    samples_per_second: float
    final_loss: float

    @property
    def reached(self):
        return self.seconds is not None


@dataclass
class Sweep:
    target_loss: float
    rows: list = field(default_factory=list)

    @property
    def best(self):
        """The row that reached the target soonest (None if none did)."""
        done = [r for r in self.rows if r.reached]
        return min(done, key=lambda r: r.seconds) if done else None


def batch_size_sweep(X, y, *, target_loss, hidden=(128,), sizes=None, optimizer=None,
                     max_epochs=1000, time_limit=1.0, seed=0, n_threads=1,
                     dtype=np.float32):
    """Training seconds to reach ``J <= target_loss`` for each batch size.

    ``optimizer``: factory ``f(params) -> optimizer``, the same for every size (default
    ``Adam(lr=1e-3)``, a rate that is reasonable from B = 1 to B = m); every size starts
    from the same weights. A size stops at the target, after ``max_epochs``, or once its
    training time passes ``time_limit`` seconds.
    """
    X = np.ascontiguousarray(X, dtype=dtype)
    n = X.shape[0]
    sizes = powers_of_two(n) if sizes is None else sorted(set(int(s) for s in sizes))
    optimizer = optimizer or (lambda p: optim.Adam(p, lr=1e-3))
    layer_sizes = [X.shape[1], *hidden, _n_classes(y)]
    sweep = Sweep(target_loss=float(target_loss))
    with _threads.single_threaded_blas():
        for bs in sizes:
            sweep.rows.append(_time_to_target(X, y, layer_sizes, bs, optimizer, target_loss,
                                              max_epochs, time_limit, seed, n_threads, dtype))
    return sweep


def _time_to_target(X, y, layer_sizes, bs, optimizer, target_loss, max_epochs, time_limit,
                    seed, n_threads, dtype):
    model = _model(layer_sizes, seed, dtype)
    opt = optimizer(model.parameters())
    state = {"spent": 0.0, "loss": None, "hit": None}

    def on_epoch(epoch, logs):
        state["spent"] += logs["time"]
        state["loss"] = full_loss(model, X, y)
        if state["loss"] <= target_loss:
            state["hit"] = (state["spent"], epoch + 1)
            return True
        return state["spent"] >= time_limit

    h = fit(model, X, y, opt, epochs=max_epochs, batch_size=bs, seed=seed,
            callbacks=[on_epoch], n_threads=n_threads)
    seconds, epochs = state["hit"] if state["hit"] else (None, None)
    steps = None if epochs is None else epochs * batching.n_batches(X.shape[0], bs)
    return SweepRow(bs, seconds, epochs, steps, h.samples_per_second, state["loss"])
