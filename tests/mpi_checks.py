"""Checks of data-parallel fit, run under ``mpiexec -n N python tests/mpi_checks.py OUT``
by tests/test_distributed_mpi.py: one launch runs every check (mpiexec start-up costs ~1 s),
each check's outcome is gathered to rank 0 and written to OUT as JSON for the tests to
assert on, one test per check. A check that raises is recorded as such, and the next one
still runs: every failure it provokes is collective, so the ranks stay in step.

``python tests/mpi_checks.py OUT dead kill|stop`` is the dead-rank scenario instead: rank 1
kills (SIGKILL) or stops (SIGSTOP) itself in the middle of the second epoch.
"""
import contextlib
import io
import json
import os
import pickle
import signal
import sys
import tempfile
import traceback

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastgd                                   # noqa: E402
from fastgd import distributed, schedules       # noqa: E402
from fastgd.distributed import data_parallel    # noqa: E402
from problems import random_problem             # noqa: E402

comm = MPI.COMM_WORLD
N, rank = comm.size, comm.rank
CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


# ------------------------------------------------------------------ equivalence

EQUIVALENCE = {
    # name: (sizes, output, dtype, n, per-rank batch, optimizer, options)
    "adam_softmax_partial_batch": ([7, 16, 5], "softmax", np.float64, 203, 10, "adam", {}),
    "momentum_linear_l2": ([6, 12, 2], "linear", np.float64, 150, 8, "momentum",
                           {"alpha": 1e-3}),
    "sgd_sigmoid_drop_last": ([5, 9, 3], "sigmoid", np.float64, 97, 7, "sgd",
                              {"drop_last": True}),
    "rows_fewer_than_ranks": ([4, 8, 3], "softmax", np.float64, 4 * 3 * 5 + 1, 4, "adam",
                              {}),   # last global batch: one row, some ranks get none
    "per_batch_onecycle": ([7, 10, 4], "softmax", np.float64, 120, 6, "adam",
                           {"schedule": "onecycle"}),
    "per_epoch_exponential": ([7, 10, 4], "softmax", np.float64, 120, 6, "rmsprop",
                              {"schedule": "exponential"}),
    "plateau_validation": ([7, 10, 4], "softmax", np.float64, 120, 6, "adam",
                           {"schedule": "plateau", "validation": True}),
    "param_groups": ([7, 10, 4], "softmax", np.float64, 120, 6, "groups", {}),
    "float32": ([7, 16, 5], "softmax", np.float32, 203, 10, "adam", {}),
    "validation_split_unseeded": ([7, 10, 4], "softmax", np.float64, 150, 6, "adam",
                                  {"validation_split": 0.2, "train_metric": True,
                                   "seed": None}),
}


def _setup(sizes, output, dtype, optimizer, opts, seed=3):
    model = fastgd.MLP(sizes, output=output, dtype=dtype, seed=seed,
                       alpha=opts.get("alpha", 0.0))
    p = model.parameters()
    opt = {"adam": lambda: fastgd.Adam(p, lr=1e-2),
           "momentum": lambda: fastgd.Momentum(p, lr=1e-2, beta=0.9),
           "sgd": lambda: fastgd.SGD(p, lr=0.1),
           "rmsprop": lambda: fastgd.RMSprop(p, lr=1e-3),
           "groups": lambda: fastgd.Adam([{"params": p[0::2], "weight_decay": 1e-2},
                                          {"params": p[1::2], "lr": 3e-3}], lr=1e-2)}[optimizer]()
    kind = opts.get("schedule")
    sched = None
    if kind == "onecycle":
        sched = schedules.OneCycleLR(opt, max_lr=2e-2, total_steps=400, interval="batch",
                                     cycle_momentum=False)
    elif kind == "exponential":
        sched = schedules.ExponentialDecay(opt, gamma=0.8)
    elif kind == "plateau":
        sched = schedules.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    return model, opt, sched


def _equivalence(name):
    sizes, output, dtype, n, b, optimizer, opts = EQUIVALENCE[name]
    X, y = random_problem(n, sizes, output, dtype=np.float64, seed=1)
    val = random_problem(40, sizes, output, dtype=np.float64, seed=2) \
        if opts.get("validation") else None
    kw = dict(epochs=3, seed=opts.get("seed", 5), drop_last=opts.get("drop_last", False),
              validation_data=val, validation_split=opts.get("validation_split"),
              train_metric=opts.get("train_metric", False))
    model, opt, sched = _setup(sizes, output, dtype, optimizer, opts)
    h = fastgd.fit(model, X, y, opt, comm=comm, batch_size=b, schedule=sched, **kw)
    kw["seed"] = h.seed         # an unseeded run used rank 0's fresh seed
    single, sopt, ssched = _setup(sizes, output, dtype, optimizer, opts)
    hs = fastgd.fit(single, X, y, sopt, batch_size=b * N, schedule=ssched, **kw)
    diff = float(np.max(np.abs(model._flat.astype(np.float64) - single._flat)))
    scale = float(np.max(np.abs(single._flat)))
    return {"max_abs_diff": diff, "max_abs_param": scale,
            "loss_diff": float(np.max(np.abs(np.subtract(h.loss, hs.loss)))),
            "lr_equal": h.lr == hs.lr, "epochs": len(h), "steps": h.comm.steps,
            "crc": _crc(model)}


for _name in EQUIVALENCE:
    CHECKS["equivalence_" + _name] = (lambda name: lambda: _equivalence(name))(_name)


def _crc(model):
    import zlib
    return zlib.crc32(model._flat.view(np.uint8))


def _small(seed=0, n=120):
    X, y = random_problem(n, [6, 8, 3], "softmax", seed=seed)
    model = fastgd.MLP([6, 8, 3], dtype=np.float64, seed=seed)
    return X, y, model, fastgd.Adam(model.parameters(), lr=1e-2)


def _outcome(fn):
    """(exception type name, message) of fn(), or (None, None)."""
    try:
        fn()
    except Exception as e:
        return type(e).__name__, str(e)
    return None, None


@check
def memmap_of_one_file():
    """Every rank maps the same .npy file read-only (float32 data, float64 model)."""
    X, y = random_problem(130, [6, 8, 3], "softmax", dtype=np.float32, seed=4)
    d = comm.bcast(tempfile.mkdtemp() if rank == 0 else None)
    if rank == 0:
        np.save(os.path.join(d, "X.npy"), X)
    comm.Barrier()
    Xm = np.load(os.path.join(d, "X.npy"), mmap_mode="r")
    model = fastgd.MLP([6, 8, 3], dtype=np.float64, seed=0)
    opt = fastgd.Adam(model.parameters(), lr=1e-2)
    distributed.fit(model, Xm, y, opt, comm=comm, epochs=2, batch_size=7, seed=0)
    single = fastgd.MLP([6, 8, 3], dtype=np.float64, seed=0)
    fastgd.fit(single, X, y, fastgd.Adam(single.parameters(), lr=1e-2), epochs=2,
               batch_size=7 * N, seed=0)
    return {"is_memmap": isinstance(Xm, np.memmap),
            "max_abs_diff": float(np.max(np.abs(model._flat - single._flat))),
            "crc": _crc(model)}


# ------------------------------------------------------------------ rank 0 writes

@check
def only_rank0_writes():
    X, y, model, opt = _small()
    d = comm.bcast(tempfile.mkdtemp() if rank == 0 else None)

    def save(epoch, logs):   # a checkpoint callback
        model.save(os.path.join(d, f"ckpt-rank{rank}-epoch{epoch}.npz"))

    class Hooks(fastgd.callbacks.Callback):
        calls = []

        def set_context(self, *args, **info):
            self.calls.append("set_context")

        def on_train_end(self, history):
            self.calls.append("on_train_end")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        distributed.fit(model, X, y, opt, comm=comm, epochs=2, batch_size=8, seed=0,
                        callbacks=[save, Hooks()], verbose=1)
    comm.Barrier()
    return {"files": sorted(os.listdir(d)), "printed_lines": len(out.getvalue().splitlines()),
            "hooks": Hooks.calls}


@check
def callback_stop_on_rank0_stops_all():
    X, y, model, opt = _small()
    h = fastgd.fit(model, X, y, opt, comm=comm, epochs=5, batch_size=8, seed=0,
                   callbacks=[lambda e, logs: e == 1])
    return {"epochs": len(h), "stopped_early": h.stopped_early, "crc": _crc(model)}


@check
def callback_every_chunks():
    X, y, model, opt = _small()
    seen = []

    class Every:
        def on_batches_end(self, epoch, logs):
            seen.append(logs["batches"])
    distributed.fit(model, X, y, opt, comm=comm, epochs=1, batch_size=4, seed=0,
                    callbacks=[Every()], callback_every=3)
    single_X, single_y, single, sopt = _small()
    fastgd.fit(single, single_X, single_y, sopt, epochs=1, batch_size=4 * N, seed=0,
               callback_every=3)
    return {"calls": len(seen), "max_abs_diff": float(np.max(np.abs(model._flat - single._flat)))}


# ------------------------------------------------------------------ resume

@check
def resume_from_one_checkpoint():
    X, y, model, opt = _small()
    full = distributed.fit(model, X, y, opt, comm=comm, epochs=4, batch_size=8, seed=0)
    crc_full = _crc(model)
    X, y, first, fopt = _small()
    distributed.fit(first, X, y, fopt, comm=comm, epochs=2, batch_size=8, seed=0)
    d = comm.bcast(tempfile.mkdtemp() if rank == 0 else None)
    if rank == 0:   # one checkpoint, written by rank 0
        first.save(os.path.join(d, "model.npz"))
        with open(os.path.join(d, "opt.pkl"), "wb") as f:
            pickle.dump(fopt.state_dict(), f)
    comm.Barrier()
    out = {}
    for who in ("every rank loads", "only rank 0 loads"):
        if who == "every rank loads" or rank == 0:
            model = fastgd.MLP.load(os.path.join(d, "model.npz"))
            opt = fastgd.Adam(model.parameters(), lr=1e-2)
            with open(os.path.join(d, "opt.pkl"), "rb") as f:
                opt.load_state_dict(pickle.load(f))
        else:           # a fresh model: rank 0's state is broadcast at the start
            model = fastgd.MLP([6, 8, 3], dtype=np.float64, seed=99)
            opt = fastgd.Adam(model.parameters(), lr=1e-2)
        h = distributed.fit(model, X, y, opt, comm=comm, epochs=2, batch_size=8, seed=0,
                            initial_epoch=2)
        out[who] = {"identical": _crc(model) == crc_full,
                    "loss_equal": h.loss == full.loss[2:]}
    return out


@check
def resume_mid_epoch():
    """initial_batch counts global batches: 2 epochs = 1 epoch + 5 batches + the rest."""
    X, y, model, opt = _small()
    fastgd.fit(model, X, y, opt, comm=comm, epochs=2, batch_size=4, seed=0)
    X, y, part, popt = _small()
    fastgd.fit(part, X, y, popt, comm=comm, epochs=1, batch_size=4, seed=0)
    class StopAfter5:
        def on_batches_end(self, epoch, logs):
            return logs["batches"] >= 5
    fastgd.fit(part, X, y, popt, comm=comm, epochs=1, batch_size=4, seed=0, initial_epoch=1,
               callbacks=[StopAfter5()], callback_every=5)
    fastgd.fit(part, X, y, popt, comm=comm, epochs=1, batch_size=4, seed=0, initial_epoch=1,
               initial_batch=5)
    return {"identical": _crc(part) == _crc(model), "crc": _crc(part)}


@check
def different_initial_models_start_from_rank0s():
    X, y, model, opt = _small()
    model.initialize(seed=rank)         # each rank draws its own weights
    model_root = comm.bcast(model._flat.copy())
    distributed.fit(model, X, y, opt, comm=comm, epochs=1, batch_size=8, seed=0)
    X, y, single, sopt = _small()
    single._flat[...] = model_root
    fastgd.fit(single, X, y, sopt, epochs=1, batch_size=8 * N, seed=0)
    return {"max_abs_diff": float(np.max(np.abs(model._flat - single._flat)))}


@check
def unseeded_run_agrees():
    X, y, model, opt = _small()
    h = distributed.fit(model, X, y, opt, comm=comm, epochs=1, batch_size=8)
    return {"seed": h.seed, "crc": _crc(model)}


# ------------------------------------------------------------------ failures

@check
def bad_data_on_one_rank():
    X, y, model, opt = _small()
    before = model._flat.copy()
    if rank == N - 1:
        X = X.copy()
        X[17, 2] = np.nan
    kind, msg = _outcome(lambda: distributed.fit(model, X, y, opt, comm=comm, epochs=2,
                                                 batch_size=8, seed=0))
    return {"raised": kind, "message": msg, "unchanged": bool(np.array_equal(before, model._flat))}


@check
def mismatched_arguments():
    X, y, model, opt = _small()
    b = 8 if rank == 0 else 9
    kind, msg = _outcome(lambda: distributed.fit(model, X, y, opt, comm=comm, epochs=1,
                                                 batch_size=b, seed=0))
    return {"raised": kind, "message": msg}


@check
def different_row_counts():
    X, y, model, opt = _small(n=120 if rank == 0 else 119)
    kind, msg = _outcome(lambda: distributed.fit(model, X, y, opt, comm=comm, epochs=1,
                                                 batch_size=8, seed=0))
    return {"raised": kind, "message": msg}


@check
def different_optimizer_classes():
    X, y, model, opt = _small()
    if rank == N - 1:
        opt = fastgd.SGD(model.parameters(), lr=0.1)
    kind, msg = _outcome(lambda: distributed.fit(model, X, y, opt, comm=comm, epochs=1,
                                                 batch_size=8, seed=0))
    return {"raised": kind, "message": msg}


@check
def different_dtypes():
    X, y = random_problem(120, [6, 8, 3], "softmax", seed=0)
    model = fastgd.MLP([6, 8, 3], dtype=np.float32 if rank == N - 1 else np.float64, seed=0)
    opt = fastgd.Adam(model.parameters(), lr=1e-2)
    kind, msg = _outcome(lambda: distributed.fit(model, X, y, opt, comm=comm, epochs=1,
                                                 batch_size=8, seed=0))
    return {"raised": kind, "message": msg}


@check
def error_mid_epoch_on_one_rank():
    X, y, model, opt = _small()
    original = data_parallel._Stepper._loss_and_grads
    calls = [0]

    def failing(self, idx):
        calls[0] += 1
        if rank == N - 1 and calls[0] == 7:
            raise OSError("disk read failed (simulated)")
        return original(self, idx)
    data_parallel._Stepper._loss_and_grads = failing
    try:
        kind, msg = _outcome(lambda: distributed.fit(model, X, y, opt, comm=comm, epochs=3,
                                                     batch_size=8, seed=0))
    finally:
        data_parallel._Stepper._loss_and_grads = original
    return {"raised": kind, "message": msg}


@check
def interrupt_on_one_rank_stops_all_at_one_batch():
    """Ctrl-C (a KeyboardInterrupt) on the last rank in its 7th step: every rank raises
    TrainingInterrupted at the same (epoch, batch), and resuming there is exact."""
    X, y, full, fopt = _small()
    fastgd.fit(full, X, y, fopt, comm=comm, epochs=2, batch_size=4, seed=0)
    X, y, model, opt = _small()
    original = data_parallel._Stepper._loss_and_grads
    calls = [0]

    def interrupted(self, idx):
        calls[0] += 1
        if rank == N - 1 and calls[0] == 7:
            raise KeyboardInterrupt
        return original(self, idx)
    data_parallel._Stepper._loss_and_grads = interrupted
    try:
        fastgd.fit(model, X, y, opt, comm=comm, epochs=2, batch_size=4, seed=0)
        return {"raised": None}
    except fastgd.TrainingInterrupted as e:
        where = (e.epoch, e.batch)
    finally:
        data_parallel._Stepper._loss_and_grads = original
    fastgd.fit(model, X, y, opt, comm=comm, epochs=2 - where[0], batch_size=4, seed=0,
               initial_epoch=where[0], initial_batch=where[1])
    return {"raised": "TrainingInterrupted", "where": list(where),
            "resumed_exactly": _crc(model) == _crc(full)}


@check
def nonfinite_loss_everywhere():
    X, y = random_problem(120, [6, 8, 2], "linear", seed=0, target_scale=1e3)
    model = fastgd.MLP([6, 8, 2], output="linear", dtype=np.float64, seed=0)
    opt = fastgd.SGD(model.parameters(), lr=10.0)
    try:
        distributed.fit(model, X, y, opt, comm=comm, epochs=3, batch_size=8, seed=0)
        return {"raised": None}
    except fastgd.NonFiniteLossError as e:
        return {"raised": "NonFiniteLossError", "epoch": e.epoch, "batch": e.batch,
                "crc": _crc(model), "finite": bool(np.isfinite(model._flat).all())}


@check
def refuses_custom_loss():
    X, y, model, opt = _small()
    kind, msg = _outcome(lambda: distributed.fit(
        model, X, y, opt, comm=comm, epochs=1, batch_size=8, loss=lambda z, t: (0.0, z)))
    return {"raised": kind, "message": msg}


@check
def still_in_step_after_failures():
    X, y, model, opt = _small()
    distributed.fit(model, X, y, opt, comm=comm, epochs=1, batch_size=8, seed=0)
    return {"crc": _crc(model)}


# ------------------------------------------------------------------ sweep

@check
def sweep_over_ranks():
    X, y = random_problem(200, [6, 16, 3], "softmax", seed=0)
    val = random_problem(60, [6, 16, 3], "softmax", seed=1)
    grid = {"lr": [1e-2, 1e-1, 0.3], "optimizer": ["sgd", "adam"]}
    fixed = dict(layer_sizes=[6, 16, 3], epochs=2, batch_size=16, seed=0)
    r = fastgd.sweep(grid, X, y, validation_data=val, comm=comm, **fixed)
    local = fastgd.sweep(grid, X, y, validation_data=val, client=False, n_threads=1, **fixed)
    return {"backend": r.backend, "best_index": r.best_index,
            "local_best_index": local.best_index, "threads": r.threads_per_fit,
            "max_loss_diff": max(abs(a["val_loss"] - b["val_loss"])
                                 for a, b in zip(r.rows, local.rows)),
            "crc": _crc(r.best_model), "local_crc": _crc(local.best_model)}


# ------------------------------------------------------------------ dead rank

def dead(mode):
    X, y, model, opt = _small(n=400)
    original = data_parallel._Stepper._loss_and_grads
    calls = [0]

    def dying(self, idx):
        calls[0] += 1
        if rank == 1 and calls[0] == 70:     # inside the second epoch (50 steps each)
            os.kill(os.getpid(), signal.SIGKILL if mode == "kill" else signal.SIGSTOP)
        return original(self, idx)
    data_parallel._Stepper._loss_and_grads = dying
    distributed.fit(model, X, y, opt, comm=comm, epochs=5, batch_size=4, seed=0, timeout=3)
    print(f"rank {rank} finished", flush=True)


def main():
    out_path = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "dead":
        dead(sys.argv[3])
        return
    results = {}
    for name, fn in CHECKS.items():
        try:
            results[name] = {"ok": True, "value": fn()}
        except Exception:
            results[name] = {"ok": False, "error": traceback.format_exc()}
        comm.Barrier()
    every = comm.gather(results)
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump({"size": N, "ranks": every}, f, default=str)


if __name__ == "__main__":
    main()
