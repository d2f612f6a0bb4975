"""Print a Markdown report: one thread, every CPU, and fastgd's default, on a quiet machine
and with competing processes (issue 11, item 6).

Usage (from the repository root)::

    python benchmarks/report_threads.py                   # idle, +1 and +2 busy loops
    python benchmarks/report_threads.py --out benchmarks/results/threads.md --rounds 15

Two workloads: one Adam step over 1e6 float32 parameters (the optimizer kernel, split over
threads above 32k elements), and one training epoch of an MLP 784-256-128-10 on 4,096
samples, batch 128, Adam. Three contenders, timed in interleaved rounds (each round times
each once, so a slow patch of the shared host hits all of them): ``1 thread``; ``all CPUs``
(``n_threads=os.cpu_count()``: the old default); ``default`` (``n_threads=None``: the
automatic default, re-resolved at every step / fit as a user's code would). The competing
load is busy-loop subprocesses (``while True: pass``), unpinned, started before and
killed after each condition. The cell of ``default`` also shows the thread counts it
chose. Other processes' load during each condition is measured from /proc/stat and shown:
on a shared host the "quiet" row is only as quiet as the neighbours let it be.
"""
import argparse
import collections
import os
import subprocess
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


def hogs(n):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def adam_case(n_threads, n=10**6, steps=20):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    opt = fastgd.Adam([p], lr=1e-3, n_threads=n_threads)
    opt.step([g])

    def run():
        t = time.perf_counter()
        for _ in range(steps):
            opt.step([g])
        return (time.perf_counter() - t) / steps
    return run


def epoch_case(n_threads, n=4096):
    X, y = fastgd.datasets.make_classification(n, 784, 10, n_informative=16, seed=0)
    model = fastgd.MLP([784, 256, 128, 10], seed=0)
    opt = fastgd.Adam(model.parameters(), lr=1e-3)
    fastgd.fit(model, X, y, opt, epochs=1, batch_size=128, seed=0, n_threads=n_threads)

    def run():
        t = time.perf_counter()
        fastgd.fit(model, X, y, opt, epochs=1, batch_size=128, seed=0, n_threads=n_threads)
        return time.perf_counter() - t
    return run


def measure(case, rounds, n_all):
    fns = {"1 thread": case(1), f"all CPUs ({n_all})": case(n_all), "default": case(None)}
    samples = collections.defaultdict(list)
    chosen = collections.Counter()
    with _timing.HostLoad() as load:
        for _ in range(rounds):
            for name, fn in fns.items():
                if name == "default":
                    chosen[fastgd.get_num_threads()] += 1
                samples[name].append(fn())
    med = {k: float(np.median(v)) for k, v in samples.items()}
    return med, chosen, load.others


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--hogs", type=int, nargs="*", default=None,
                    help="competing busy loops per condition (default: 0, 1, cpus)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="seconds to wait for a quiet host before the no-load condition")
    ap.add_argument("--quiet-all", action="store_true",
                    help="wait for a quiet host before every condition (then start the "
                    "busy loops)")
    ap.add_argument("--out")
    args = ap.parse_args()
    n_all = os.cpu_count() or 1
    conditions = args.hogs if args.hogs is not None else sorted({0, 1, n_all})
    lines = _timing.header("Threads on a shared machine: 1 thread vs all CPUs vs the default")
    lines += [__doc__.split("\n\n", 3)[3].strip(), ""]
    rows = []
    for n_hogs in conditions:
        if n_hogs == 0 or args.quiet_all:
            _timing.wait_quiet(max_wait_s=args.quiet_wait, threshold=0.3, log=print)
        procs = hogs(n_hogs)
        try:
            time.sleep(0.5)
            for label, case, unit, scale in (("Adam step, 1e6 float32", adam_case, "ms/step",
                                              1e3),
                                             ("epoch, 784-256-128-10, batch 128",
                                              epoch_case, "ms/epoch", 1e3)):
                med, chosen, others = measure(case, args.rounds, n_all)
                names = list(med)
                picked = ", ".join(f"{k} in {v}/{args.rounds}" for k, v in
                                   sorted(chosen.items()))
                one = med[names[0]]
                rows.append([f"{n_hogs} busy loop(s)" if n_hogs else "no load of ours",
                             "–" if others is None else f"{others:.2f}", label,
                             f"{med[names[0]] * scale:.3g}", f"{med[names[1]] * scale:.3g}",
                             f"{med['default'] * scale:.3g} (threads: {picked})",
                             f"{one / med[names[1]]:.2f}", f"{one / med['default']:.2f}"])
                print(rows[-1], flush=True)
        finally:
            stop(procs)
    lines += _timing.table(["competing load", "others' cores", "workload",
                            "1 thread (ms)", f"all {n_all} CPUs (ms)", "default (ms)",
                            "speed-up all CPUs", "speed-up default"], rows)
    lines += ["", "speed-up = 1-thread time / that column's time (> 1: faster than one "
              "thread; < 1: slower). 'others' cores' = CPUs' worth used by every other "
              "process (the busy loops included) while the condition ran.", ""]
    _timing.emit(lines, args.out)


if __name__ == "__main__":
    main()
