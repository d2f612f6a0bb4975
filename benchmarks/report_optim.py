"""Print a Markdown report of one optimizer step: fastgd against its baselines.

Usage (from the repository root)::

    python benchmarks/report_optim.py                      # 1 and 2 threads, all cases
    python benchmarks/report_optim.py --threads 1 --optimizers Adam SGD --sizes 1e3 1e6
    python benchmarks/report_optim.py --out benchmarks/results/optim.md

No pytest-benchmark: every contender of one (optimizer, size) -- fastgd, the NumPy
reference, torch fused and foreach (when installed and supported), and the bandwidth
probe -- is built on the same data, checked once against the reference, then timed in
interleaved rounds (see _timing.interleaved); the table shows medians. Ratios are
baseline time / fastgd time at the same thread count (> 1: fastgd is faster). "% of
probe" is fastgd's GB/s over the probe's (both counting only the bytes their loop must
move), so for 28 B/param rules it is the probe's time over fastgd's.
The run takes a few minutes at the default settings.
"""
import argparse
import ctypes
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import fastgd  # noqa: F401
except ImportError:   # not installed: use the in-tree build (as `python -m pytest` does)
    sys.path.insert(1, os.path.dirname(HERE))

import _optim_cases as cases  # noqa: E402
import _timing  # noqa: E402

BASELINES = ("reference", "torch-fused", "torch-foreach")
SETTLE_S = 0.02   # multi-threaded runs: let the other OpenMP pool go idle (see _timing)
POOLS = {"fastgd": "fastgd", "probe": "fastgd", "torch-fused": "torch", "torch-foreach": "torch"}
CONTENDED = 0.2   # cores used by other processes above which a size is measured again


def rounds_for(n):
    return 15 if n >= 10**7 else 25 if n >= 10**6 else 41


def tune_malloc():
    """Keep glibc from returning freed heap to the OS after every step.

    The NumPy reference and torch foreach allocate temporaries each step; with glibc's
    defaults a freed multi-MB temporary is often trimmed or unmapped, so the next step
    page-faults it in again (measured: reference Adam at 1e6 takes 1.5 ms or 8.6 ms
    depending on heap state). Raising the trim and mmap thresholds gives the baselines
    their best, stable case -- the conservative side for fastgd's ratios. fastgd and
    torch fused allocate nothing per step. Returns whether it applied."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
                    and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20))
    except (OSError, AttributeError):
        return False


def measure(optimizer, n, threads, data):
    """Median seconds per step of every available impl (and the probe) for one case."""
    steppers = {}
    for impl in ("fastgd",) + BASELINES + ("probe",):
        if cases.unavailable(impl, optimizer):
            continue
        s = cases.Stepper(impl, optimizer, n, threads, data=data)
        p1 = s.warm_up_and_check()
        steppers[impl] = (s, p1)
    times = _timing.interleaved({k: s.step for k, (s, _) in steppers.items()},
                                rounds=rounds_for(n), target_s=2e-3, warm=n <= 2 * 10**6,
                                settle_s=SETTLE_S if threads > 1 else 0.0, pools=POOLS)
    for s, p1 in steppers.values():
        s.check_after(p1)
    return times


def measure_size(n, threads, optimizers, log, retries, max_wait_s):
    """All optimizers at one size; redone (after waiting for a quiet host) when other
    processes loaded the CPUs meanwhile. Returns (results, others' load)."""
    data = cases.make_data(n)
    best = None
    for attempt in range(1 + retries):
        _timing.wait_quiet(max_wait_s=max_wait_s, log=log)
        with _timing.HostLoad() as load:
            res = {opt: measure(opt, n, threads, data) for opt in optimizers}
        others = load.others if load.others is not None else 0.0
        if best is None or others < best[1]:
            best = (res, others)
        if others <= CONTENDED:
            break
        log(f"  [{threads} thr] n={n:.0e}: others used {others:.2f} cores; "
            f"{'retrying' if attempt < retries else 'keeping the quietest attempt'}")
    return best


def run(threads, sizes, optimizers, log, retries=2, max_wait_s=120.0):
    cases.set_torch_threads(threads)
    rows, results, loads = [], {}, {}
    for n in sizes:
        res, loads[n] = measure_size(n, threads, optimizers, log, retries, max_wait_s)
        for opt in optimizers:
            t = res[opt]
            results[opt, n] = t
            tf = t["fastgd"]
            bpp = cases.CASES[opt].bytes_per_param
            _, gbs = cases.throughput(n, bpp, tf)
            _, probe_gbs = cases.throughput(n, cases.PROBE_BYTES, t["probe"])
            ratios = [t[b] / tf if b in t else None for b in BASELINES]
            rows.append([opt, f"{n:.0e}", _timing.fmt_us(tf), f"{gbs:.1f}",
                         f"{100 * gbs / probe_gbs:.0f}%"] + [_timing.fmt_ratio(r) for r in ratios])
            log(f"  [{threads} thr] {opt:>12} n={n:.0e}: " + ", ".join(
                f"{k} {v * 1e6:.1f} us" for k, v in t.items()))
    return rows, results, loads


def targets(results, threads):
    """Lines checking the Adam targets of the brief against one thread count's results."""
    out = []

    def have(n):
        return ("Adam", n) in results

    fused = [n for n in (10**5, 10**6, 10**7) if have(n) and "torch-fused" in results["Adam", n]]
    if fused:
        rs = {n: results["Adam", n]["torch-fused"] / results["Adam", n]["fastgd"] for n in fused}
        ok = all(r > 1.0 for r in rs.values())
        out.append(f"- {'PASS' if ok else 'MISS'} faster than torch fused Adam at n >= 1e5: "
                   + ", ".join(f"{n:.0e} {r:.2f}x" for n, r in rs.items()))
    if have(10**3) and "torch-fused" in results["Adam", 10**3]:
        r = results["Adam", 10**3]["torch-fused"] / results["Adam", 10**3]["fastgd"]
        out.append(f"- {'PASS' if r >= 10 else 'MISS'} >= 10x torch fused Adam at 1e3: {r:.1f}x")
    sizes = sorted(n for (o, n) in results if o == "Adam")
    if sizes:
        rs = {n: results["Adam", n]["reference"] / results["Adam", n]["fastgd"] for n in sizes}
        ok = all(r >= 5 for r in rs.values())
        out.append(f"- {'PASS' if ok else 'MISS'} >= 5x the NumPy reference (Adam): "
                   + ", ".join(f"{n:.0e} {r:.1f}x" for n, r in rs.items()))
    if have(10**7):
        r = results["Adam", 10**7]["probe"] / results["Adam", 10**7]["fastgd"]
        out.append(f"- {'PASS' if r >= 0.9 else 'MISS'} >= 90% of the probe at 1e7 (Adam): "
                   f"{100 * r:.0f}%")
    return [f"Targets at {threads} thread(s):", ""] + out + [""]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--sizes", type=float, nargs="+", default=list(cases.SIZES))
    ap.add_argument("--optimizers", nargs="+", default=list(cases.CASES),
                    choices=list(cases.CASES))
    ap.add_argument("--out", help="also write the report to this file")
    ap.add_argument("--retries", type=int, default=2,
                    help="re-measure a size this many times when the host was busy")
    ap.add_argument("--max-wait", type=float, default=120.0,
                    help="seconds to wait for a quiet host before each size")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's trim/mmap thresholds alone (see tune_malloc)")
    args = ap.parse_args(argv)
    tuned = False if args.default_malloc else tune_malloc()
    sizes = [int(s) for s in args.sizes]

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    lines = _timing.header("fastgd optimizer step vs baselines (float32, one array)")
    lines += [
        "fastgd µs/step: median of interleaved rounds. GB/s counts the bytes the rule must",
        "move (Adam-like 28 B/param, SGD 12, SGD-momentum/Momentum/RMSprop/Adagrad 20).",
        "% of probe: fastgd GB/s / probe GB/s (probe = Adam's 4-read/3-write traffic, no",
        "math). vs X: X's time / fastgd's time at the same thread count (>1: fastgd faster;",
        "– : no such baseline).",
        f"glibc malloc thresholds raised (baselines' temporaries stay mapped): {tuned}.",
        "",
    ]
    cols = ["optimizer", "size", "fastgd µs/step", "fastgd GB/s", "% of probe",
            "vs reference (×)", "vs torch fused (×)", "vs torch foreach (×)"]
    for threads in args.threads:
        rows, results, loads = run(threads, sizes, args.optimizers, log, args.retries,
                                   args.max_wait)
        note = ", ".join(f"{n:.0e}: {x:.2f}" for n, x in loads.items())
        lines += [f"## {threads} thread(s)", "",
                  f"(cores used by other processes while each size ran -- {note}; "
                  f"> {CONTENDED} means contended)", ""]
        lines += _timing.table(cols, rows) + [""]
        probe_rows = []
        for n in sizes:
            t = results[args.optimizers[0], n]["probe"]
            probe_rows.append([f"{n:.0e}", _timing.fmt_us(t),
                               f"{cases.throughput(n, cases.PROBE_BYTES, t)[1]:.1f}"])
        lines += ["Probe (median over the first optimizer's rounds):", ""]
        lines += _timing.table(["size", "probe µs", "probe GB/s"], probe_rows) + [""]
        if "Adam" in args.optimizers:
            lines += targets(results, threads)
    _timing.emit(lines, args.out)


if __name__ == "__main__":
    main()
