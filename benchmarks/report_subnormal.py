"""Print a Markdown report: training speed with ``flush_subnormal_state`` off and on.

Usage (from the repository root)::

    python benchmarks/report_subnormal.py [--rounds 5] [--out benchmarks/results/subnormal.md]

For each data set (the shipped digits, a sparse synthetic set, dense random data of the
sparse set's shape) and batch size (1, 32): two models with the same seed, Adam with the
option off and on, each warmed up for untimed epochs (so the moments of dead weights have
decayed as in a long run), then timed one epoch at a time in interleaved rounds (off, on,
on, off, ...) in this process. Medians and min-max of samples/s; the share of exp_avg that
is subnormal at the end.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import _subnormal_cases as cases  # noqa: E402
import _timing  # noqa: E402

ROWS = {("digits", 1): None, ("digits", 32): None, ("sparse", 1): 2000,
        ("sparse", 32): 20000, ("dense", 1): 2000, ("dense", 32): 20000}
WARM_STEPS = 4000   # untimed: m of a weight with zero gradients is subnormal after ~800


def epochs_for(steps, rows, batch_size):
    return max(1, -(-steps * batch_size // rows))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    lines = [*_timing.header("Subnormal optimizer state: flush_subnormal_state off vs on"),
             f"Adam lr 1e-3, float32, 1 thread; untimed warm-up epochs of >= {WARM_STEPS} "
             "steps, then interleaved rounds (off, on, on, off, ...) of one timed stretch "
             "each, >= 1797 samples (medians, min-max). digits: MLP "
             f"{cases.DIGITS_SIZES}; sparse and dense: {cases.SIZES}.", "",
             "| data | batch | rows | off: samples/s | on: samples/s | on/off (median of "
             "rounds) | subnormal exp_avg, off | on |", "|---|---|---|---|---|---|---|---|"]
    for (name, bs), n in ROWS.items():
        X, y = cases.data(name, n)
        off, on = cases.Case(name, X, y, bs, False), cases.Case(name, X, y, bs, True)
        warm = epochs_for(WARM_STEPS, len(X), bs)
        per_round = 20 if (name, bs) == ("digits", 32) else 1   # >= ~0.1 s timed
        off.warm_up(warm)
        on.warm_up(warm)
        t_off, t_on = [], []
        for r in range(args.rounds):
            for case, out in ((off, t_off), (on, t_on))[::1 if r % 2 == 0 else -1]:
                t0 = time.perf_counter()
                for _ in range(per_round):
                    case.run()
                out.append(time.perf_counter() - t0)
        s_off = per_round * len(X) / np.array(t_off)
        s_on = per_round * len(X) / np.array(t_on)
        lines.append(f"| {name} | {bs} | {len(X)} | {np.median(s_off):.4g} "
                     f"({s_off.min():.4g}-{s_off.max():.4g}) | {np.median(s_on):.4g} "
                     f"({s_on.min():.4g}-{s_on.max():.4g}) | {np.median(s_on / s_off):.3f} | "
                     f"{off.subnormal_share():.1%} | {on.subnormal_share():.1%} |")
        print(lines[-1], flush=True)
    _timing.emit(lines, args.out)


if __name__ == "__main__":
    main()
