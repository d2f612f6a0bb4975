"""The data and models of the subnormal-state benchmarks (test_bench_subnormal.py,
report_subnormal.py): real and synthetic data with many zero features, and dense random
data of the same shape, trained with Adam (float32, 1 thread) with
``flush_subnormal_state`` off and on.

Why zero features matter: a weight whose input is zero gets a zero gradient, so its Adam
moments decay by beta each step and, after ~800 steps (m, beta1 = 0.9), spend the rest of
the run as subnormals -- slow arithmetic on x86. ``Case.warm_up`` trains untimed epochs
first, so the timed epochs see the state a long run has."""
import numpy as np

import fastgd
from fastgd import datasets

DIGITS_SIZES = [64, 128, 64, 10]
SIZES = [784, 256, 128, 10]


def digits():
    X, y = datasets.load_digits(return_X_y=True, dtype=np.float32)
    return X, y


def sparse(n, seed=0):
    """MNIST-like: 784 features of which a fixed 40% (the "border") are always zero and
    each row keeps ~30% of the others; the non-zeros are |N(0, 1)|."""
    rng = np.random.default_rng(seed)
    X = np.abs(rng.standard_normal((n, SIZES[0]))).astype(np.float32)
    X[:, rng.random(SIZES[0]) < 0.4] = 0.0
    X[rng.random(X.shape) < 0.7] = 0.0
    y = rng.integers(0, SIZES[-1], n)
    return X, y


def dense(n, seed=0):
    return datasets.make_classification(n, SIZES[0], SIZES[-1], seed=seed, dtype=np.float32)


def data(name, n):
    if name == "digits":
        return digits()
    return {"sparse": sparse, "dense": dense}[name](n)


class Case:
    def __init__(self, name, X, y, batch_size, flush, seed=0):
        self.X, self.y, self.bs = X, y, batch_size
        self.model = fastgd.MLP(DIGITS_SIZES if name == "digits" else SIZES, seed=seed)
        self.opt = fastgd.Adam(self.model.parameters(), lr=1e-3, flush_subnormal_state=flush)
        self.epoch = 0

    def run(self):
        h = fastgd.fit(self.model, self.X, self.y, self.opt, epochs=1, batch_size=self.bs,
                       seed=0, initial_epoch=self.epoch, n_threads=1)
        self.epoch += 1
        return h

    def warm_up(self, epochs):
        for _ in range(epochs):
            self.run()

    def subnormal_share(self):
        """The share of Adam's exp_avg entries that are subnormal now."""
        tiny = np.finfo(np.float32).tiny
        m = np.concatenate([e["exp_avg"].ravel() for e in self.opt.state.values()])
        return float(np.mean((m != 0) & (np.abs(m) < tiny)))
