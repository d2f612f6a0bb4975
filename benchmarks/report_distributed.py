"""Data-parallel training table: samples/s and scaling efficiency for 1 and 2 ranks ×
threads on this machine, the gradient allreduce timed on its own, the per-step Python
overhead of the data-parallel loop, and a cost model fitted to the measured allreduce
that predicts 8, 64 and 256 ranks.

    python benchmarks/report_distributed.py [--starts 3] [--out benchmarks/results/distributed.md]

Every configuration runs in fresh processes (``mpiexec -n N python benchmarks/_dist_worker.py``),
``--starts`` times; the table holds the median start (2-vCPU VMs here are bimodal from one
process start to the next: see docs/DESIGN.md, "Two threads on this VM are bimodal").

Cost model (Rabenseifner's reduce-scatter + allgather, MPICH's choice for long messages):
``T(p, n) = 2·log2(p)·α + 2·(p-1)/p · n/B``, with n = 4 × parameters bytes (float32
gradients); α and B are fitted to the 2-rank allreduce sweep (α from 8-512 B, B the
median rate over 32 kB-2 MB; per size the lowest median of ``--allreduce-launches``
launches, since a launch whose ranks are not scheduled together measures the host's
time slices, not the link). A step at p ranks and per-rank batch b then costs
``t_compute(b) + T(p, n)`` (no overlap: the allreduce starts when the backward pass has
finished), so samples/s = p·b / (t_compute(b) + T(p, n)) and the scaling efficiency is
t_compute / (t_compute + T). Checked here against the 2-rank allreduce at the model's own
gradient size (940 kB, not used in the fit) and the 2-rank training runs.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing  # noqa: E402
import _train_cases as cases  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
N_PARAMS = sum(a * b + b for a, b in zip(cases.SIZES[:-1], cases.SIZES[1:]))
GRAD_BYTES = 4 * N_PARAMS
ASSUMED_NETWORK = {"alpha_us": 2.0, "GB_per_s": 12.5}   # 100 Gb/s InfiniBand, not measured


def mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else "mpiexec"


def launch(n, *args):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        cmd = [mpiexec(), "-n", str(n), sys.executable, os.path.join(HERE, "_dist_worker.py"),
               args[0], out, *args[1:]]
        subprocess.run(cmd, check=True, timeout=900)
        with open(out) as f:
            return json.load(f)


def median_of_starts(starts, n, *args):
    runs = [launch(n, *args) for _ in range(starts)]
    runs.sort(key=lambda r: r.get("samples_per_s", 0))
    return runs[len(runs) // 2], runs


def fit_cost_model(sweep):
    """α from the allreduces of at most 512 bytes (2α at 2 ranks: the median); B the median
    of n / (T - 2α) over 32 kB-2 MB, the model's own gradient size left out to check the
    model against."""
    by = {row["bytes"]: row["fastgd_us"] for row in sweep}
    alpha = statistics.median(by[b] / 2 for b in by if b <= 512)
    rates = [b / (by[b] - 2 * alpha) for b in by
             if 32768 <= b <= 2097152 and b != GRAD_BYTES and by[b] > 2 * alpha]
    return {"alpha_us": alpha, "GB_per_s": statistics.median(rates) * 1e-3}


def allreduce_us(p, nbytes, model):
    if p == 1:
        return 0.0
    return (2 * math.log2(p) * model["alpha_us"]
            + 2 * (p - 1) / p * nbytes / (model["GB_per_s"] * 1e3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--allreduce-launches", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "distributed.md"))
    args = ap.parse_args()
    lines = _timing.header("Data-parallel training: MLP 784-256-128-10, Adam, float32")
    common = ["--samples", str(args.samples), "--epochs", str(args.epochs)]

    # On this shared 2-vCPU host a launch whose two ranks are not scheduled together reads
    # milliseconds for any message (both ranks must run at once to complete a collective):
    # the link is what the least disturbed launch measures (each size: the lowest of the
    # launches' medians); the highest is shown beside it
    launches = [launch(2, "allreduce", "--reps", "200")["allreduce"]
                for _ in range(args.allreduce_launches)]
    sweep = [{key: (row[key] if key == "bytes" else
                    min(run[i][key] for run in launches)) for key in row}
             for i, row in enumerate(launches[0])]
    worst = [max(run[i]["fastgd_us"] for run in launches) for i in range(len(sweep))]
    model = fit_cost_model(sweep)
    lines += ["## The gradient allreduce, 2 ranks on this host (shared memory)", "",
              f"Median µs of 200 repetitions, the lowest of {args.allreduce_launches} launches "
              "(the highest launch's fastgd median beside it).", "",
              "| bytes | fastgd (Iallreduce + Test) µs | blocking Allreduce µs | model µs | "
              "fastgd, worst launch µs |",
              "|---:|---:|---:|---:|---:|"]
    for row, bad in zip(sweep, worst):
        lines.append(f"| {row['bytes']:,} | {row['fastgd_us']:.1f} | {row['blocking_us']:.1f} | "
                     f"{allreduce_us(2, row['bytes'], model):.1f} | {bad:,.0f} |")
    lines += ["", f"Fitted: α = {model['alpha_us']:.1f} µs, B = {model['GB_per_s']:.2f} GB/s "
              f"(the {GRAD_BYTES:,}-byte row, the model's gradient, was not used in the fit).", ""]

    table, compute = [], {}
    for G in (128, 1024):
        configs = [("fit", 1, 1, G), ("fit", 1, 2, G), ("dp", 1, 1, G), ("dp", 2, 1, G // 2)]
        for mode, ranks, threads, b in configs:
            r, runs = median_of_starts(args.starts, ranks, "train", "--mode", mode,
                                       "--batch", str(b), "--threads", str(threads), *common)
            table.append((G, mode, ranks, threads, b, r, runs))
            if mode == "dp" and ranks == 1:
                compute[G] = r["compute_us"]
    for G in (128, 1024):      # per-rank compute at half the batch, for the model
        r, _ = median_of_starts(args.starts, 1, "train", "--mode", "dp", "--batch",
                                str(G // 2), "--threads", "1", *common)
        compute[G // 2] = r["compute_us"]

    lines += ["## Samples/s, 1 and 2 ranks × threads (2 vCPUs)", "",
              "Global batch G; `fit` is fastgd.fit's C epoch loop, `dp` data-parallel fit "
              "(per-rank batch b = G / ranks). Efficiency: samples/s over the ranks' count "
              "times fit's 1-thread samples/s at the same global batch.", "",
              "| G | path | ranks × threads | b | samples/s (median) | starts | efficiency | "
              "compute µs/step | allreduce µs/step | exchange µs/step |",
              "|---:|---|---|---:|---:|---|---:|---:|---:|---:|"]
    base = {}
    for G, mode, ranks, threads, b, r, runs in table:
        if mode == "fit" and threads == 1:
            base[G] = r["samples_per_s"]
        eff = r["samples_per_s"] / (base[G] * ranks * (threads if mode == "fit" else 1))
        starts = ", ".join(f"{x['samples_per_s']:,.0f}" for x in runs)
        per_step = (f"{r['compute_us']:,.0f} | {r['allreduce_us']:,.0f} | "
                    f"{r['exchange_us']:.1f}") if mode == "dp" else "– | – | –"
        lines.append(f"| {G} | {mode} | {ranks} × {threads} | {b} | "
                     f"{r['samples_per_s']:,.0f} | {starts} | {eff:.0%} | {per_step} |")
    lines += [""]

    lines += ["## Cost model: weak scaling at per-rank batch 64 and 512", "",
              f"n = 4 × {N_PARAMS:,} parameters = {GRAD_BYTES:,} bytes per step. t_compute(b): "
              "the 1-rank data-parallel step at batch b measured above (gather, forward/backward, "
              "optimizer). 'here' uses the α, B fitted on this host's shared memory; "
              f"'network' assumes α = {ASSUMED_NETWORK['alpha_us']} µs, "
              f"B = {ASSUMED_NETWORK['GB_per_s']} GB/s (100 Gb/s InfiniBand; an assumption, "
              "not a measurement).", "",
              "| b | links | ranks | allreduce µs | step µs | samples/s | efficiency |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for b in (64, 512):
        t_c = compute[b]
        for name, links in (("here", model), ("network", ASSUMED_NETWORK)):
            for p in (2, 8, 64, 256):
                t_a = allreduce_us(p, GRAD_BYTES, links)
                lines.append(f"| {b} | {name} | {p} | {t_a:,.0f} | {t_c + t_a:,.0f} | "
                             f"{p * b / (t_c + t_a) * 1e6:,.0f} | {t_c / (t_c + t_a):.0%} |")
    lines += ["", "Checked against this host (2 ranks):", ""]
    measured = {row["bytes"]: row["fastgd_us"] for row in sweep}
    lines.append(f"- allreduce of the model's gradient: predicted "
                 f"{allreduce_us(2, GRAD_BYTES, model):.0f} µs, measured "
                 f"{measured[GRAD_BYTES]:.0f} µs alone.")
    for G, mode, ranks, threads, b, r, runs in table:
        if mode == "dp" and ranks == 2:
            t_c = compute[b]
            pred = 2 * b / (t_c + allreduce_us(2, GRAD_BYTES, model)) * 1e6
            lines.append(f"- G = {G} (b = {b}): predicted {pred:,.0f} samples/s, measured "
                         f"{r['samples_per_s']:,.0f}; in training the allreduce took "
                         f"{r['allreduce_us']:,.0f} µs a step (it includes waiting for the "
                         "slower rank) against "
                         f"{allreduce_us(2, GRAD_BYTES, model):,.0f} µs alone.")
    lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
