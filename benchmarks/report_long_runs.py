"""What the C loop's look for signals (Ctrl-C), a progress bar fed from those looks and the
running training metric cost: A/B in one process, interleaved.

    python benchmarks/report_long_runs.py [--rounds 101] [--out benchmarks/results/long-runs.md]

Contenders, per case: ``off`` (``_engine.set_poll_interval(0)``: no clock reads, no looks),
``on`` (the default: a look every 25 ms of work), ``bar`` (``on`` plus a drawn ProgressBar
-- to a StringIO, so every report redraws the plain bar -- fed at those looks) and
``metric`` (``on`` plus the running training metric counted in the loss pass). Each
sample is one epoch of the engine as fit runs it (``train._engine_epoch``: the C loop and
its per-call Python), timed by the calling thread's CPU time (``time.thread_time``; one
thread, so the C loop runs in it): on this shared 2-vCPU host wall time mostly measures
the neighbours (a first run on wall time gave per-round ratios spread 0.5-2.4 for
identical work), and what the polling costs is CPU time. Wall time is reported too. Each
round runs every contender once per case in a rotated order, all on the case's one model
and engine (none of them changes a bit of training); a ratio is per round, its median,
interquartile range and min-max are over the rounds. Adam, float32.
"""
import argparse
import io
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing  # noqa: E402

import fastgd  # noqa: E402
from fastgd import batching  # noqa: E402
from fastgd._runtime import threads as _threads  # noqa: E402
from fastgd.callbacks import ProgressBar  # noqa: E402
from fastgd.model import _engine  # noqa: E402
from fastgd.training import train as _train  # noqa: E402
from fastgd.training.averaging import WeightAverage  # noqa: E402
from fastgd.training.fitcall import prepare_fit  # noqa: E402

BIG, TINY = [784, 256, 128, 10], [20, 32, 4]
# (name, layer sizes, rows, batch size): small epochs, where a fixed cost shows most
# (batch 1 on fewer rows: its epochs are the long ones here)
CASES = [("784-256-128-10", BIG, 256, 1), ("784-256-128-10", BIG, 4096, 32),
         ("784-256-128-10", BIG, 4096, 128), ("20-32-4 (tiny)", TINY, 16384, 1),
         ("20-32-4 (tiny)", TINY, 65536, 32), ("20-32-4 (tiny)", TINY, 65536, 128)]
CONTENDERS = ("off", "on", "bar", "metric")
PAIRS = (("on", "off", "poll on / off"), ("bar", "on", "bar / poll on"),
         ("metric", "on", "running metric / none"))
DEFAULT_POLL = _engine.poll_interval()


def _data(sizes, n):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, sizes[0])).astype(np.float32),
            rng.integers(0, sizes[-1], n))


class Case:
    """One model, optimizer and engine, trained an epoch at a time under any contender's
    setting: every contender runs on the same buffers, so no contender is favoured by where
    its arrays happen to lie (separate models per contender measured systematic
    differences of up to ~8% between identical settings)."""

    def __init__(self, sizes, X, y, batch):
        self.model = fastgd.MLP(sizes, seed=0)
        self.opt = fastgd.Adam(self.model.parameters(), lr=1e-3)
        self.run = prepare_fit(self.model, X, y, self.opt, epochs=1, batch_size=batch,
                               seed=1, train_metric=False)
        self.engine = self.model._engine(min(batch, len(X)), 1)
        self.avg = WeightAverage(self.run)
        self.nb = batching.n_batches(len(X), batch, False)
        self.order = batching.epoch_order(len(X), 1, 0)
        self.bar = ProgressBar(stream=io.StringIO(), enabled=True)
        self.bar.set_context(self.model, self.opt, epochs=1, n_batches=self.nb,
                             initial_epoch=0)

    def epoch(self, kind):
        """(thread CPU seconds, wall seconds) of one epoch under contender ``kind``."""
        extra = {}
        if kind == "bar":
            self.bar._done = 0
            extra["progress"] = _train._progress_report([self.bar], 0, self.nb, 1e-3, 0,
                                                        0.0, 0, 0.0)
        if kind == "metric":
            extra["metric"] = np.zeros(1)
        _engine.set_poll_interval(0.0 if kind == "off" else DEFAULT_POLL)
        try:
            c0, w0 = time.thread_time(), time.perf_counter()
            _train._engine_epoch(self.engine, self.run, self.opt, self.order, 0, self.nb,
                                 None, self.avg, **extra)
            return time.thread_time() - c0, time.perf_counter() - w0
        finally:
            _engine.set_poll_interval(DEFAULT_POLL)


def measure(rounds, log):
    """{case: {"cpu": {contender: [s]}, "wall": {contender: [s]}}}."""
    out, setups = {}, []
    for name, sizes, n, batch in CASES:
        X, y = _data(sizes, n)
        case = Case(sizes, X, y, batch)
        for k in CONTENDERS:
            case.epoch(k)                  # warm-up: caches, page faults
        key = (name, n, batch)
        setups.append((key, case))
        out[key] = {"cpu": {k: [] for k in CONTENDERS}, "wall": {k: [] for k in CONTENDERS}}
    for r in range(rounds):
        for key, case in setups:
            names = list(CONTENDERS)
            names = names[r % len(names):] + names[:r % len(names)]
            for k in names:
                cpu, wall = case.epoch(k)
                out[key]["cpu"][k].append(cpu)
                out[key]["wall"][k].append(wall)
        if log and (r + 1) % 10 == 0:
            log(f"  round {r + 1}/{rounds}")
    return out


def _q(xs, q):
    return float(np.quantile(np.asarray(xs), q))


def table(results, clock):
    lines = ["| model | rows | batch | ratio | median | IQR | min-max | median epoch (ms) |",
             "|---|---:|---:|---|---:|---|---|---|"]
    for (name, n, batch), r in results.items():
        t = r[clock]
        for a, b, label in PAIRS:
            xs = [x / y for x, y in zip(t[a], t[b])]
            lines.append(
                f"| {name} | {n} | {batch} | {label} | {statistics.median(xs):.4f} | "
                f"{_q(xs, 0.25):.4f}-{_q(xs, 0.75):.4f} | {min(xs):.3f}-{max(xs):.3f} | "
                f"{1e3 * statistics.median(t[a]):.2f} vs {1e3 * statistics.median(t[b]):.2f} |")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=101)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    lines = _timing.header("Long runs: what polling for Ctrl-C, a progress bar and the "
                           "running metric cost")
    with _timing.HostLoad() as load, _threads.single_threaded_blas():
        results = measure(args.rounds, lambda m: print(m, file=sys.stderr))
    lines += [
        f"- {load.note()}",
        f"- load average at the end: {_timing.loadavg()}",
        "",
        f"{args.rounds} interleaved rounds; one thread, Adam, float32. `poll on / off`: the "
        f"default look every {DEFAULT_POLL * 1e3:.0f} ms of work (a clock read every "
        "~1M multiply-adds' worth of batches) against `set_poll_interval(0)`; `bar / poll "
        "on`: a drawn ProgressBar fed from those looks against none; `running metric / "
        "none`: History's default running training metric against none. A ratio is one "
        "round's epoch time over the other's (1.01 = 1% slower).",
        "",
        "## Thread CPU time (what the code costs)",
        "",
    ] + table(results, "cpu") + [
        "",
        "## Wall time (what the host's other jobs add)",
        "",
    ] + table(results, "wall")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
