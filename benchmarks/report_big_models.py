"""Print a Markdown report: big models on 1 and 2 threads, fastgd against torch's fused
Adam (issue 15, item 4).

Usage (from the repository root)::

    python benchmarks/report_big_models.py --rounds 7 --out benchmarks/results/big_models.md

Models 784-1024-1024-10 (1.86M parameters) and 784-2048-2048-2048-10 (10.0M), Adam,
float32, batch 128, random data (2,048 rows: 16 batches per sample). Contenders, each
with its own model and optimizer kept across samples (state is allocated once): fastgd
with big layers split by columns in step 1 (the default, ``_wide_step``), fastgd with
them split by rows (the previous decomposition, ``_engine.set_wide_layers(False)``), and
torch with ``torch.optim.Adam(fused=True)`` (its threaded GEMMs; ``torch.set_num_threads``
set to the count). Each round times every contender once (every other round in reverse
order), in this one process, after a 50 ms pause so the previous contender's spinning
OpenMP workers go idle; medians of the rounds, and the round-by-round ratio's 25th-75th
percentiles. At 1 thread both fastgd rows run the same code (one block): their ratio is
the host's noise.
"""
import argparse
import os
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
from fastgd.model import _engine  # noqa: E402

MODELS = {"784-1024-1024-10": [784, 1024, 1024, 10],
          "784-2048-2048-2048-10": [784, 2048, 2048, 2048, 10]}
BATCH = 128


def fastgd_case(sizes, X, y, threads, wide):
    m = fastgd.MLP(sizes, "relu", dtype=np.float32, seed=1)
    o = fastgd.Adam(m.parameters(), lr=1e-4)

    def run():
        previous = _engine.set_wide_layers(wide)
        try:
            fastgd.fit(m, X, y, o, epochs=1, batch_size=BATCH, seed=0, n_threads=threads)
        finally:
            _engine.set_wide_layers(previous)
    return run


def torch_case(sizes, X, y, threads):
    import torch
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    try:
        opt = torch.optim.Adam(net.parameters(), lr=1e-4, fused=True)
        kind = "fused"
    except (RuntimeError, TypeError):
        opt = torch.optim.Adam(net.parameters(), lr=1e-4, foreach=True)
        kind = "foreach"
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        torch.set_num_threads(threads)
        perm = torch.randperm(len(ty))
        for s in range(0, len(perm), BATCH):
            idx = perm[s:s + BATCH]
            opt.zero_grad()
            loss_fn(net(tX[idx]), ty[idx]).backward()
            opt.step()
    return run, kind


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--out")
    args = ap.parse_args()
    lines = _timing.header("Big models: fastgd's decompositions and torch's fused Adam")
    lines += [__doc__.split("\n\n", 2)[2].strip(), ""]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, 784)).astype(np.float32)
    y = rng.integers(0, 10, args.rows)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    rows = []
    torch_kind = "not installed"
    for name in args.models:
        sizes = MODELS[name]
        for threads in args.threads:
            fns = {"cols": fastgd_case(sizes, X, y, threads, True),
                   "rows": fastgd_case(sizes, X, y, threads, False)}
            if have_torch:
                fns["torch"], torch_kind = torch_case(sizes, X, y, threads)
            for fn in fns.values():
                fn()                                       # warm-up (state allocated)
            samples = {k: [] for k in fns}
            with _timing.HostLoad() as load:
                for i in range(args.rounds):
                    # every other round in reverse: no contender always runs first
                    for k, fn in (list(fns.items()) if i % 2 == 0 else
                                  list(fns.items())[::-1]):
                        time.sleep(0.05)
                        t0 = time.perf_counter()
                        fn()
                        samples[k].append(time.perf_counter() - t0)
            per = {k: np.array(v) / (args.rows / BATCH) for k, v in samples.items()}

            def ratio(a, b):
                r = per[b] / per[a]
                return (f"{np.median(r):.2f} ({np.percentile(r, 25):.2f}-"
                        f"{np.percentile(r, 75):.2f})")
            row = [name, threads, "?" if load.others is None else f"{load.others:.2f}",
                   f"{np.median(per['cols']) * 1e3:.2f}", f"{np.median(per['rows']) * 1e3:.2f}",
                   ratio("cols", "rows")]
            if have_torch:
                row += [f"{np.median(per['torch']) * 1e3:.2f}", ratio("cols", "torch")]
            rows.append(row)
            print(row, flush=True)
    cols = ["model", "threads", "others' cores", "fastgd cols (ms/batch)",
            "fastgd rows (ms/batch)", "rows / cols (IQR)"]
    if have_torch:
        cols += [f"torch Adam {torch_kind} (ms/batch)", "torch / fastgd cols (IQR)"]
    lines += _timing.table(cols, rows)
    lines += ["", f"Rounds: {args.rounds}; a ratio above 1 means fastgd's column split is "
              "faster.", ""]
    _timing.emit(lines, args.out)


if __name__ == "__main__":
    main()
