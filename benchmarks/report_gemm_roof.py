"""Print a Markdown report: a training step's time against its GEMM-only time (issue 15).

Usage (from the repository root)::

    python benchmarks/report_gemm_roof.py                       # 784-256-128-10, 1 thread
    python benchmarks/report_gemm_roof.py --rounds 9 --out benchmarks/results/gemm-roof.md

For each batch size, three contenders in interleaved rounds (each round times each once):
``GEMM only`` -- the step's 3L - 1 matrix products alone, through SciPy's OpenBLAS
(``_gemm_roof.GemmOnlyStep``) --, the same products through the engine's own GEMM shim
(``engine=True``: fastgd's small-product kernel where the engine uses it, OpenBLAS for the
rest: the step's very calls) and ``fastgd step`` -- one ``fastgd.fit`` epoch (Adam,
float32, shuffled, one thread) divided by its batch count, so it includes everything a
user's step costs: the gather, bias and activation passes, the loss, Adam and the per-epoch
work (permutation, the NaN/inf scan of X) spread over the batches. The ratio GEMM-only /
step is the fraction of the step spent in the products it cannot avoid (the issue's target:
>= 92% at batch 128 and 1024). All run with every BLAS limited to one thread.
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import fastgd  # noqa: F401
except ImportError:   # not installed: use the in-tree build
    sys.path.insert(1, os.path.dirname(HERE))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import _timing  # noqa: E402
import fastgd  # noqa: E402,F811
from _gemm_roof import GemmOnlyStep  # noqa: E402

SIZES = (784, 256, 128, 10)


def measure(batch_size, n_batches, rounds):
    rng = np.random.default_rng(0)
    n = batch_size * n_batches
    X = rng.standard_normal((n, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], n)
    model = fastgd.MLP(list(SIZES), seed=0)
    opt = fastgd.Adam(model.parameters(), lr=1e-4)
    gemms = GemmOnlyStep(SIZES, batch_size)
    gemms.check()
    own = GemmOnlyStep(SIZES, batch_size, engine=True)
    own.check()

    def step_by_fit():
        fastgd.fit(model, X, y, opt, epochs=1, batch_size=batch_size, seed=1, n_threads=1)

    def gemm_only():
        for _ in range(n_batches):
            gemms.run()

    def engine_gemm_only():
        for _ in range(n_batches):
            own.run()

    with threadpool_limits(1):
        with _timing.HostLoad() as load:
            t = _timing.interleaved({"gemm": gemm_only, "engine": engine_gemm_only,
                                     "step": step_by_fit}, rounds=rounds, target_s=0.05)
    return {k: v / n_batches for k, v in t.items()}, load


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", help="also write the report here")
    ap.add_argument("--starts", type=int, default=1,
                    help="process starts per batch size (medians across them)")
    args = ap.parse_args()
    lines = _timing.header("A training step against its GEMM-only time") + [
        __doc__.split("\n\n", 2)[2].strip(), "",
        f"Model {'-'.join(map(str, SIZES))}, Adam, float32, 1 thread; "
        f"median of {args.rounds} interleaved rounds.", "",
        "| batch | GEMM only, OpenBLAS (µs) | GEMM only, the engine's calls (µs) | fastgd step "
        "(µs) | OpenBLAS GEMM-only / step | engine GEMM-only / step | others' cores |",
        "|---:|---:|---:|---:|---:|---:|---:|"]
    for batch_size, n_batches in ((128, 40), (1024, 8)):
        runs = [measure(batch_size, n_batches, args.rounds) for _ in range(args.starts)]
        gemm = statistics.median(r[0]["gemm"] for r in runs) * 1e6
        engine = statistics.median(r[0]["engine"] for r in runs) * 1e6
        step = statistics.median(r[0]["step"] for r in runs) * 1e6
        others = max(r[1].others or 0.0 for r in runs)
        lines.append(f"| {batch_size} | {gemm:,.0f} | {engine:,.0f} | {step:,.0f} | "
                     f"{gemm / step:.1%} | {engine / step:.1%} | {others:.2f} |")
        print(lines[-1], flush=True)
    _timing.emit(lines + [""], args.out)


if __name__ == "__main__":
    main()
