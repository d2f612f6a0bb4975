"""Training throughput table: one epoch of MLP 784-256-128-10 (Adam, float32) per batch
size, fastgd against the NumPy reference, PyTorch and scikit-learn, at 1 and 2 threads.

    python benchmarks/report_train.py [--threads 1 2] [--out benchmarks/results/train.md]

Where the machine forces OpenBLAS's kernels (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE: set on
some machines here for old OpenBLAS builds), unset both for that command alone, e.g.
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/report_train.py``: the
forced Haswell kernels run at about half the AVX-512 speed, for the roof and every
BLAS-backed contender alike. The header records which kernels ran.

Each number is the median of ``--rounds`` epochs after one warm-up epoch, every
implementation at the same thread count. Each implementation runs in its own process:
PyTorch brings its own OpenMP runtime, whose spinning threads would otherwise sit on the
cores when the next contender starts (seen here as 2-5x swings on 2 vCPUs). The GEMM roof
is NumPy's sgemm on the largest layer at that thread count, measured in the same run.
Each implementation is started ``--starts`` times and its best start is kept: on the 2-vCPU
VMs here the host sometimes places both vCPUs on one physical core for a whole process
(2-thread runs then measure ~25-70% slower, for every implementation alike).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing  # noqa: E402
import _train_cases as cases  # noqa: E402

SAMPLES = {1: 3_000, 32: 60_000, 128: 60_000, 1024: 60_000}
SLOW_SAMPLES = {1: 1_000, 32: 20_000, 128: 60_000, 1024: 60_000}   # per-batch Python peers
FAST = ("fastgd", "fastgd-flush", "jax")   # whole epochs in compiled code


def one(impl, bs, threads, rounds):
    """Samples/s of ``impl`` at batch ``bs`` (run in a child process by measure)."""
    n = SAMPLES[bs] if impl in FAST else SLOW_SAMPLES[bs]
    X, y = cases.make_data(n)
    trainer = cases.Trainer(impl, X, y, bs, threads)
    trainer.epoch()                                   # warm-up
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        trainer.epoch()
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def measure(threads, rounds, starts):
    roof = cases.gemm_roof(threads)
    rows = []
    for bs in SAMPLES:
        sps = {}
        for impl in cases.IMPLS:
            if cases.unavailable(impl):
                continue
            best = 0.0
            for _ in range(starts):
                out = subprocess.run([sys.executable, __file__, "--one", impl, str(bs),
                                      str(threads), str(rounds)], capture_output=True,
                                     text=True, check=True,
                                     env={**os.environ, "OMP_NUM_THREADS": str(threads)})
                best = max(best, json.loads(out.stdout.strip().splitlines()[-1]))
            sps[impl] = best
        rows.append((bs, sps))
        print(f"threads={threads} batch={bs}: " +
              ", ".join(f"{k} {v:,.0f}/s" for k, v in sps.items()), flush=True)
    return roof, rows


def digits_rows(threads, rounds=5):
    """Small data, where per-batch Python decides: the shipped digits (1797 x 64), MLP
    64-128-64-10, Adam, batch 32 and 64, fastgd vs scikit-learn's MLPClassifier (one epoch
    each, in this process; median of ``rounds``)."""
    import warnings

    import numpy as np

    import fastgd
    from fastgd import datasets
    X, y = datasets.load_digits(return_X_y=True, dtype=np.float32)
    out = []
    for bs in (32, 64):
        model = fastgd.MLP([64, 128, 64, 10], seed=0)
        opt = fastgd.Adam(model.parameters())
        t_f = []
        for e in range(rounds + 1):          # the whole call, as for scikit-learn's fit
            t0 = time.perf_counter()
            fastgd.fit(model, X, y, opt, epochs=1, batch_size=bs, seed=0, initial_epoch=e,
                       n_threads=threads)
            t_f.append(time.perf_counter() - t0)
        row = {"batch": bs, "fastgd": len(y) / statistics.median(t_f[1:])}
        if not cases.unavailable("sklearn"):
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.neural_network import MLPClassifier
            from threadpoolctl import threadpool_limits
            clf = MLPClassifier(hidden_layer_sizes=(128, 64), batch_size=bs, max_iter=1,
                                warm_start=True, random_state=0, tol=0.0)
            t_s = []
            with warnings.catch_warnings(), threadpool_limits(threads, user_api="blas"):
                warnings.simplefilter("ignore", ConvergenceWarning)
                for _ in range(rounds + 1):
                    t0 = time.perf_counter()
                    clf.fit(X, y)
                    t_s.append(time.perf_counter() - t0)
            row["sklearn"] = len(y) / statistics.median(t_s[1:])
        out.append(row)
    return out


def digits_table(threads, rows):
    lines = [f"### Digits (1797 x 64), MLP 64-128-64-10, Adam, {threads} thread(s)", "",
             "| batch | fastgd samples/s | scikit-learn samples/s | × scikit-learn |",
             "|---:|---:|---:|---:|"]
    for r in rows:
        sk = r.get("sklearn")
        sk_text = "—" if sk is None else f"{sk:,.0f}"
        ratio = "—" if sk is None else f"{r['fastgd'] / sk:.1f}×"
        lines.append(f"| {r['batch']} | {r['fastgd']:,.0f} | {sk_text} | {ratio} |")
    return lines + [""]


def table(threads, roof, rows):
    out = [f"### {threads} thread{'s' if threads > 1 else ''} "
           f"(GEMM roof {roof:.0f} GFLOP/s = {roof * 1e9 / cases.FLOP_PER_SAMPLE:,.0f} samples/s)",
           "",
           "| batch | fastgd samples/s | GFLOP/s | % of roof | × reference | × PyTorch | "
           "× PyTorch DataLoader | × scikit-learn |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for bs, sps in rows:
        f = sps["fastgd"]
        gf = f * cases.FLOP_PER_SAMPLE / 1e9

        def ratio(impl):
            return f"{f / sps[impl]:.1f}×" if impl in sps else "—"
        out.append(f"| {bs} | {f:,.0f} | {gf:.1f} | {100 * gf / roof:.0f}% | "
                   f"{ratio('reference')} | {ratio('torch')} | {ratio('torch-dataloader')} | "
                   f"{ratio('sklearn')} |")
    bs128, peers = next(((bs, sps) for bs, sps in rows if bs == 128), rows[-1])
    baseline = ", ".join(f"{impl} {v:,.0f}" for impl, v in peers.items() if impl != "fastgd")
    out += ["", f"Peers at batch {bs128} (samples/s): {baseline}.", ""]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--starts", type=int, default=2, help="process starts per implementation")
    ap.add_argument("--out", default=None)
    ap.add_argument("--one", nargs=4, metavar=("IMPL", "BATCH", "THREADS", "ROUNDS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        impl, bs, threads, rounds = args.one
        print(json.dumps(one(impl, int(bs), int(threads), int(rounds))))
        return
    lines = _timing.header("Training throughput: MLP 784-256-128-10, Adam, float32")
    for t in args.threads:
        roof, rows = measure(t, args.rounds, args.starts)
        lines += table(t, roof, rows)
        lines += digits_table(t, digits_rows(t))
    _timing.emit(lines, args.out)


if __name__ == "__main__":
    main()
