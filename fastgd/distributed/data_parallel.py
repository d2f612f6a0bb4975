"""Synchronous data-parallel training over MPI: ``fastgd.fit(..., comm=MPI.COMM_WORLD)``.

Design: every rank holds the same model, optimizer and data (an array or a memmap of one
file) and walks the same global batches: epoch e's order is
``batching.epoch_order(n, seed, e)`` and global batch j is rows ``[j·G, (j+1)·G)`` of it,
``G = size × batch_size``. Rank r takes the r-th of ``size`` near-equal slices of each
global batch (all ``batch_size`` rows for a full batch; a partial last batch of m rows is
split ``m·r//size ... m·(r+1)//size``, so no rank idles while another does two shares),
so the ranks' slices together are exactly the single-process batch. Per step, on each
rank:

1. the engine's ``loss_and_grads`` on the rank's rows -> mean gradient of those rows in the
   model's one flat gradient buffer (``model._grad_flat``), times ``rows_r / m``;
2. one ``Iallreduce(SUM)`` of that whole buffer, in place (no per-layer messages; 4 bytes
   per float32 parameter), so every rank holds the global batch's mean gradient;
3. the optimizer's ``step`` on the model's parameters: the same update on every rank.

That is per-batch Python, like fit's fallback path (~10-20 µs a step beside the engine's
work; measured in benchmarks/test_bench_distributed.py), not the C epoch loop: see
docs/DESIGN.md "Data-parallel fit" for the C-side allreduce it would take.

Failure handling is collective, so no rank is left waiting in a collective another will
never enter: arguments are checked on every rank and compared in one status exchange
before anything changes; a non-finite loss or an exception during a step makes that rank
put NaN into its gradient's first element, every rank sees it after the allreduce and
leaves the epoch at that batch (a KeyboardInterrupt is flagged the same way, and
deferred while a collective is in flight, so every rank stops after the same batch and
raises TrainingInterrupted); and once per epoch (or per ``callback_every`` chunk) one
exchange carries each rank's status, loss sum and a CRC of its parameters (which must be
equal). Every collective has a deadline (``timeout``, see _comm.py). Rank 0 is the only
rank that runs callbacks (checkpoints, loggers, early stopping: its stop decision is
broadcast) and prints; the parameters, optimizer state and schedule state are broadcast
from rank 0 at the start, so every rank may load one checkpoint, or only rank 0 need.
"""
import dataclasses
import math
import os
import pickle
import time
import zlib
from dataclasses import dataclass

import numpy as np

from fastgd import _checks, batching
from fastgd._runtime import threads as _threads
from fastgd.distributed import _comm
from fastgd.distributed._root_callbacks import RootCallbacks
from fastgd.model.mlp import MLP
from fastgd.training import train as _train
from fastgd.training.averaging import WeightAverage
from fastgd.training.fitcall import prepare_fit

# fit features that data-parallel training refuses, with the reason
_REFUSED = {
    "loss": "a custom loss: the gradient of a user function cannot be sliced and "
            "rescaled safely (only mean losses would be); use the model's own loss",
}


@dataclass
class CommStats:
    """What a data-parallel fit spent, per rank (``History.comm``)."""
    ranks: int
    threads_per_rank: int
    rows_per_rank: int          # the per-rank batch size
    global_batch: int
    steps: int = 0
    bytes_per_step: int = 0     # the allreduced gradient buffer
    compute_seconds: float = 0.0     # gather + forward/backward + scale + optimizer step
    allreduce_seconds: float = 0.0   # waiting in the gradient allreduce
    exchange_seconds: float = 0.0    # per-epoch status exchanges and callback broadcasts

    @property
    def allreduce_us_per_step(self):
        return 1e6 * self.allreduce_seconds / max(self.steps, 1)


def data_parallel_fit(model, X, y, optimizer, *, comm, epochs, batch_size, shuffle=True,
                      seed=None, schedule=None, callbacks=(), validation_data=None,
                      verbose=0, drop_last=False, loss=None, initial_epoch=0,
                      initial_batch=0, n_threads=None, callback_every=None,
                      validation_split=None, train_metric=False, timeout=None,
                      on_timeout="abort", **unsupported):
    """``fastgd.fit`` over the ranks of ``comm``; every rank calls it with the same
    arguments. ``batch_size`` is per rank: the global batch is ``comm.size × batch_size``,
    and the parameters after k epochs are those of ``fastgd.fit`` with that batch (to
    rounding: ≤ 1e-10 in float64 is tested for 1, 2 and 3 ranks). Returns the History on
    every rank (identical numbers; ``History.comm`` holds this rank's CommStats).

    Supported: every optimizer (param groups too), per-epoch and per-batch schedules and
    ReduceLROnPlateau (stepped with the global loss), L2 (``alpha``), validation data and
    ``validation_split``, ``train_metric``, ``drop_last``, ``shuffle``, ``initial_epoch`` and ``initial_batch`` (global batches),
    ``callback_every`` and callbacks (run on rank 0 only; a True from one stops every
    rank); a KeyboardInterrupt on any rank during a step stops every rank after the same
    batch (TrainingInterrupted everywhere). Refused with a clear error: a custom
    ``loss``, weight averaging (``ema``, ``average``, ``final_average``), clipping
    (``clip_norm``, ``clip_value``) and any fit option not listed here (e.g. sample
    weights, when fit has them) until data-parallel fit implements it.
    n_threads: per rank; by default the host's cores divided by the ranks on that host.
    timeout: seconds any collective may wait for the other ranks (default 300, or
    ``FASTGD_MPI_TIMEOUT``); then ``on_timeout="abort"`` ends the MPI job (MPI_Abort,
    after printing why) and ``"raise"`` raises PeerTimeoutError.
    """
    if isinstance(train_metric, str) and train_metric == "running":
        train_metric = False   # fit's default: the running metric is the C loop's; here only
                               # on request (True: a pass over the rows at each epoch's end)
    group = _comm.Group(comm, timeout, on_timeout)
    seed = _agree_seed(group, seed)
    error, run, refused = None, None, _refusals(loss, unsupported)
    try:   # every rank checks its arguments; the verdicts are compared below
        if refused:
            raise NotImplementedError(f"fit(comm=...): {refused}")
        if not isinstance(model, MLP):
            raise TypeError(f"model: expected a fastgd.MLP, got {type(model).__name__}")
        b = _checks.integer(batch_size, "batch_size", low=1)
        if n_threads is not None:
            n_threads = _threads.resolve(n_threads)
        run = prepare_fit(model, X, y, optimizer, epochs=epochs, batch_size=b * group.size,
                          shuffle=shuffle, seed=seed, schedule=schedule, callbacks=callbacks,
                          validation_data=validation_data, verbose=verbose,
                          drop_last=drop_last, initial_epoch=initial_epoch,
                          initial_batch=initial_batch, callback_every=callback_every,
                          validation_split=validation_split, train_metric=train_metric)
    except Exception as e:
        error = e
    run = _agree(group, run, error)
    n_threads = _threads_per_rank(group, n_threads)
    error = None
    try:
        _sync_from_root(group, model, optimizer, schedule)
    except Exception as e:   # e.g. another optimizer class than rank 0's
        error = e
    nums, texts = group.exchange([error is not None],
                                 _comm.describe(error) if error is not None else "",
                                 "start-up state check")
    group.raise_failures(texts, nums[:, 0], error, "fit(comm=...): loading rank 0's state: ")
    stats = CommStats(ranks=group.size, threads_per_rank=n_threads,
                      rows_per_rank=run.batch_size // group.size, global_batch=run.batch_size,
                      bytes_per_step=model._grad_flat.nbytes)
    run = dataclasses.replace(run, callbacks=(RootCallbacks(group, run.callbacks, stats),),
                              verbose=run.verbose if group.rank == 0 else 0)
    step = _Stepper(group, model, optimizer, run, n_threads, stats)
    # the optimizer's step runs with the rank's team too (its default is every core: with
    # several ranks a host, oversubscribed -- measured 24 ms instead of ~0.2 ms a step)
    own_threads = hasattr(optimizer, "n_threads")
    if own_threads:
        saved_threads, optimizer.n_threads = optimizer.n_threads, n_threads
    try:
        with _threads.single_threaded_blas():
            history = _train.run_epochs(run, step.runner, fast_path=False,
                                        avg=WeightAverage(run))   # refused: inactive
    finally:
        if own_threads:
            optimizer.n_threads = saved_threads
    history.comm = stats
    return history


def _refusals(loss, unsupported):
    """Why this call cannot run data-parallel ('' if it can): a custom loss, or any other
    fit option (``fastgd.fit`` passes all of its own) set to other than fit's default."""
    import inspect
    reasons = []
    if loss is not None:
        reasons.append(_REFUSED["loss"])
    defaults = {name: p.default for name, p in
                inspect.signature(_train.fit).parameters.items()}
    for name, value in sorted(unsupported.items()):
        if name not in defaults:
            reasons.append(f"{name}= is not an argument of fit")
        elif not _is_default(value, defaults[name]):
            reasons.append(f"{name}= is not supported by data-parallel fit yet")
    return "; ".join(reasons)


def _is_default(value, default):
    if value is default:
        return True
    plain = (bool, int, float, str, type(None))
    return isinstance(value, plain) and type(value) is type(default) and value == default


# --------------------------------------------------------------------------- start-up

_AGREE = ("n", "n_features", "batch_size", "epochs", "initial_epoch", "initial_batch",
          "shuffle", "drop_last", "n_params", "dtype size", "seed", "seed",
          "callback_every", "validation rows")


def _agree_seed(group, seed):
    """The seed every rank uses: its own if every rank passed one (compared later, with
    the other arguments), rank 0's fresh one if none did -- agreed before the data is
    split, since validation_split draws its rows from the seed."""
    given = seed is not None
    ok = given and isinstance(seed, int) and not isinstance(seed, bool) and \
        0 <= seed < 2 ** 63
    mine = seed if ok else batching.new_seed()
    nums, _ = group.exchange([given, mine >> 32, mine & 0xFFFFFFFF], "", "seed agreement")
    if not nums[:, 0].any():
        return (int(nums[0, 1]) << 32) | int(nums[0, 2])
    if not nums[:, 0].all():
        raise ValueError("fit(comm=...): every rank must pass the same seed, or none "
                         "(then all take rank 0's); seed given on ranks "
                         + ", ".join(str(r) for r in np.flatnonzero(nums[:, 0])))
    return seed


def _agree(group, run, error):
    """One exchange: every rank's verdict on its arguments and the numbers that must match.
    Any failure or mismatch raises on every rank, before anything is changed."""
    if run is not None:
        vals = [0, run.n, run.X.shape[1], run.batch_size // group.size, run.epochs,
                run.initial_epoch, run.initial_batch, run.shuffle, run.drop_last,
                run.model.n_params, run.model.dtype.itemsize, run.seed >> 32,
                run.seed & 0xFFFFFFFF, run.callback_every or 0,
                -1 if run.val is None else len(run.val[0])]
    else:
        vals = [1] + [0] * len(_AGREE)
    text = _comm.describe(error) if error is not None else _comm.host_name()
    nums, texts = group.exchange(vals, text, "start-up check")
    group.raise_failures(texts, nums[:, 0], error, "fit(comm=...): ")
    for k, name in enumerate(_AGREE, start=1):
        if not np.all(nums[:, k] == nums[0, k]):
            shown = ", ".join(f"rank {r}: {v:g}" for r, v in enumerate(nums[:, k]))
            raise ValueError(f"fit(comm=...): every rank must pass the same {name} "
                             f"({shown})")
    group.hosts = texts
    return run


def _threads_per_rank(group, n_threads):
    if n_threads is not None or _threads._override is not None:
        return _threads.resolve(n_threads)
    if os.environ.get("OMP_NUM_THREADS"):
        return _threads.resolve(None)
    # one team per rank, never more threads on a host than it has cores: a rank bound to
    # a subset of the cores (srun --cpus-per-task, mpiexec -bind-to) gets that subset,
    # unbound ranks share the host's cores
    mine, host = _comm.cores(), os.cpu_count() or 1
    return mine if mine < host else max(1, host // group.local_size(group.hosts))


def _sync_from_root(group, model, optimizer, schedule):
    """Rank 0's parameters, optimizer state and schedule state on every rank."""
    group.bcast_array(model._flat, 0, "parameter broadcast")
    state = pickle.dumps((optimizer.state_dict() if hasattr(optimizer, "state_dict") else None,
                          schedule.state_dict() if schedule is not None else None)) \
        if group.rank == 0 else b""
    state = pickle.loads(group.bcast_bytes(state, 0, "optimizer state broadcast"))
    if group.rank != 0:
        if state[0] is not None:
            optimizer.load_state_dict(state[0])
        if state[1] is not None:
            schedule.load_state_dict(state[1])


# --------------------------------------------------------------------------- the steps

class _Stepper:
    """The runner run_epochs calls for batches [b0, b1) of an epoch."""

    def __init__(self, group, model, optimizer, run, n_threads, stats):
        self.group, self.model, self.optimizer, self.run, self.stats = \
            group, model, optimizer, run, stats
        self.per_rank = run.batch_size // group.size
        self.engine = model._engine(min(self.per_rank, run.n), n_threads)
        self.grad = model._grad_flat
        by_id = {id(p): g for p, g in zip(model.parameters(), model._grads)}
        self.grads = [by_id[id(p)] for g in optimizer.param_groups for p in g["params"]]
        self.pending = None     # an exception not yet reported to the other ranks
        self.interrupt = None   # a KeyboardInterrupt, likewise

    def runner(self, order, b0, b1, lrs):
        group, run, grad, stats = self.group, self.run, self.grad, self.stats
        G, n, size, rank = run.batch_size, run.n, group.size, group.rank
        loss_sum, rows, bad = 0.0, 0, -1
        nonfinite = False
        perf = time.perf_counter
        for b in range(b0, b1):
            t0 = perf()
            start = b * G
            m = min(G, n - start)
            idx = order[start + m * rank // size:start + m * (rank + 1) // size]
            flag = self.pending is not None
            if not flag:
                try:
                    if lrs is not None:
                        for pg, lr in zip(self.optimizer.param_groups, lrs[b]):
                            pg["lr"] = lr
                    if len(idx):
                        local = self._loss_and_grads(idx)
                        if math.isfinite(local):
                            if len(idx) != m:      # a share of the batch (not 1 rank)
                                grad *= len(idx) / m
                            loss_sum += local * len(idx)
                            rows += len(idx)
                        else:
                            flag = nonfinite = True
                    else:
                        grad.fill(0)
                except Exception as e:
                    self.pending, flag = e, True
                except KeyboardInterrupt as e:   # stop every rank at this batch
                    self.interrupt, flag = e, True
            flag = flag or self.interrupt is not None
            if flag:
                grad[0] = np.nan
            t1 = perf()
            try:
                group.allreduce_sum(grad)
            except KeyboardInterrupt as e:       # the allreduce completed (deferred)
                self.interrupt = e               # apply this step; flag the next
            t2 = perf()
            stats.compute_seconds += t1 - t0
            stats.allreduce_seconds += t2 - t1
            if grad[0] != grad[0]:      # some rank flagged, or the gradient is NaN there
                bad = b
                break
            try:
                self.optimizer.step(self.grads)
            except Exception as e:
                self.pending = e        # reported by the next allreduce or the exchange
            except KeyboardInterrupt as e:
                self.interrupt = e      # fastgd's step is one C call: applied or not yet
            stats.compute_seconds += perf() - t2
            stats.steps += 1
        return self._epoch_status(loss_sum, rows, bad, nonfinite, b0, b1)

    def _loss_and_grads(self, idx):
        run = self.run
        Xb = run.X[idx]
        labels = run.labels[idx] if run.labels is not None else None
        Y = run.Y[idx] if run.Y is not None else None
        return self.engine.loss_and_grads(Xb, labels, Y)

    def _epoch_status(self, loss_sum, rows, bad, nonfinite, b0, b1):
        """The collective check after every chunk of batches [b0, b1)."""
        t0 = time.perf_counter()
        code = 2 if self.pending is not None else 3 if self.interrupt is not None else 0
        crc = zlib.crc32(self.model._flat.view(np.uint8)) if code == 0 else 0
        text = _comm.describe(self.pending) if self.pending is not None else ""
        nums, texts = self.group.exchange([code, loss_sum, rows, crc, nonfinite], text,
                                          "per-epoch status check")
        self.stats.exchange_seconds += time.perf_counter() - t0
        own, self.pending = self.pending, None
        codes = nums[:, 0]
        self.group.raise_failures(texts, codes * (codes != 3), own, "fit(comm=...): ")
        if np.any(codes == 3):
            # Ctrl-C on any rank: every rank stops after the same applied batches and lets
            # run_epochs make history, schedule and state agree, then TrainingInterrupted
            who = ", ".join(str(r) for r in np.flatnonzero(codes == 3))
            cause, self.interrupt = self.interrupt, None
            if cause is None:
                cause = KeyboardInterrupt(f"rank(s) {who} interrupted")
            done = (bad if bad >= 0 else b1) - b0
            raise _train._Interrupted(cause, done, float(sum(nums[:, 1])),
                                      int(sum(nums[:, 2])))
        if bad < 0 and not np.all(nums[:, 3] == nums[0, 3]):
            raise RuntimeError("fit(comm=...): the ranks' parameters differ after the same "
                               "steps (CRCs " + ", ".join(f"{int(c):08x}" for c in nums[:, 3])
                               + "); is every rank running the same fastgd build?")
        # the global loss sum, added in rank order on every rank: the same number everywhere
        return float(sum(nums[:, 1])), int(sum(nums[:, 2])), bad
