"""The objective fastgd.sklearn's lbfgs solver hands to SciPy's L-BFGS-B: scikit-learn's
full-batch loss and gradient, computed by the C engine in blocks of rows.

Design: one engine call over all n rows keeps every layer's activations for all of them
(1797 x 100 doubles for digits, past L2) and runs the narrow last-layer products at
10-11 GFLOP/s; blocks of ~128 rows stay in cache and run them at ~25. The gradient is the
weighted sum of the blocks' gradients, ``sum_c (S_c / S) g_c`` with S_c a block's weight
sum (its rows unweighted), which is the whole batch's mean gradient plus ``alpha W`` since
the shares add up to 1. Measured on digits (64-100-10, float64, 1 thread, loaded 2-vCPU
host): 3.4 ms -> 2.2 ms an evaluation at 128 rows (64: 2.5, 200: 2.5, 256: 2.6); on
10000 x 784 rows: 132 -> 104-109 ms (another run, heavier load: 225 -> 192-205 ms for
128-1024 rows). The gradient moves by ~2e-16 (summation order).
"""
import numpy as np

_BLOCK_ROWS = 128
# the engine gives a thread a batch's rows only for >= 2**20 multiply-adds (DESIGN, "When a
# thread joins"): a block holds that much per thread, so blocking keeps the threads busy
_WORK_PER_THREAD = 2 ** 20


def block_rows(n_params, n_threads):
    """Rows per block: 128 on one thread; with more, 128 or enough rows for 2**20
    multiply-adds, whichever is more, for each thread."""
    if n_threads <= 1:
        return _BLOCK_ROWS
    return max(_BLOCK_ROWS, -(-_WORK_PER_THREAD // max(n_params, 1))) * n_threads


class FullBatchObjective:
    """``f(x) -> (loss, float64 gradient)`` at the flat parameters x: scikit-learn's
    data loss (``data_loss`` maps fastgd's to it) plus ``alpha_over_S / 2 * |W|^2``, where
    the model's alpha is already scikit-learn's alpha over the weight sum."""

    def __init__(self, model, X, labels, Y, sample_weight, n_threads, data_loss):
        n = X.shape[0]
        rows = block_rows(model._flat.size, n_threads)
        self._engine = model._engine(min(rows, n), n_threads)
        self._model, self._data_loss = model, data_loss
        self._weights = model.parameters()[0::2]
        self._blocks = []
        total = float(sample_weight.sum()) if sample_weight is not None else float(n)
        for s in range(0, n, rows):
            part = slice(s, min(s + rows, n))
            w = None if sample_weight is None else sample_weight[part]
            share = (float(w.sum()) if w is not None else float(part.stop - s)) / total
            self._blocks.append((X[part], None if labels is None else labels[part],
                                 None if Y is None else Y[part], w, share))
        self._sum = np.zeros(model._flat.size, dtype=np.float64)

    def __call__(self, x):
        model, grad, total = self._model, self._model._grad_flat, self._sum
        model._flat[...] = x
        data = 0.0
        for i, (Xb, lb, Yb, wb, share) in enumerate(self._blocks):
            data += share * self._engine.loss_and_grads(Xb, lb, Yb, wb)
            if i == 0:
                np.multiply(grad, share, out=total)
            else:
                total += share * grad
        squares = sum(float(np.dot(W.ravel(), W.ravel())) for W in self._weights)
        return self._data_loss(data) + 0.5 * model.alpha * squares, total.copy()
