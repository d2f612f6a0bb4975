"""One measurement of report_distributed.py, run under ``mpiexec -n N`` (or alone for 1 rank):

    python benchmarks/_dist_worker.py allreduce OUT.json [--reps R]
    python benchmarks/_dist_worker.py train OUT.json --batch B --threads T [--mode dp|fit]
        [--samples S] [--epochs E]

allreduce: the gradient allreduce as data-parallel fit does it (in place, ``Iallreduce`` +
``Test`` polling, fastgd.distributed._comm.Group) and a plain blocking ``Allreduce``, over
message sizes from 8 B to 4 MB, median µs of ``--reps`` after a barrier each.
train: the benchmark MLP (784-256-128-10, Adam, float32); mode ``dp`` is data-parallel fit
with per-rank batch B (global N·B), ``fit`` is fastgd.fit's C epoch loop with batch B (one
rank). Median samples/s of ``--epochs`` epochs after a warm-up epoch, and for dp the
per-step compute, allreduce and exchange times from History.comm. Rank 0 writes OUT.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _train_cases as cases  # noqa: E402

from mpi4py import MPI  # noqa: E402

import fastgd  # noqa: E402
from fastgd.distributed import _comm, data_parallel_fit  # noqa: E402

SIZES_BYTES = [8, 64, 512, 4096, 32768, 262144, 940584, 2097152, 4194304]


def allreduce(args, comm):
    group = _comm.Group(comm, timeout=120)
    out = []
    for nbytes in SIZES_BYTES:
        buf = np.ones(nbytes // 4, dtype=np.float32)
        row = {"bytes": nbytes}
        for how in ("fastgd", "blocking"):
            times = []
            for _ in range(args.reps):
                comm.Barrier()
                t0 = time.perf_counter()
                if how == "fastgd":
                    group.allreduce_sum(buf)
                else:
                    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
                times.append(time.perf_counter() - t0)
            # the slowest rank's median: an allreduce ends when every rank has it
            row[how + "_us"] = max(comm.allgather(statistics.median(times) * 1e6))
        out.append(row)
    return {"ranks": comm.size, "allreduce": out}


def train(args, comm):
    X, y = cases.make_data(args.samples)
    model = fastgd.MLP(cases.SIZES, seed=0)
    opt = fastgd.Adam(model.parameters())
    rates, stats = [], []
    for epoch in range(args.epochs + 1):
        if args.mode == "fit":
            h = fastgd.fit(model, X, y, opt, epochs=1, batch_size=args.batch, seed=0,
                           initial_epoch=epoch, n_threads=args.threads)
        else:
            h = data_parallel_fit(model, X, y, opt, comm=comm, epochs=1,
                                  batch_size=args.batch, seed=0, initial_epoch=epoch,
                                  n_threads=args.threads, timeout=120)
            c = h.comm
            stats.append({"compute_us": 1e6 * c.compute_seconds / c.steps,
                          "allreduce_us": 1e6 * c.allreduce_seconds / c.steps,
                          "exchange_us": 1e6 * c.exchange_seconds / c.steps,
                          "steps": c.steps, "bytes_per_step": c.bytes_per_step})
        if epoch:   # the first epoch warms caches and the engine's buffers
            # the epoch ends on every rank at the slowest rank's time
            rates.append(args.samples / max(comm.allgather(h.time[0])))
    result = {"ranks": comm.size, "threads": args.threads, "batch": args.batch,
              "mode": args.mode, "samples_per_s": statistics.median(rates),
              "rates": rates, "loss": h.loss[-1]}
    if stats:
        for key in ("compute_us", "allreduce_us", "exchange_us"):
            result[key] = statistics.median(s[key] for s in stats[1:])
        result["bytes_per_step"] = stats[0]["bytes_per_step"]
        result["steps_per_epoch"] = stats[0]["steps"]
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["allreduce", "train"])
    p.add_argument("out")
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mode", choices=["dp", "fit"], default="dp")
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    result = allreduce(args, comm) if args.what == "allreduce" else train(args, comm)
    if comm.rank == 0:
        with open(args.out, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
