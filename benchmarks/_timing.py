"""Timing and report helpers shared by the report_*.py scripts (no pytest-benchmark).

Samples are medians of interleaved rounds: each round times every contender once, so a
slow patch on a shared host hits all of them instead of one, and the ratios stay sane.
"""
import datetime
import gc
import os
import platform
import shlex
import subprocess
import sys
import time

import numpy as np


def _cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def _flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return ", ".join(x for x in ("avx2", "fma", "avx512f") if x in flags)
    except OSError:
        pass
    return "?"


def _git_rev():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                             capture_output=True, text=True, check=True).stdout.strip()
        # the paths are the repository root's (from benchmarks/ they named nothing)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "csrc", "fastgd",
                                "setup.py"], cwd=os.path.dirname(here), capture_output=True,
                               text=True, check=True).stdout.strip()
        return rev + (" + uncommitted changes to csrc/fastgd" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _blas_kernels():
    """Which BLAS kernels the loaded OpenBLAS libraries run (numpy's, SciPy's, the engine's
    scipy-openblas32 when installed; header() names the engine's): OpenBLAS picks them per
    CPU unless OPENBLAS_CORETYPE forces one (some machines here force Haswell's AVX2
    kernels, ~half the AVX-512 speed on this CPU: see docs/DESIGN.md)."""
    try:
        from threadpoolctl import threadpool_info
        import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS)
        libs = [f"{os.path.basename(os.path.dirname(i['filepath']))}: {i.get('internal_api')} "
                f"{i.get('version')} {i.get('architecture')}" for i in threadpool_info()
                if i.get("user_api") == "blas"]
    except ImportError:
        libs = ["?"]
    forced = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                       if k in os.environ)
    return "; ".join(libs) + (f" (forced by {forced})" if forced else "")


def header(title):
    """Markdown lines: date, machine, command line, library versions."""
    import fastgd
    cfg = fastgd.config() if callable(getattr(fastgd, "config", None)) else {}
    try:
        import torch
        torch_v = torch.__version__
    except ImportError:
        torch_v = "not installed"
    argv = " ".join(shlex.quote(a) for a in sys.argv)
    return [
        f"# {title}",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {_cpu_model()}, nproc={os.cpu_count()}, {_flags()}"
        f" ({platform.system()} {platform.machine()})",
        f"- command: `python {argv}`",
        f"- commit: {_git_rev()}",
        f"- fastgd {fastgd.__version__}: simd={cfg.get('simd', '?')}, "
        f"kernel_dispatch={cfg.get('kernel_dispatch', '?')}, "
        f"cflags=`{cfg.get('cflags', '?')}`; numpy {np.__version__}; torch {torch_v}",
        f"- BLAS kernels: {_blas_kernels()}; the engine calls {cfg.get('engine_blas', '?')}",
        f"- load average at start: {loadavg()} (a shared host: other jobs skew 2-thread runs)",
        "",
    ]


def loadavg():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


class HostLoad:
    """How busy *other* processes kept the CPUs while a block ran (a shared host).

    ``with HostLoad() as h: ...`` then ``h.others`` = average cores used by everything but
    this process (from /proc/stat minus our own CPU time); None where unavailable."""

    def _read(self):
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        t = os.times()
        return sum(v) - idle, t.user + t.system, time.monotonic()

    def __enter__(self):
        self._start = self._read()
        self.others = None
        return self

    def __exit__(self, *exc):
        end = self._read()
        if self._start and end and end[2] > self._start[2]:
            hz = os.sysconf("SC_CLK_TCK")
            busy = (end[0] - self._start[0]) / hz
            mine = end[1] - self._start[1]
            self.others = max(0.0, busy - mine) / (end[2] - self._start[2])
        return False

    def note(self):
        if self.others is None:
            return "other processes' load: unknown"
        warn = " -- CONTENDED, rerun on a quiet host" if self.others > 0.25 else ""
        return f"other processes used {self.others:.2f} cores on average during this run{warn}"


def wait_quiet(max_wait_s=120.0, threshold=0.15, window_s=2.0, log=None):
    """Wait (up to max_wait_s) until other processes use under ``threshold`` cores over a
    ``window_s`` window. Returns the last window's load (None if unknown)."""
    deadline = time.monotonic() + max_wait_s
    while True:
        with HostLoad() as h:
            time.sleep(window_s)
        if h.others is None or h.others < threshold or time.monotonic() > deadline:
            return h.others
        if log:
            log(f"  host busy ({h.others:.2f} cores used by others); waiting")


def calibrate(fn, target_s):
    """How many calls of fn make one sample of about target_s (at least 1)."""
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    k = 1
    while dt * k < target_s / 2 and k < 1_000_000:
        k *= 2
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        dt = (time.perf_counter() - t0) / k
    return max(1, int(target_s / max(dt, 1e-9)))


def interleaved(fns, *, rounds, target_s=1e-3, warm=True, settle_s=0.0, pools=None):
    """Median seconds per call of each fn in ``fns`` (a dict), timed in interleaved rounds.

    Each sample is a batch of calls sized to ~target_s; with ``warm`` one untimed call
    precedes each batch, so in-cache sizes are timed with their arrays in cache (as a
    loop of steps sees them) even though the contenders evict each other.

    ``settle_s`` and ``pools`` (name -> thread-pool label, None for single-threaded code):
    with several threads, fastgd's OpenMP pool and torch's (a second runtime) keep their
    workers spinning for a while after a region; on a machine with as many cores as
    threads the next contender's region then fights them for the cores (measured: torch
    fused SGD at 1e3, 2 threads, 15 us -> 8 ms). So before a sample whose pool differs
    from the last pool used, sleep ``settle_s`` to let the other pool's workers go idle."""
    pools = pools or {}
    last_pool = [None]

    def settle(name):
        pool = pools.get(name)
        if settle_s and pool is not None and pool != last_pool[0]:
            if last_pool[0] is not None:
                time.sleep(settle_s)
            last_pool[0] = pool

    ks = {}
    for name, fn in fns.items():
        settle(name)
        ks[name] = calibrate(fn, target_s)
    samples = {name: [] for name in fns}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in fns.items():
                k = ks[name]
                settle(name)
                if warm:
                    fn()
                t0 = time.perf_counter()
                for _ in range(k):
                    fn()
                samples[name].append((time.perf_counter() - t0) / k)
    finally:
        if gc_was:
            gc.enable()
    return {name: float(np.median(s)) for name, s in samples.items()}


def table(columns, rows):
    """A Markdown table."""
    out = ["| " + " | ".join(columns) + " |",
           "|" + "|".join("---:" if i else "---" for i in range(len(columns))) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def fmt_us(seconds):
    us = seconds * 1e6
    return f"{us:.3g}" if us < 100 else f"{us:,.0f}"


def fmt_ratio(x):
    return "–" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.1f}")


def emit(lines, out=None):
    """Print a finished report (closing with the load average) and write it to ``out``."""
    lines = list(lines) + [f"Load average at end: {loadavg()}", ""]
    text = "\n".join(lines)
    print(text)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(text + "\n")
