"""Print a Markdown report: what fastgd.set_deterministic costs (issue 11, item 5).

Usage (from the repository root)::

    python benchmarks/report_deterministic.py --rounds 15 \
        --out benchmarks/results/deterministic.md

One epoch of the reference MLP 784-256-128-10 (Adam, float32; 4,096 rows, 8,192 at batch
1024) through ``fastgd.fit``, per batch size and thread count, for the default (blocks cut
for the team) and ``set_deterministic(k)`` for several k (blocks cut for k threads,
whatever the team). Every contender of a (batch, threads) cell is timed once per round,
in interleaved rounds in this one process (every other round in reverse order), so a
slow patch of the shared host hits all of them; the table gives each one's median time
and the spread of the round-by-round ratio to the default (its 25th-75th percentiles),
the number that matters here. The fit's own
once-per-call work (checks, the engine's buffers) is in every sample and the same for all.
Each contender's parameters after one fit are checked: every deterministic k gives the same
bits at 1 and 2 threads.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import fastgd  # noqa: F401
except ImportError:   # not installed: use the in-tree build
    sys.path.insert(1, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import _timing  # noqa: E402
import fastgd  # noqa: E402,F811

SIZES = [784, 256, 128, 10]


def epoch(X, y, base, batch, threads, blocks):
    """A function that trains a copy of ``base`` for one epoch and returns its parameters."""
    def run():
        previous = fastgd.set_deterministic(blocks)
        try:
            m = base.copy()
            fastgd.fit(m, X, y, fastgd.Adam(m.parameters(), lr=1e-3), epochs=1,
                       batch_size=batch, seed=0, n_threads=threads)
        finally:
            fastgd.set_deterministic(previous)
        return m._flat
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 128, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--blocks", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--out")
    args = ap.parse_args()
    lines = _timing.header("The deterministic mode's cost: blocks cut for k threads")
    lines += [__doc__.split("\n\n", 2)[2].strip(), ""]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8192, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], 8192)
    base = fastgd.MLP(SIZES, "relu", dtype=np.float32, seed=1)
    rows = []
    for batch in args.batches:
        n = 8192 if batch >= 1024 else 4096
        Xb, yb = X[:n], y[:n]
        bits = {}
        for threads in args.threads:
            fns = {"default": epoch(Xb, yb, base, batch, threads, 0)}
            for k in args.blocks:
                fns[f"k={k}"] = epoch(Xb, yb, base, batch, threads, k)
            for name, fn in fns.items():
                p = fn()                                     # warm-up, and the bits
                if name != "default":
                    bits.setdefault(name, []).append(p.copy())
            samples = {name: [] for name in fns}
            with _timing.HostLoad() as load:
                for i in range(args.rounds):
                    # every other round in reverse: no contender always runs first
                    for name, fn in (list(fns.items()) if i % 2 == 0 else
                                     list(fns.items())[::-1]):
                        t0 = time.perf_counter()
                        fn()
                        samples[name].append(time.perf_counter() - t0)
            base_t = np.array(samples["default"])
            cells = [f"{np.median(base_t) * 1e3:.1f}"]
            for k in args.blocks:
                t = np.array(samples[f"k={k}"])
                r = t / base_t
                cells.append(f"{np.median(t) * 1e3:.1f} ({np.median(r):.3f}; "
                             f"{np.percentile(r, 25):.3f}-{np.percentile(r, 75):.3f})")
            others = "?" if load.others is None else f"{load.others:.2f}"
            rows.append([batch, threads, others] + cells)
            print(rows[-1], flush=True)
        for name, ps in bits.items():
            same = all(np.array_equal(ps[0], p) for p in ps[1:])
            if not same:
                raise SystemExit(f"batch {batch} {name}: bits differ between thread counts")
    cols = ["batch", "threads", "others' cores", "default (ms)"] + [
        f"deterministic k={k}: ms (ratio to default; IQR)" for k in args.blocks]
    lines += _timing.table(cols, rows)
    lines += ["", f"Rounds: {args.rounds}. Every deterministic k gave the same bits at "
              f"{', '.join(map(str, args.threads))} threads (checked).", ""]
    _timing.emit(lines, args.out)


if __name__ == "__main__":
    main()
