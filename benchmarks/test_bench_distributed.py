"""The data-parallel loop's own cost, in this process (a 1-rank communicator): one epoch
of fastgd.fit's C loop beside one epoch of data-parallel fit on the same data, grouped
per case so the ratio reads off one table; extra_info holds µs per step. On the tiny
model the difference is the per-step Python hook (gather, engine call, scale, allreduce
call, optimizer step); on the benchmark MLP it is what that hook costs a real step.
2-rank numbers, the allreduce sweep and the cost model: report_distributed.py
(benchmarks/results/distributed.md). Under --benchmark-disable every case runs once on
few samples and checks that the loss is finite and falls; the cost model is checked on a
synthetic sweep.
"""
import math

import numpy as np
import pytest

import _train_cases as cases

pytest.importorskip("mpi4py", reason="data-parallel fit needs mpi4py")

import fastgd  # noqa: E402
import report_distributed as report  # noqa: E402
from fastgd.distributed import data_parallel_fit  # noqa: E402

CASES = {   # name: (layer sizes, batch, samples timed)
    "tiny model, batch 1": ([8, 8, 2], 1, 4_000),
    "MLP 784-256-128-10, batch 128": (cases.SIZES, 128, 20_000),
}


@pytest.mark.parametrize("path", ["fit", "data-parallel"])
@pytest.mark.parametrize("case", list(CASES))
def test_step_overhead(benchmark, case, path):
    from mpi4py import MPI
    sizes, batch, n = CASES[case]
    n = 256 if benchmark.disabled else n
    X, y = fastgd.datasets.make_classification(n, sizes[0], sizes[-1], seed=0,
                                               dtype=np.float32)
    model = fastgd.MLP(sizes, seed=0)
    opt = fastgd.Adam(model.parameters(), lr=1e-3)
    epoch = [0]

    def one():
        kw = dict(epochs=1, batch_size=batch, seed=0, initial_epoch=epoch[0], n_threads=1)
        h = fastgd.fit(model, X, y, opt, **kw) if path == "fit" else \
            data_parallel_fit(model, X, y, opt, comm=MPI.COMM_SELF, **kw)
        epoch[0] += 1
        return h.loss[0]
    first = one()
    benchmark.group = f"data-parallel overhead, {case}"
    last = benchmark.pedantic(one, rounds=1 if benchmark.disabled else 5, iterations=1)
    assert math.isfinite(first) and math.isfinite(last) and last < first
    steps = -(-n // batch)
    benchmark.extra_info.update(path=path, samples=n, steps=steps)
    if benchmark.stats is not None:
        benchmark.extra_info["us_per_step"] = benchmark.stats.stats.median / steps * 1e6


def test_cost_model_recovers_a_known_link():
    alpha, gbs = 4.0, 8.0
    sweep = [{"bytes": b, "fastgd_us": report.allreduce_us(2, b, {"alpha_us": alpha,
                                                                 "GB_per_s": gbs})}
             for b in (8, 64, 32768, 262144, report.GRAD_BYTES, 2097152)]
    model = report.fit_cost_model(sweep)
    assert model["alpha_us"] == pytest.approx(alpha + (8 + 64) / 2 / (gbs * 1e3) / 2, rel=1e-6)
    assert model["GB_per_s"] == pytest.approx(gbs, rel=1e-3)
    # 4 bytes a float32 parameter; the latency term grows with log2(p), bandwidth saturates
    assert report.GRAD_BYTES == 4 * 235_146
    t = [report.allreduce_us(p, report.GRAD_BYTES, model) for p in (1, 2, 8, 64, 256)]
    assert t[0] == 0 and t == sorted(t)
    assert t[-1] < 2 * report.GRAD_BYTES / (gbs * 1e3) + 2 * 8 * alpha
