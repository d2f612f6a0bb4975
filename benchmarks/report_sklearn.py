"""fastgd.sklearn against scikit-learn's MLP: whole fit calls, same settings and threads,
and the accuracy both reach.

    python benchmarks/report_sklearn.py [--threads 1 2] [--repeats 3] [--out FILE]

Speed: each case fits both estimators ``--repeats`` times, interleaved (fastgd, scikit-learn,
fastgd, ...), and keeps each one's median (and its range); the ratio is read within one run. Both run a
fixed number of epochs (``tol=0``, ``n_iter_no_change=max_iter``) so they do the same work;
scikit-learn's BLAS is limited to the same thread count with threadpoolctl (its only
threads), fastgd gets ``n_threads``. Accuracy: default parameters but ``random_state``
(adam, batch 200, tol 1e-4 with its stopping rule), median over 3 seeds, on held-out data.
"""
import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import make_classification, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SKC
from sklearn.neural_network import MLPRegressor as SKR
from threadpoolctl import threadpool_info, threadpool_limits

import fastgd
from fastgd import datasets
from fastgd.sklearn import MLPClassifier as FGC
from fastgd.sklearn import MLPRegressor as FGR


def digits(dtype=np.float64):
    X, y = datasets.load_digits(return_X_y=True)
    X = X.astype(dtype)
    X = X / X.max()
    return X, y


def mnist_like(n=60_000, dtype=np.float32, seed=0):
    """784 features, 10 classes: a linear-ish synthetic stand-in for MNIST's shape."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 784), dtype=np.float32).astype(dtype)
    W = rng.standard_normal((784, 10)).astype(dtype)
    y = np.argmax(X @ W + 0.5 * rng.standard_normal((n, 10)), axis=1)
    return X, y


SPEED_CASES = {
    # name: (data, estimator kind, params)
    "digits 1797x64, adam, batch 200, 50 epochs": (
        digits, "c", dict(solver="adam", max_iter=50)),
    "digits 1797x64, sgd, batch 200, 50 epochs": (
        digits, "c", dict(solver="sgd", max_iter=50)),
    "digits 1797x64, adam, batch 32, 20 epochs": (
        digits, "c", dict(solver="adam", max_iter=20, batch_size=32)),
    "MNIST-sized 60000x784 float32, adam, batch 200, 3 epochs": (
        mnist_like, "c", dict(solver="adam", max_iter=3)),
    "digits 1797x64, lbfgs, 200 iterations": (
        digits, "c", dict(solver="lbfgs", max_iter=200)),
    # float64: in float32 scikit-learn's line search stops early (its loss is float32)
    "MNIST-sized 10000x784 float64, lbfgs, 50 iterations": (
        lambda: mnist_like(10_000, np.float64), "c", dict(solver="lbfgs", max_iter=50)),
}


def timed_fit(est, X, y, threads):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with threadpool_limits(limits=threads, user_api="blas"):
            t0 = time.perf_counter()
            est.fit(X, y)
            return time.perf_counter() - t0


def speed(threads, repeats, skip=()):
    rows = []
    for name, (make, kind, params) in SPEED_CASES.items():
        if any(word in name for word in skip):
            continue
        X, y = make()
        p = dict(params, random_state=0)
        if p["solver"] != "lbfgs":
            p.update(tol=0.0, n_iter_no_change=p["max_iter"])
        ours, theirs = (FGC, SKC) if kind == "c" else (FGR, SKR)
        t_fg, t_sk, iters = [], [], None
        for _ in range(repeats):
            a = ours(**p, n_threads=threads)
            t_fg.append(timed_fit(a, X, y, threads))
            b = theirs(**p)
            t_sk.append(timed_fit(b, X, y, threads))
            iters = (a.n_iter_, b.n_iter_)
        fg, sk = statistics.median(t_fg), statistics.median(t_sk)
        spread = (min(t_fg), max(t_fg), min(t_sk), max(t_sk))
        rows.append((threads, name, fg, sk, sk / fg, iters, spread))
        print(f"{threads} thr  {name}: fastgd {fg:.3f}s  scikit-learn {sk:.3f}s  "
              f"{sk / fg:.1f}x  (iterations {iters})", flush=True)
    return rows


def accuracy(seeds=(0, 1, 2)):
    Xd, yd = digits()
    Xc, yc = make_classification(5000, 20, n_informative=10, n_classes=3, random_state=0)
    Xr, yr = make_friedman1(3000, 10, noise=0.5, random_state=0)
    tasks = [("digits (shipped), accuracy", Xd, yd, "c", {}),
             ("digits, sgd, accuracy", Xd, yd, "c", dict(solver="sgd",
                                                        learning_rate_init=0.1)),
             ("digits, lbfgs, accuracy", Xd, yd, "c", dict(solver="lbfgs")),
             ("synthetic 5000x20, 3 classes, accuracy", Xc, yc, "c", {}),
             ("Friedman #1 3000x10 regression, R²", Xr, yr, "r", {})]
    rows = []
    for name, X, y, kind, params in tasks:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
        ours, theirs = (FGC, SKC) if kind == "c" else (FGR, SKR)
        sa, sb, ia, ib = [], [], [], []
        for seed in seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                a = ours(**params, random_state=seed).fit(Xtr, ytr)
                b = theirs(**params, random_state=seed).fit(Xtr, ytr)
            sa.append(a.score(Xte, yte))
            sb.append(b.score(Xte, yte))
            ia.append(a.n_iter_)
            ib.append(b.n_iter_)
        rows.append((name, statistics.median(sa), statistics.median(sb),
                     statistics.median(ia), statistics.median(ib)))
        print(f"{name}: fastgd {rows[-1][1]:.4f}  scikit-learn {rows[-1][2]:.4f}  "
              f"epochs {rows[-1][3]} / {rows[-1][4]}", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-accuracy", action="store_true")
    ap.add_argument("--skip", nargs="*", default=(), help="skip cases whose name holds a word")
    args = ap.parse_args(argv)
    import sklearn
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    lines = [f"# fastgd.sklearn vs scikit-learn {sklearn.__version__}", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPUs; fastgd {fastgd.__version__}; BLAS: {', '.join(blas)}; "
             f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}", "",
             "Whole `fit` calls, same parameters and thread count; median of "
             f"{args.repeats} interleaved repeats.", "",
             "| threads | case | fastgd s | (min-max) | scikit-learn s | (min-max) | × scikit-learn | iterations (fastgd, sklearn) |",
             "|---:|---|---:|---|---:|---|---:|---|"]
    for t in args.threads:
        for thr, name, fg, sk, ratio, iters, (a, b, c, d) in speed(t, args.repeats, args.skip):
            lines.append(f"| {thr} | {name} | {fg:.3f} | {a:.3f}-{b:.3f} | {sk:.3f} | "
                         f"{c:.3f}-{d:.3f} | {ratio:.1f}× | {iters} |")
    if not args.no_accuracy:
        lines += ["", "Held-out score, default parameters (adam unless said), median of 3 "
                  "seeds; epochs run (median) under each one's own stopping rule.", "",
                  "| task | fastgd | scikit-learn | difference (points) | epochs (fastgd, sklearn) |",
                  "|---|---:|---:|---:|---|"]
        for name, a, b, ia, ib in accuracy():
            lines.append(f"| {name} | {a:.4f} | {b:.4f} | {100 * (a - b):+.2f} | {ia}, {ib} |")
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
