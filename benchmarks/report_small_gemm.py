"""fastgd's own small-product kernel against OpenBLAS, inside whole fit calls.

    python benchmarks/report_small_gemm.py [--threads 1 2] [--rounds 11] [--out FILE]

Each case trains a fresh model for two epochs with the engine's products in fastgd's
kernel (csrc/fg_small_gemm.h, the default on AVX-512F CPUs) and with every product in
SciPy's OpenBLAS (``_engine.set_small_gemm(0)``), alternating in one process (every other
round in reverse order); medians per batch and the round-by-round ratio's quartiles. The
per-product table comes from ``benchmarks/small_gemm_products.c``.
"""
import argparse
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import _timing  # noqa: E402
import fastgd  # noqa: E402
from fastgd import datasets  # noqa: E402
from fastgd.model import _engine  # noqa: E402

DEFAULT_LIMIT = _engine.small_gemm_limit()


def _digits(n):
    X, y = datasets.load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


def _random(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, 10, n)


CASES = {
    # name: (data, layer sizes, dtype, batch size)
    "digits 64-100-10, float64, batch 200": (lambda: _digits(1800), (64, 100, 10),
                                             np.float64, 200),
    "digits 64-100-10, float32, batch 200": (lambda: _digits(1800), (64, 100, 10),
                                             np.float32, 200),
    "784-256-128-10, float32, batch 32": (lambda: _random(1024, 784), (784, 256, 128, 10),
                                          np.float32, 32),
    "784-256-128-10, float32, batch 128": (lambda: _random(2048, 784), (784, 256, 128, 10),
                                           np.float32, 128),
    "784-256-128-10, float64, batch 32": (lambda: _random(1024, 784), (784, 256, 128, 10),
                                          np.float64, 32),
    "784-100-10, float32, batch 200": (lambda: _random(2000, 784), (784, 100, 10),
                                       np.float32, 200),
}


def measure(threads, rounds):
    rows = []
    for name, (make, sizes, dtype, batch) in CASES.items():
        X, y = make()
        X = np.ascontiguousarray(X, dtype=dtype)
        per_batch = {"own": [], "blas": []}
        for r in range(rounds):
            for who in (("own", "blas") if r % 2 else ("blas", "own")):
                _engine.set_small_gemm(DEFAULT_LIMIT if who == "own" else 0)
                model = fastgd.MLP(list(sizes), seed=0, dtype=dtype)
                opt = fastgd.Adam(model.parameters(), lr=1e-3)
                t0 = time.perf_counter()
                fastgd.fit(model, X, y, opt, epochs=2, batch_size=batch, seed=1,
                           n_threads=threads)
                per_batch[who].append((time.perf_counter() - t0) / (2 * (len(X) // batch)))
        _engine.set_small_gemm(DEFAULT_LIMIT)
        ratios = [b / o for b, o in zip(per_batch["blas"], per_batch["own"])]
        rows.append((name, threads, statistics.median(per_batch["blas"]) * 1e6,
                     statistics.median(per_batch["own"]) * 1e6, statistics.median(ratios),
                     *np.percentile(ratios, [25, 75])))
        print(f"{name}, {threads} thread(s): {rows[-1][4]:.2f}x", file=sys.stderr, flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--out", help="also write the report here")
    args = ap.parse_args()
    if not _engine.has_small_gemm():
        sys.exit("this CPU has no AVX-512F: the engine has no kernel of its own to compare")
    with threadpool_limits(1):
        rows = [r for t in args.threads for r in measure(t, args.rounds)]
    lines = [
        "# fastgd's small-product kernel against OpenBLAS, in whole fits", "",
        f"- command: `python benchmarks/report_small_gemm.py --rounds {args.rounds}`",
        f"- machine: {platform.processor() or platform.machine()}, nproc={os.cpu_count()}; "
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- kernel limit: {DEFAULT_LIMIT:,} multiply-adds; fastgd {fastgd.__version__}", "",
        "Two epochs of Adam per fit, a fresh model each round; time per batch (medians of "
        f"{args.rounds} alternating rounds); speedup = OpenBLAS / own, per round.", "",
        "| case | threads | OpenBLAS (us/batch) | own kernel (us/batch) | speedup (IQR) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {n} | {t} | {b:.1f} | {o:.1f} | {r:.2f} ({q1:.2f}-{q3:.2f}) |"
              for n, t, b, o, r, q1, q3 in rows]
    _timing.emit(lines + [""], args.out)


if __name__ == "__main__":
    main()
