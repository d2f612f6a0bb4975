"""A/B of the optimizer kernels against an earlier build, in one process.

Usage (from the repository root, after ``make build``)::

    python benchmarks/report_adam_ab.py --before DIR [--rounds 9] [--out FILE]

DIR holds the earlier build's ``_optim*.so`` and ``_engine*.so`` (copied from
fastgd/optim/ and fastgd/model/ before the change). Both are loaded beside the current
build under another package name, so the two run in the same process, on the same arrays,
in interleaved rounds (each round times A then B, then B then A in the next), and the
report gives medians and the spread (min-max) of the rounds. Measured:

* the plain Adam kernel (``opt.step``'s ``step_group``) over 4096 and 32768 float32
  parameters (L1 and L2 resident) and 235,146 (the 784-256-128-10 model's count), 1
  thread: G parameters/s;
* batch-1 training of that model (Adam, float32, 1 thread): samples/s of ``fastgd.fit``
  with the earlier engine swapped in (the fused ``fg_apply_outer`` is most of it).

The earlier engine must share the current ``fg_step`` layout (it imports the current
``_optim``'s Rule), so this compares builds whose struct is unchanged.
"""
import argparse
import glob
import warnings
import importlib.machinery
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import fastgd  # noqa: E402
import _timing  # noqa: E402
from fastgd.model import mlp as _mlp  # noqa: E402
from fastgd.optim import _optim, table  # noqa: E402
from fastgd.training import train as _train  # noqa: E402

SIZES = [784, 256, 128, 10]


def load_before(directory, name):
    path, = glob.glob(os.path.join(directory, f"{name}*.so"))
    loader = importlib.machinery.ExtensionFileLoader(f"fastgd_before.{name}", path)
    spec = importlib.util.spec_from_file_location(f"fastgd_before.{name}", path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class KernelCase:
    """step_group over one flat float32 parameter array, steps 2.. (bc2 != 1)."""

    def __init__(self, module, n, kwargs, seed=0):
        rng = np.random.default_rng(seed)
        self.module = module
        self.p = [rng.standard_normal(n).astype(np.float32)]
        self.g = [rng.standard_normal(n).astype(np.float32)]
        self.state = [np.zeros(n, np.float32), np.zeros(n, np.float32),
                      np.zeros(n, np.float32) if kwargs.get("amsgrad") else None]
        row = table.by_class("Adam")
        # an earlier build refuses fields it does not have (only ones left at their default)
        self.hyper = {k: v for k, v in row.hyper({**row.defaults, **kwargs}).items()
                      if k in module.STEP_FIELDS}
        self.step_no = 1

    def run(self, steps):
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step_no += 1
            self.module.step_group(dict(self.hyper, step=self.step_no), self.p, self.g,
                                   self.state, 1)
        return time.perf_counter() - t0


class TrainCase:
    """fastgd.fit at batch 1 with the given engine module swapped in."""

    def __init__(self, engine, X, y, flush=False):
        self.engine, self.X, self.y = engine, X, y
        self.model = fastgd.MLP(SIZES, seed=0)
        self.opt = fastgd.Adam(self.model.parameters(), flush_subnormal_state=flush)
        self.epoch = 0

    def run(self):
        saved = _mlp._engine, _train._engine
        _mlp._engine = _train._engine = self.engine
        try:
            t0 = time.perf_counter()
            fastgd.fit(self.model, self.X, self.y, self.opt, epochs=1, batch_size=1, seed=0,
                       initial_epoch=self.epoch, n_threads=1)
            self.epoch += 1
            return time.perf_counter() - t0
        finally:
            _mlp._engine, _train._engine = saved


def ab(label, run_a, run_b, rounds, work, repeat=3):
    """Interleaved rounds, each the best of ``repeat`` runs per side (on this shared VM a
    run is often descheduled part-way: the best of a few is what the code costs, the
    median over rounds what is typical); returns a table row of medians and spreads in
    work/second."""
    ta, tb = [], []
    for r in range(rounds):
        first, second = (run_a, run_b) if r % 2 == 0 else (run_b, run_a)
        x = min(first() for _ in range(repeat))
        y = min(second() for _ in range(repeat))
        (ta, tb)[r % 2].append(x)
        (tb, ta)[r % 2].append(y)
    ra, rb = work / np.array(ta), work / np.array(tb)
    return (label, np.median(ra), ra.min(), ra.max(), np.median(rb), rb.min(), rb.max(),
            np.median(rb / ra))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--flush", action="store_true",
                    help="train with flush_subnormal_state=True (both builds must have it)")
    ap.add_argument("--no-kernel", action="store_true", help="only the training A/B")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    old_optim = load_before(args.before, "_optim")
    with warnings.catch_warnings():   # fg_step grew at its end: the earlier prefix holds
        warnings.simplefilter("ignore", RuntimeWarning)
        old_engine = load_before(args.before, "_engine")
    rows = []
    n = sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:]))
    cases = [(f"Adam kernel, {size} float32 (L1/L2/L3), G params/s", size, {})
             for size in (4096, 32768, n)]
    cases.append((f"AMSGrad kernel, {n} float32, G params/s", n, dict(amsgrad=True)))
    for label, size, kwargs in [] if args.no_kernel else cases:
        a, b = KernelCase(old_optim, size, kwargs), KernelCase(_optim, size, kwargs)
        steps = max(100, 5 * 10**6 // size)
        a.run(20), b.run(20)
        rows.append(ab(label, lambda: a.run(steps), lambda: b.run(steps), args.rounds,
                       steps * size / 1e9))
    X, y = fastgd.datasets.make_classification(args.samples, 784, 10, seed=0,
                                               dtype=np.float32)
    a, b = TrainCase(old_engine, X, y, args.flush), TrainCase(_train._engine, X, y, args.flush)
    a.run(), b.run()
    label = "batch-1 training 784-256-128-10" + (", flush on" if args.flush else "")
    rows.append(ab(label + ", samples/s", a.run, b.run, args.rounds, args.samples, repeat=2))
    lines = ["| measure | before (median, min-max) | after (median, min-max) | after/before "
             "(median of rounds) |", "|---|---|---|---|"]
    for label, ma, lo_a, hi_a, mb, lo_b, hi_b, ratio in rows:
        lines.append(f"| {label} | {ma:.4g} ({lo_a:.4g}-{hi_a:.4g}) | {mb:.4g} "
                     f"({lo_b:.4g}-{hi_b:.4g}) | {ratio:.3f} |")
    text = "\n".join([*_timing.header("A/B against an earlier build, one process"), "",
                      *lines, ""])
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
