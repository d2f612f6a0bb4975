r"""Batch sizes and update rules on a real data set, timed against the NumPy reference.

Each configuration trains the same network from the same weights with ``fastgd.fit`` (the
C engine), then reports the final training cost J, held-out accuracy and throughput.
The same configuration is then run with ``fastgd.reference.fit`` and the optimizer's
NumPy twin (``fastgd.reference.<Name>``) for a short time budget, and the ratio of the two
samples-per-second figures is fastgd's speed-up. Both runs use the same thread count (the
reference's BLAS is limited to it), so the ratio compares implementations, not cores.

Progress is recorded per epoch (``epoch_loss``), never against seconds: on a loaded
machine a scheduler stall would look like an optimisation plateau. Throughput is the
*median* over epochs of each epoch's samples per second (every epoch is one repeat of the
same work), so a few stalled epochs do not move it.
"""
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

import fastgd
from fastgd import reference
from fastgd.lab.diagnostics.batch import (_model, _n_classes, full_loss, median_rate,
                                          one_blas_thread)

__all__ = ["TrainConfig", "TrainResult", "default_configs", "compare_training"]


@dataclass
class TrainConfig:
    """``optimizer``: a class name shared by fastgd and fastgd.reference (SGD, Momentum,
    RMSprop, Adam, ...); ``batch_size`` None means the whole training set."""

    name: str
    batch_size: int
    optimizer: str
    lr: float
    epochs: int
    group: str = ""


@dataclass
class TrainResult:
    config: TrainConfig
    batch_size: int
    final_loss: float
    test_accuracy: float
    seconds: float
    samples_per_second: float          # median over epochs of each epoch's samples/s
    epoch_loss: np.ndarray = None      # History.loss: mean batch cost of each epoch
    updates_per_epoch: int = None
    reference_samples_per_second: float = None   # the same median, fastgd.reference.fit

    @property
    def epochs(self):
        """1 .. E: the x axis of ``epoch_loss``."""
        return np.arange(1, len(self.epoch_loss) + 1)

    @property
    def speedup(self):
        r = self.reference_samples_per_second
        return self.samples_per_second / r if r else None


def default_configs(scale=1.0):
    """Batch GD / mini-batch 64 / SGD with plain gradient descent (SGD needs the smaller
    rate), then GD / Momentum / RMSprop / Adam on mini-batches of 64. ``scale`` multiplies
    the epoch counts (the demo's --quick uses less).

    The update rules run at rates that show each at its use: GD at 0.1; the lesson's
    Momentum (v = βv + (1−β)dW) at α = 0.1/(1 − β) = 1, i.e. GD's step plus β times the
    previous one (at GD's own α it would take GD's steps: fastgd.lab.diagnostics.saddle);
    RMSprop and Adam at 3e-3 (their step is about α per parameter, whatever the gradient's
    size). On the digits each of the three ends 4-15x below GD after 30 epochs, on every
    seed tried (tests/test_diagnostics.py checks it on three).
    """
    e = lambda k: max(1, int(round(k * scale)))  # noqa: E731
    return [
        TrainConfig("batch GD", None, "SGD", 0.5, e(200), "batch size"),
        TrainConfig("mini-batch 64", 64, "SGD", 0.1, e(30), "batch size"),
        TrainConfig("SGD (batch 1)", 1, "SGD", 0.01, e(10), "batch size"),
        TrainConfig("GD", 64, "SGD", 0.1, e(30), "update rule"),
        TrainConfig("Momentum β=0.9", 64, "Momentum", 1.0, e(30), "update rule"),
        TrainConfig("RMSprop", 64, "RMSprop", 3e-3, e(30), "update rule"),
        TrainConfig("Adam", 64, "Adam", 3e-3, e(30), "update rule"),
    ]


def compare_training(X_train, y_train, X_test, y_test, *, hidden=(64,), configs=None,
                     reference_seconds=0.3, seed=0, n_threads=1, dtype=np.float32):
    """Train every configuration (default :func:`default_configs`); returns TrainResults.

    ``reference_seconds``: training-time budget of each reference run (at least one
    epoch; 0 or None skips the reference).
    """
    X_train = np.ascontiguousarray(X_train, dtype=dtype)
    X_test = np.ascontiguousarray(X_test, dtype=dtype)
    configs = default_configs() if configs is None else configs
    sizes = [X_train.shape[1], *hidden, _n_classes(y_train, y_test)]
    n = X_train.shape[0]
    results = []
    for cfg in configs:
        bs = n if cfg.batch_size is None else min(cfg.batch_size, n)
        model = _model(sizes, seed, dtype)
        opt = getattr(fastgd, cfg.optimizer)(model.parameters(), lr=cfg.lr)
        h = fastgd.fit(model, X_train, y_train, opt, epochs=cfg.epochs, batch_size=bs,
                       seed=seed, n_threads=n_threads)
        with one_blas_thread():
            loss = full_loss(model, X_train, y_train)
        res = TrainResult(cfg, bs, loss, model.score(X_test, y_test), sum(h.time),
                          median_rate(h), np.array(h.loss), -(-n // bs))
        if reference_seconds:
            res.reference_samples_per_second = _reference_rate(
                sizes, seed, dtype, cfg, bs, X_train, y_train, reference_seconds, n_threads)
        results.append(res)
    return results


def _reference_rate(sizes, seed, dtype, cfg, bs, X, y, budget, n_threads):
    """Median epoch samples per second of fastgd.reference.fit on the same configuration,
    epochs run until ``budget`` seconds of training have passed (callback stop)."""
    model = _model(sizes, seed, dtype)
    opt = getattr(reference, cfg.optimizer)(model.parameters(), lr=cfg.lr)
    spent = [0.0]

    def stop(epoch, logs):
        spent[0] += logs["time"]
        return spent[0] >= budget

    with threadpool_limits(limits=n_threads, user_api="blas"):
        h = reference.fit(model, X, y, opt, epochs=cfg.epochs, batch_size=bs, seed=seed,
                          callbacks=[stop])
    return median_rate(h)
