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
        f"- fastgd {fastgd.__version__}: simd={cfg.get('simd', '?')}, "
        f"cflags=`{cfg.get('cflags', '?')}`; numpy {np.__version__}; torch {torch_v}",
        "",
    ]


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


def interleaved(fns, *, rounds, target_s=1e-3, warm=True):
    """Median seconds per call of each fn in ``fns`` (a dict), timed in interleaved rounds.

    Each sample is a batch of calls sized to ~target_s; with ``warm`` one untimed call
    precedes each batch, so in-cache sizes are timed with their arrays in cache (as a
    loop of steps sees them) even though the contenders evict each other."""
    ks = {name: calibrate(fn, target_s) for name, fn in fns.items()}
    samples = {name: [] for name in fns}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in fns.items():
                k = ks[name]
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
