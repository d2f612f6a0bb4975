"""``fastgd bench``: a seconds-long throughput check against the NumPy reference and, when
importable, PyTorch and scikit-learn (imported here, lazily, never by ``import fastgd``).

Two measurements, each the best of ``repeat`` timed runs after one warm-up:

* one Adam step on ``n_params`` float32 parameters (the optimizer kernel alone);
* one training epoch of an MLP 784-256-128-10 (ReLU, softmax) on ``n_samples`` synthetic
  float32 samples, mini-batches of 128, Adam lr 1e-3.

Every library gets the same thread count (torch.set_num_threads, a BLAS limit for NumPy
and scikit-learn), restored afterwards; without --threads it is fastgd's automatic default,
which leaves out CPUs that other processes keep busy (on a loaded machine a team of all
CPUs waits at every barrier for a descheduled thread: see fastgd/_runtime/threads.py), and
the header says how it was reached. ``x fastgd`` is how many times longer a row takes
than fastgd's.
"""
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from fastgd._runtime import threads as _threads

__all__ = ["run_bench"]


def _best(fn, repeat):
    fn()   # warm-up: first-touch of buffers, lazy initialisation, caches
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _sklearn_mlp():
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    return MLPClassifier


def bench_optimizer(n_params, repeat, n_threads):
    """Seconds per Adam step: [(implementation, seconds)]."""
    import fastgd
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(n_params, dtype=np.float32)
    g = rng.standard_normal(n_params, dtype=np.float32)
    rows = []
    p = p0.copy()
    opt = fastgd.Adam([p], lr=1e-3, n_threads=n_threads)
    rows.append(("fastgd.Adam", _best(lambda: opt.step([g]), repeat)))
    p = p0.copy()
    ropt = fastgd.reference.Adam([p], lr=1e-3)
    with threadpool_limits(limits=n_threads):
        rows.append(("fastgd.reference.Adam (NumPy)", _best(lambda: ropt.step([g]), repeat)))
    torch = _torch()
    if torch is not None:
        tp = torch.from_numpy(p0.copy()).requires_grad_()
        tp.grad = torch.from_numpy(g.copy())
        topt = torch.optim.Adam([tp], lr=1e-3)
        rows.append(("torch.optim.Adam", _best(topt.step, repeat)))
    return rows


def bench_epoch(n_samples, repeat, n_threads):
    """Seconds per training epoch: [(implementation, seconds)]."""
    import fastgd
    X, y = fastgd.datasets.make_classification(n_samples, 784, 10, n_informative=16, seed=0)
    sizes, bs = [784, 256, 128, 10], 128
    rows = []
    model = fastgd.MLP(sizes, seed=0)
    opt = fastgd.Adam(model.parameters(), lr=1e-3)
    rows.append(("fastgd.fit", _best(lambda: fastgd.fit(
        model, X, y, opt, epochs=1, batch_size=bs, seed=0, n_threads=n_threads), repeat)))
    model = fastgd.MLP(sizes, seed=0)
    ropt = fastgd.reference.Adam(model.parameters(), lr=1e-3)
    with threadpool_limits(limits=n_threads):
        rows.append(("fastgd.reference.fit (NumPy)", _best(lambda: fastgd.reference.fit(
            model, X, y, ropt, epochs=1, batch_size=bs, seed=0), repeat)))
    torch = _torch()
    if torch is not None:
        rows.append(("torch (nn.Sequential, Adam)", _best(_torch_epoch(torch, X, y, bs),
                                                          repeat)))
    MLPClassifier = _sklearn_mlp()
    if MLPClassifier is not None:
        clf = MLPClassifier(hidden_layer_sizes=(256, 128), solver="adam",
                            learning_rate_init=1e-3, batch_size=bs, random_state=0)
        classes = np.arange(10)

        def sk_epoch():
            with warnings.catch_warnings():   # scikit-learn's own warnings are not ours
                warnings.simplefilter("ignore")
                clf.partial_fit(X, y, classes=classes)
        with threadpool_limits(limits=n_threads):
            rows.append(("scikit-learn MLPClassifier.partial_fit", _best(sk_epoch, repeat)))
    return rows


def _torch_epoch(torch, X, y, bs):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 128), torch.nn.ReLU(),
                              torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        perm = torch.randperm(len(tX))
        for s in range(0, len(tX), bs):
            idx = perm[s:s + bs]
            opt.zero_grad()
            loss_fn(net(tX[idx]), ty[idx]).backward()
            opt.step()
    return epoch


def run_bench(*, n_params=1_000_000, n_samples=4096, repeat=3, n_threads=None, say=print):
    """Print both tables; returns ``{"optimizer": rows, "epoch": rows}`` (seconds)."""
    why = ""
    if n_threads is None:
        why = " (" + _threads.describe_default() + "; --threads N to choose)"
    n_threads = _threads.resolve(n_threads)
    torch = _torch()
    saved = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n_threads)
    try:
        say(f"fastgd bench: {n_threads} thread(s){why}, best of {repeat}"
            + ("" if torch is not None else "; torch not installed")
            + ("" if _sklearn_mlp() is not None else "; scikit-learn not installed"))
        opt_rows = bench_optimizer(n_params, repeat, n_threads)
        _table(say, f"Adam step, {n_params:,} float32 parameters", opt_rows, "ms/step",
               lambda s: s * 1e3, "Gparams/s", lambda s: n_params / s / 1e9)
        ep_rows = bench_epoch(n_samples, repeat, n_threads)
        _table(say, f"one epoch, MLP 784-256-128-10, {n_samples:,} samples, batch 128, Adam",
               ep_rows, "ms/epoch", lambda s: s * 1e3, "samples/s",
               lambda s: n_samples / s)
    finally:
        if torch is not None:
            torch.set_num_threads(saved)
    return {"optimizer": opt_rows, "epoch": ep_rows}


def _table(say, title, rows, unit, conv, rate_name, rate):
    from fastgd.lab.report import format_table
    base = rows[0][1]
    say(f"\n{title}")
    say(format_table(["implementation", unit, rate_name, "x fastgd"],
                     [[name, conv(s), _round(rate(s)), round(s / base, 2)] for name, s in rows]))


def _round(v):
    return round(v) if v >= 1000 else v
