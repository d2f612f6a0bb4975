"""The mini-batch epochs of fastgd.sklearn: scikit-learn's per-batch L2 term in fastgd's C
engine, with the estimator's own loop between epochs.

Design: scikit-learn's MLP makes each batch's gradient ``(A^T (w * delta) + alpha W) /
S_b`` with ``S_b`` the batch's weight sum (its row count unweighted), so the last partial
batch and every weighted batch has its own L2 coefficient ``alpha / S_b``. The engine takes
one coefficient per batch (``Engine.run_epoch(alphas=)``), computed here per epoch from the
epoch's order, and returns the penalty part of scikit-learn's epoch loss (each batch's
``alpha / (2 S_b) * |W|^2`` at the weights the batch saw, times its rows) beside the data
loss. The loop is the estimator's and not ``fastgd.fit``'s: the estimator needs none of
fit's per-epoch work (History, the epoch-start snapshot for a divergence restore,
callbacks, schedules), which was ~0.8 ms an epoch on the digits model (~18% of its fit);
arguments are still checked and targets encoded by ``prepare_fit``, once per call.
"""
import numpy as np

from fastgd import batching
from fastgd._runtime import threads as _threads
from fastgd.training import train as _train
from fastgd.training.averaging import WeightAverage
from fastgd.training.fitcall import prepare_fit


def batch_alphas(alpha, order, starts, rows, weights):
    """scikit-learn's L2 coefficient of each batch: ``alpha`` over the batch's weight sum
    (its row count unweighted). A batch whose weights are all zero gets 0: it has no data
    gradient either (scikit-learn divides by zero there)."""
    if weights is None:
        return alpha / rows
    sums = np.add.reduceat(weights[order], starts)
    out = np.zeros_like(sums)
    np.divide(alpha, sums, out=out, where=sums > 0)
    return out


def run_epochs(model, optimizer, X, targets, sample_weight, *, alpha, batch_size, epochs,
               shuffle, seed, n_threads, on_epoch_end):
    """Train ``epochs`` epochs (fewer when ``on_epoch_end(data_loss, penalty)`` returns True;
    both are means over the epoch's rows, as scikit-learn accumulates its loss). Returns
    the epochs done. Raises ValueError on a non-finite batch loss (the batch is not
    applied) and KeyboardInterrupt after the batch that a Ctrl-C reached."""
    run = prepare_fit(model, X, targets, optimizer, epochs=epochs, batch_size=batch_size,
                      shuffle=shuffle, seed=seed, sample_weight=sample_weight)
    n, nb = run.n, run.n_batches
    starts = np.arange(nb, dtype=np.int64) * batch_size
    rows = (np.minimum(starts + batch_size, n) - starts).astype(np.float64)
    engine = model._engine(min(batch_size, n), n_threads)
    avg = WeightAverage(run)     # inactive: the engine's averaging stays off
    orders = batching.EpochOrders(n, run.seed, run.shuffle, epochs)
    layout = _train._group_layout(model, optimizer)   # one param group, never edited here
    with _threads.single_threaded_blas(), _train._ctrl_c_as_request():
        for epoch in range(epochs):
            order = orders(epoch)
            alphas = batch_alphas(alpha, order, starts, rows, run.weights)
            try:
                loss_sum, seen, bad = _train._engine_epoch(engine, run, optimizer, order, 0,
                                                           nb, None, avg, alphas,
                                                           layout=layout)
            except _train._Interrupted as stopped:
                raise stopped.cause from None
            if bad >= 0:
                raise ValueError(f"Solver produced a non-finite loss at epoch {epoch + 1}, "
                                 f"batch {bad + 1}. The input data may contain large values "
                                 "and need to be preprocessed.")
            if on_epoch_end(loss_sum / seen, engine.l2_sum / seen):
                return epoch + 1
    return epochs
