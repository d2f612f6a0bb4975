"""One training epoch of an MLP, by every implementation the training benchmarks compare.

Each ``Trainer`` owns its model and data and exposes ``epoch()`` (one pass over the data,
returns the mean training loss) so pytest-benchmark and report_train.py time the same
thing. The work is the issue's reference problem: MLP 784-256-128-10 on synthetic
classification data, float32, Adam with default settings, shuffled every epoch.
FLOPs per sample: forward 2W, weight gradients 2W, input gradients of layers 2-3 2W'
(W = 784*256 + 256*128 + 128*10 weights, W' = the last two layers) ~ 1.0 MFLOP.
"""
import os
import time
import warnings

import numpy as np

import fastgd
from fastgd import datasets

SIZES = [784, 256, 128, 10]
_W = [a * b for a, b in zip(SIZES[:-1], SIZES[1:])]
FLOP_PER_SAMPLE = 2 * sum(_W) + 2 * sum(_W) + 2 * sum(_W[1:])
IMPLS = ["fastgd", "fastgd-flush", "reference", "torch", "torch-dataloader", "sklearn", "jax"]


def bench_threads():
    return int(os.environ.get("FASTGD_BENCH_THREADS", "1"))


def make_data(n, seed=0):
    return datasets.make_classification(n, SIZES[0], SIZES[-1], seed=seed, dtype=np.float32)


def unavailable(impl):
    """Why ``impl`` cannot run here, or None."""
    mod = {"torch": "torch", "torch-dataloader": "torch", "sklearn": "sklearn",
           "jax": "optax"}.get(impl)
    if mod is None:
        return None
    try:
        __import__(mod)
    except ImportError:
        return f"{mod} is not installed"
    return None


class Trainer:
    def __init__(self, impl, X, y, batch_size, n_threads, seed=0):
        self.impl, self.X, self.y, self.bs, self.n_threads = impl, X, y, batch_size, n_threads
        self.epochs_run = 0
        getattr(self, "_setup_" + impl.replace("-", "_"))(seed)

    # ------------------------------------------------------------------ fastgd and twin
    def _setup_fastgd(self, seed):
        self.model = fastgd.MLP(SIZES, seed=seed)
        self.opt = fastgd.Adam(self.model.parameters())

    def _setup_fastgd_flush(self, seed):
        """fastgd with flush_subnormal_state=True (JAX/XLA flushes subnormals on CPU)."""
        self.model = fastgd.MLP(SIZES, seed=seed)
        self.opt = fastgd.Adam(self.model.parameters(), flush_subnormal_state=True)

    def _epoch_fastgd_flush(self):
        return self._epoch_fastgd()

    def _setup_reference(self, seed):
        self.model = fastgd.MLP(SIZES, seed=seed)
        self.opt = fastgd.reference.Adam(self.model.parameters())

    def _epoch_fastgd(self):
        h = fastgd.fit(self.model, self.X, self.y, self.opt, epochs=1, batch_size=self.bs,
                       seed=0, initial_epoch=self.epochs_run, n_threads=self.n_threads)
        return h.loss[-1]

    def _epoch_reference(self):
        from threadpoolctl import threadpool_limits
        with threadpool_limits(self.n_threads, user_api="blas"):
            h = fastgd.reference.fit(self.model, self.X, self.y, self.opt, epochs=1,
                                     batch_size=self.bs, seed=0, initial_epoch=self.epochs_run)
        return h.loss[-1]

    # ------------------------------------------------------------------ PyTorch
    def _setup_torch(self, seed):
        import torch
        torch.set_num_threads(self.n_threads)
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(),
            torch.nn.Linear(SIZES[1], SIZES[2]), torch.nn.ReLU(),
            torch.nn.Linear(SIZES[2], SIZES[3]))
        self.topt = torch.optim.Adam(self.net.parameters())   # torch's default settings
        self.tX = torch.from_numpy(self.X)
        self.ty = torch.from_numpy(self.y)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    _setup_torch_dataloader = _setup_torch

    def _torch_batch(self, xb, yb):
        self.topt.zero_grad()
        loss = self.loss_fn(self.net(xb), yb)
        loss.backward()
        self.topt.step()
        return float(loss.detach()) * len(yb)

    def _epoch_torch(self):
        import torch
        perm = torch.randperm(len(self.ty))
        total = 0.0
        for s in range(0, len(perm), self.bs):
            idx = perm[s:s + self.bs]
            total += self._torch_batch(self.tX[idx], self.ty[idx])
        return total / len(perm)

    def _epoch_torch_dataloader(self):
        import torch
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(self.tX, self.ty),
                                             batch_size=self.bs, shuffle=True)
        total = sum(self._torch_batch(xb, yb) for xb, yb in loader)
        return total / len(self.ty)

    # ------------------------------------------------------------------ scikit-learn
    def _setup_sklearn(self, seed):
        from sklearn.neural_network import MLPClassifier
        self.clf = MLPClassifier(hidden_layer_sizes=tuple(SIZES[1:-1]), solver="adam",
                                 batch_size=self.bs, max_iter=1, shuffle=True,
                                 random_state=seed, tol=0.0, warm_start=True)

    def _epoch_sklearn(self):
        from sklearn.exceptions import ConvergenceWarning
        from threadpoolctl import threadpool_limits
        with warnings.catch_warnings(), threadpool_limits(self.n_threads, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.clf.fit(self.X, self.y)      # warm_start + max_iter=1: one more epoch
        return float(self.clf.loss_)

    # ------------------------------------------------------------------ JAX
    def _setup_jax(self, seed):
        """The epoch as one jit-compiled ``lax.scan`` over its batches, optax Adam with
        torch's defaults; XLA held to n_threads threads (its flags are read when jax is
        first imported, so they are set here if it is not loaded yet). The last partial
        batch is dropped (scan needs equal batches): at most bs - 1 samples of 60 000."""
        import sys
        if "jax" not in sys.modules:
            os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen="
                                  f"{'false' if self.n_threads == 1 else 'true'} "
                                  f"intra_op_parallelism_threads={self.n_threads}")
        import jax
        import jax.numpy as jnp
        import optax
        keys = jax.random.split(jax.random.PRNGKey(seed), len(SIZES) - 1)
        self.jparams = []
        for k, (a, b) in zip(keys, zip(SIZES[:-1], SIZES[1:])):
            bound = 1.0 / np.sqrt(a)      # torch.nn.Linear's uniform bound
            kw, kb = jax.random.split(k)
            self.jparams.append((jax.random.uniform(kw, (a, b), jnp.float32, -bound, bound),
                                 jax.random.uniform(kb, (b,), jnp.float32, -bound, bound)))
        opt = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-8)
        self.jopt_state = opt.init(self.jparams)

        def loss_fn(params, xb, yb):
            h = xb
            for i, (w, b) in enumerate(params):
                h = h @ w + b
                if i < len(params) - 1:
                    h = jax.nn.relu(h)
            return optax.softmax_cross_entropy_with_integer_labels(h, yb).mean()

        def step(carry, batch):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
            updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        @jax.jit
        def epoch(params, state, xs, ys):
            (params, state), losses = jax.lax.scan(step, (params, state), (xs, ys))
            return params, state, losses.mean()

        self.jepoch, self.jnp = epoch, jnp
        self.jrng = np.random.default_rng(seed)

    def _epoch_jax(self):
        nb = len(self.y) // self.bs
        order = self.jrng.permutation(len(self.y))[:nb * self.bs]
        xs = self.jnp.asarray(self.X[order].reshape(nb, self.bs, -1))
        ys = self.jnp.asarray(self.y[order].reshape(nb, self.bs).astype(np.int32))
        self.jparams, self.jopt_state, loss = self.jepoch(self.jparams, self.jopt_state, xs, ys)
        return float(loss)      # waits for the result

    # ------------------------------------------------------------------ the call
    def epoch(self):
        loss = getattr(self, "_epoch_" + self.impl.replace("-", "_"))()
        self.epochs_run += 1
        return loss


def gemm_roof(n_threads, seconds=0.5):
    """GFLOP/s of NumPy's sgemm on the problem's largest layer at batch 1024 (the practical
    roof of a GEMM-bound training step on this machine and thread count)."""
    from threadpoolctl import threadpool_limits
    a = np.random.default_rng(0).random((1024, SIZES[0]), dtype=np.float32)
    b = np.random.default_rng(1).random((SIZES[0], SIZES[1]), dtype=np.float32)
    with threadpool_limits(n_threads, user_api="blas"):
        for _ in range(3):
            a @ b
        best, t_end = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 2 * 1024 * SIZES[0] * SIZES[1] / best / 1e9
