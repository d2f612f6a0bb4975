"""Find the size above which a 2-thread optimizer step beats a 1-thread one.

Usage (from the repository root)::

    python benchmarks/report_crossover.py --out benchmarks/results/crossover.md
    python benchmarks/report_crossover.py --extra-cflags="-march=x86-64-v4"   # a what-if

Two measurements, float32, Adam and plain SGD, sizes 2**10 .. 2**20:

1. **Public API**: ``fastgd.Adam([p], n_threads=1)`` vs ``n_threads=2`` (one array). Below
   ``fastgd.optim._optim.PARALLEL_MIN_ELEMENTS`` the 2-thread step runs serially by design, so
   this part cannot see a crossover below the current threshold; it shows what users get.
2. **Kernel harness**: csrc/fg_optim.h compiled here with the build's flags (from
   ``fastgd.config()["cflags"]``) into a tiny library that splits the array exactly like
   ``_optim.split_spans`` (one 64-byte-aligned chunk per thread) under
   ``omp parallel for schedule(static)`` -- but with no threshold -- and times one call
   at a time in C, serial and 2-thread calls interleaved. "hot": back-to-back calls (the
   OpenMP worker is still spinning); "gap": the caller busy-waits between calls, as a
   training loop does while it computes gradients, so the worker has gone to sleep and
   the region pays its wake-up. Python's per-step overhead is the same for both arms, so
   it does not move the crossover.

The crossover is the smallest size from which 2 threads are faster at every larger
measured size. Needs a C compiler with OpenMP (the one that built fastgd).
"""
import argparse
import ctypes
import functools
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import fastgd  # noqa: F401
except ImportError:   # not installed: use the in-tree build (as `python -m pytest` does)
    sys.path.insert(1, os.path.dirname(HERE))

import fastgd  # noqa: E402,F811
from fastgd.optim import _optim

import _timing  # noqa: E402

ROOT = os.path.dirname(HERE)
SIZES = [2**k for k in range(10, 21)]
RULES = {"Adam": 2, "SGD": 0}   # fg_rule values (csrc/fg_optim.h)
CONTENDED = 0.2   # cores used by other processes above which a row is measured again

HARNESS = r"""
#include <string.h>
#include <omp.h>
#include "fg_optim.h"

#define ALIGN 16   /* as _optim.pyx: chunks of 64 bytes of float32 */

static void run(const fg_step *s, ptrdiff_t n, float *p, const float *g, float *s1,
                float *s2, int nt) {
    if (nt <= 1) {
        fg_apply_f32(s, n, p, g, s1, s2, NULL);
        return;
    }
    ptrdiff_t chunk = (n + nt - 1) / nt;
    chunk = (chunk + ALIGN - 1) / ALIGN * ALIGN;
    const int k = (int)((n + chunk - 1) / chunk);
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int i = 0; i < k; i++) {
        const ptrdiff_t off = (ptrdiff_t)i * chunk;
        const ptrdiff_t m = n - off < chunk ? n - off : chunk;
        fg_apply_f32(s, m, p + off, g + off, s1 ? s1 + off : NULL, s2 ? s2 + off : NULL, NULL);
    }
}

static void busy_wait(double seconds) {
    const double end = omp_get_wtime() + seconds;
    while (omp_get_wtime() < end) {}
}

/* Interleaved per-call times: t1[r] serial, t2[r] with nt threads. Each arm has its own
 * parameter/state arrays (a = serial, b = threaded), so each finds them where its own
 * previous call left them (one core's cache, or split across the team's), as a training
 * loop at a fixed thread count does; g is only read and is shared. */
void fg_xover(int rule, ptrdiff_t n, int nt, int reps, double gap_s, const float *g,
              float *pa, float *s1a, float *s2a, float *pb, float *s1b, float *s2b,
              double *t1, double *t2) {
    fg_step s;
    memset(&s, 0, sizeof s);
    s.rule = (fg_rule)rule;
    s.lr = 1e-3; s.beta1 = 0.9; s.beta2 = 0.999; s.eps = 1e-8;
    s.step = 10; s.mu_product = 1.0;
    fg_prepare(&s);
    run(&s, n, pa, g, s1a, s2a, 1);
    run(&s, n, pb, g, s1b, s2b, nt);
    for (int r = 0; r < reps; r++) {
        double t0;
        if (gap_s > 0) busy_wait(gap_s);
        t0 = omp_get_wtime();
        run(&s, n, pa, g, s1a, s2a, 1);
        t1[r] = omp_get_wtime() - t0;
        if (gap_s > 0) busy_wait(gap_s);
        t0 = omp_get_wtime();
        run(&s, n, pb, g, s1b, s2b, nt);
        t2[r] = omp_get_wtime() - t0;
    }
}
"""


def build_harness(extra_cflags, csrc):
    cflags = fastgd.config()["cflags"].split()
    if "-fopenmp" not in cflags:
        sys.exit("fastgd was built without OpenMP: there is no thread crossover to find")
    tmp = tempfile.mkdtemp(prefix="fastgd-xover-")
    src, lib = os.path.join(tmp, "xover.c"), os.path.join(tmp, "xover.so")
    with open(src, "w") as f:
        f.write(HARNESS)
    cc = os.environ.get("CC", "cc")
    cmd = [cc, *cflags, *extra_cflags, "-fPIC", "-shared", "-I", csrc,
           src, "-o", lib]
    subprocess.run(cmd, check=True)
    dll = ctypes.CDLL(lib)
    shutil.rmtree(tmp, ignore_errors=True)   # the mapping stays valid after unlink
    P = ctypes.c_void_p
    dll.fg_xover.restype = None
    dll.fg_xover.argtypes = [ctypes.c_int, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_int,
                             ctypes.c_double] + [P] * 9
    shown = os.path.relpath(csrc, ROOT) if csrc.startswith(ROOT) else csrc
    return dll, " ".join([cc, *cflags, *extra_cflags, "-I", shown])


def harness_times(dll, rule, n, threads, gap_s, budget_s):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    arms = [[p.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32)] for _ in range(2)]
    # rough per-call cost: 3 ns/element (scalar Adam) bounds the rep count
    est = max(n * 3e-9, 1e-6) + gap_s
    reps = int(min(2001, max(21, budget_s / (2 * est))))
    t1, t2 = np.empty(reps), np.empty(reps)
    ptr = lambda a: a.ctypes.data  # noqa: E731
    dll.fg_xover(rule, n, threads, reps, gap_s, ptr(g), *[ptr(a) for arm in arms for a in arm],
                 ptr(t1), ptr(t2))
    return float(np.median(t1)), float(np.median(t2)), reps


def api_times(name, n, threads):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(n, dtype=np.float32)
    g = [rng.standard_normal(n, dtype=np.float32)]
    cls = getattr(fastgd, name)
    opts = {t: cls([p0.copy()], lr=1e-3, n_threads=t) for t in (1, threads)}
    for o in opts.values():
        o.step(g)
    fns = {t: functools.partial(o.step, g) for t, o in opts.items()}
    out = _timing.interleaved(fns, rounds=31, target_s=1e-3)
    return out[1], out[threads]


def crossover(sizes, t1, t2, margin=1.0):
    """Smallest size from which t2 < t1/margin at every larger size (None if never)."""
    best = None
    for n, a, b in zip(reversed(sizes), reversed(t1), reversed(t2)):
        if b * margin < a:
            best = n
        else:
            break
    return best


def fmt_n(n):
    k = int(np.log2(n))
    return f"2^{k} ({n:,})" if 2**k == n else f"{n:,}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gap-ms", type=float, default=1.0,
                    help="busy-wait between calls in the 'gap' condition")
    ap.add_argument("--budget", type=float, default=0.6,
                    help="seconds of harness timing per (rule, size, condition), all passes")
    ap.add_argument("--extra-cflags", default="",
                    help="added to the build's flags for the harness (a what-if)")
    ap.add_argument("--csrc", default=os.path.join(ROOT, "csrc"),
                    help="kernel headers for the harness (a what-if: a patched copy)")
    ap.add_argument("--passes", type=int, default=3,
                    help="passes over the sizes in the harness (medians across passes)")
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--max-wait", type=float, default=120.0)
    ap.add_argument("--no-api", action="store_true", help="skip the public-API part")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    extra = args.extra_cflags.split()
    T = args.threads

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    lines = _timing.header(f"Thread crossover: 1 vs {T} threads (float32)")
    lines += [f"- current threshold: PARALLEL_MIN = {_optim.PARALLEL_MIN_ELEMENTS} elements", ""]
    summary, loads = [], []

    def quiet_row(what, n, measure):
        """measure() -> {rule: (t1, t2)}, redone when other processes loaded the host."""
        best = None
        for attempt in range(1 + args.retries):
            _timing.wait_quiet(max_wait_s=args.max_wait, window_s=0.5, log=log)
            with _timing.HostLoad() as load:
                out = measure()
            others = load.others if load.others is not None else 0.0
            if best is None or others < best[1]:
                best = (out, others)
            if others <= CONTENDED:
                break
            log(f"  {what} n={n}: others used {others:.2f} cores; retrying")
        loads.append(best[1])
        return best[0]

    if not args.no_api:
        rows, res = [], {name: ([], []) for name in RULES}
        for n in SIZES:
            row = [fmt_n(n)]
            out = quiet_row("api", n, lambda: {name: api_times(name, n, T) for name in RULES})
            for name in RULES:
                a, b = out[name]
                res[name][0].append(a)
                res[name][1].append(b)
                row += [_timing.fmt_us(a), _timing.fmt_us(b), f"{a / b:.2f}"]
            rows.append(row)
            log(f"api n={n}: " + " | ".join(rows[-1][1:]))
        cols = ["size"] + [f"{r} {c}" for r in RULES for c in ("1 thr µs", f"{T} thr µs",
                                                                  "speedup")]
        lines += ["## 1. Public API: `opt.step([g])`, one array",
                  "",
                  f"Below {_optim.PARALLEL_MIN_ELEMENTS} elements the {T}-thread step runs "
                  "serially (the threshold), so speedup ~1 there by construction.", ""]
        lines += _timing.table(cols, rows) + [""]

    dll, harness_cmd = build_harness(extra, args.csrc)
    lines += ["## 2. Kernel harness (no threshold)", "",
              f"Compiled with `{harness_cmd}`. Per-call times, serial and {T}-thread calls "
              f"interleaved; median per pass, then the median of {args.passes} passes.", ""]
    for cond, gap in (("hot", 0.0), (f"gap {args.gap_ms:g} ms", args.gap_ms / 1e3)):
        # Several passes over the sizes, medians across them: a stretch of hypervisor
        # noise then spoils one pass of a size, not the size.
        per = {(name, n): [] for name in RULES for n in SIZES}
        for p in range(args.passes):
            for n in SIZES:
                out = quiet_row(f"harness {cond} pass {p + 1}", n, lambda: {
                    name: harness_times(dll, rule, n, T, gap, args.budget / args.passes)[:2]
                    for name, rule in RULES.items()})
                for name in RULES:
                    per[name, n].append(out[name])
        rows, res = [], {name: ([], []) for name in RULES}
        for n in SIZES:
            row = [fmt_n(n)]
            for name in RULES:
                a = float(np.median([x[0] for x in per[name, n]]))
                b = float(np.median([x[1] for x in per[name, n]]))
                res[name][0].append(a)
                res[name][1].append(b)
                row += [_timing.fmt_us(a), _timing.fmt_us(b), f"{a / b:.2f}"]
            rows.append(row)
            log(f"harness {cond} n={n}: " + " | ".join(rows[-1][1:]))
        cols = ["size"] + [f"{r} {c}" for r in RULES for c in ("1 thr µs", f"{T} thr µs",
                                                                  "speedup")]
        lines += [f"### {cond}", ""] + _timing.table(cols, rows) + [""]
        for name in RULES:
            x = crossover(SIZES, *res[name])
            x10 = crossover(SIZES, *res[name], margin=1.10)
            summary.append(f"- {name}, {cond}: {T} threads faster from "
                           f"{fmt_n(x) if x else 'never (in range)'}; "
                           f">=10% faster from {fmt_n(x10) if x10 else 'never (in range)'}")
    lines += ["## Crossover", ""] + summary + [
        "", f"(cores used by other processes per measured row: median {np.median(loads):.2f}, "
        f"max {max(loads):.2f}; rows above {CONTENDED} were retried up to {args.retries} "
        "times and the quietest attempt kept)", ""]
    _timing.emit(lines, args.out)


if __name__ == "__main__":
    main()
