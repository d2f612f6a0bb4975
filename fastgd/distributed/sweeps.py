"""``fastgd.sweep``: independent fits over a parameter grid, on Dask, over MPI, or here.

Design: a sweep point is a dict of plain values (names below), so it pickles to any
worker and reads as a row of the result table. Each point builds its own model, optimizer
and schedule and runs ``fastgd.fit`` with a thread team sized so the workers of one host
never together start more threads than the host has cores: with Dask, a host's cores over
its workers' task slots (a LocalCluster by default: one single-slot worker process per
core, or per point when there are fewer points); over MPI, a host's cores over its ranks
(points go round-robin to ranks); in this process (``client=False``, or when Dask is not
installed), fastgd's usual thread count. X and y go to each Dask worker once
(``scatter(broadcast=True)``), not once per point. Each point returns its row and its
flat parameters; the driver keeps only the best point's.

Point names: model ``layer_sizes`` (required), ``activation``, ``output``, ``init``,
``alpha``, ``dtype``, ``model_seed``; training ``epochs`` and ``batch_size`` (required),
``seed``, ``shuffle``, ``drop_last``; ``optimizer`` (a name such as ``"adam"`` or a
fastgd optimizer class; default Adam), ``lr`` and ``optimizer__<arg>`` for its other
arguments; ``schedule`` (a name such as ``"ExponentialDecay"`` or a class; default none)
and ``schedule__<arg>``.
"""
import itertools
import math
import numbers
import time
from dataclasses import dataclass, field

from fastgd.distributed import _comm

MODEL_KEYS = ("layer_sizes", "activation", "output", "init", "alpha", "dtype", "model_seed")
FIT_KEYS = ("epochs", "batch_size", "seed", "shuffle", "drop_last")
OTHER_KEYS = ("optimizer", "lr", "schedule")
SCORES = {"loss": "min", "val_loss": "min", "val_metric": "max"}


@dataclass
class SweepResult:
    """``rows``: one dict per point (its parameters, then loss, val_loss, val_metric,
    seconds, samples_per_s, error), in grid order; ``frame`` the same as a pandas
    DataFrame. ``best_model`` is the fitted model of the best point by ``score``."""
    rows: list
    score: str
    best_index: int
    best_params: dict
    best_model: object
    backend: str
    threads_per_fit: list = field(default_factory=list)

    @property
    def frame(self):
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("SweepResult.frame needs pandas (pip install pandas); "
                              "SweepResult.rows holds the same table") from e
        return pd.DataFrame(self.rows)

    @property
    def best_score(self):
        return self.rows[self.best_index][self.score] if self.best_index >= 0 else math.nan


def grid_points(grid, fixed=None):
    """The sweep's points: the Cartesian product of a dict of lists (or the union of the
    products of a list of such dicts), each merged over ``fixed``."""
    fixed = dict(fixed or {})
    grids = [grid] if isinstance(grid, dict) else list(grid) if isinstance(grid, (list, tuple)) \
        else None
    if grids is None or not all(isinstance(g, dict) for g in grids):
        raise TypeError("grid: expected a dict of lists, or a list of such dicts")
    points = []
    for g in grids:
        for key, values in g.items():
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise TypeError(f"grid[{key!r}]: expected a list of values, got {values!r}")
        keys = list(g)
        for combo in itertools.product(*(list(g[k]) for k in keys)):
            points.append({**fixed, **dict(zip(keys, combo))})
    if not points:
        raise ValueError("grid: has no points")
    for p in points:
        _check_point(p)
    return points


def _check_point(p):
    known = set(MODEL_KEYS) | set(FIT_KEYS) | set(OTHER_KEYS)
    for key in p:
        if key not in known and not key.startswith(("optimizer__", "schedule__")):
            raise ValueError(f"grid: unknown parameter {key!r}; known: {sorted(known)}, "
                             "optimizer__<arg>, schedule__<arg>")
    for key in ("layer_sizes", "epochs", "batch_size"):
        if key not in p:
            raise ValueError(f"grid: every point needs {key!r} (in the grid or as a keyword)")


def sweep(grid, X, y, *, validation_data=None, score=None, client=None, comm=None,
          n_threads=None, **fixed):
    """Fit one model per grid point; returns a :class:`SweepResult`.

    grid: ``{"batch_size": [32, 128], "optimizer": ["sgd", "adam"], ...}`` (or a list of
    such dicts); keywords not in the grid hold for every point (e.g. ``layer_sizes=``,
    ``epochs=``). score: ``"val_loss"`` (the default with validation data), ``"loss"``
    (the default without) or ``"val_metric"`` -- the last epoch's; the best point has the
    lowest (highest for val_metric). client: a ``dask.distributed.Client``; None uses a
    LocalCluster when Dask is installed and this process otherwise; False always this
    process. comm: an mpi4py communicator: the points are split over its ranks, every rank
    calls sweep and gets the whole result. n_threads: fastgd threads per fit (default: the
    cores shared out as above).
    """
    points = grid_points(grid, fixed)
    score = score or ("val_loss" if validation_data is not None else "loss")
    if score not in SCORES:
        raise ValueError(f"score: expected one of {sorted(SCORES)}, got {score!r}")
    if score.startswith("val") and validation_data is None:
        raise ValueError(f"score: {score!r} needs validation_data")
    if comm is not None:
        outcomes = _over_mpi(points, X, y, validation_data, comm, n_threads, score)
        backend = "mpi"
    elif client is False or (client is None and not _have_dask()):
        outcomes = [_fit_point(p, X, y, validation_data, n_threads) for p in points]
        backend = "local"
    else:
        outcomes, backend = _on_dask(points, X, y, validation_data, client, n_threads), "dask"
    return _result(points, outcomes, score, backend)


def _best_index(rows, score):
    """The point with the lowest score (highest for val_metric); -1 if none is finite."""
    sign = -1.0 if SCORES[score] == "max" else 1.0
    best, best_value = -1, math.inf
    for i, row in enumerate(rows):
        v = row.get(score)
        if v is not None and math.isfinite(v) and sign * v < best_value:
            best, best_value = i, sign * v
    return best


def _result(points, outcomes, score, backend):
    rows = [row for row, _ in outcomes]
    best = _best_index(rows, score)
    model = None
    if best >= 0:
        model = _build_model(points[best])
        model._flat[...] = outcomes[best][1]
    return SweepResult(rows=rows, score=score, best_index=best,
                       best_params=dict(points[best]) if best >= 0 else None,
                       best_model=model, backend=backend,
                       threads_per_fit=[row["threads"] for row in rows])


# --------------------------------------------------------------------------- one point

def _build_model(p):
    from fastgd.model.mlp import MLP
    kw = {k: p[k] for k in ("activation", "output", "init", "alpha", "dtype") if k in p}
    return MLP(p["layer_sizes"], seed=p.get("model_seed", 0), **kw)


def _named(value, module, base, what):
    if isinstance(value, str):
        lowered = {name.lower(): c for name in dir(module)
                   for c in [getattr(module, name)]
                   if isinstance(c, type) and issubclass(c, base) and c is not base}
        try:
            return lowered[value.lower()]
        except KeyError:
            raise ValueError(f"{what}: no {what} named {value!r}") from None
    return value


def _build(p):
    import fastgd
    from fastgd import schedules
    from fastgd.schedules._base import LRScheduler as _LRScheduler
    model = _build_model(p)
    opt_cls = _named(p.get("optimizer", "adam"), fastgd.optim, fastgd.Optimizer, "optimizer")
    opt_kw = {k[len("optimizer__"):]: v for k, v in p.items() if k.startswith("optimizer__")}
    if "lr" in p:
        opt_kw["lr"] = p["lr"]
    optimizer = opt_cls(model.parameters(), **opt_kw)
    sched = p.get("schedule")
    if sched is not None:
        sched_kw = {k[len("schedule__"):]: v for k, v in p.items() if k.startswith("schedule__")}
        sched = _named(sched, schedules, _LRScheduler, "schedule")(optimizer, **sched_kw)
    return model, optimizer, sched


def _fit_point(p, X, y, validation_data, n_threads):
    """Build and fit one point: (row, flat parameters or None)."""
    import fastgd
    row = {k: (v if isinstance(v, (numbers.Number, str, bool, type(None))) else
               getattr(v, "__name__", str(v))) for k, v in p.items()}
    row.update(loss=math.nan, val_loss=math.nan, val_metric=math.nan, seconds=math.nan,
               samples_per_s=math.nan, threads=n_threads, error=None)
    try:
        model, optimizer, sched = _build(p)
        t0 = time.perf_counter()
        h = fastgd.fit(model, X, y, optimizer, schedule=sched, n_threads=n_threads,
                       validation_data=validation_data,
                       **{k: p[k] for k in FIT_KEYS if k in p})
        row["seconds"] = time.perf_counter() - t0
        row.update(loss=h.loss[-1] if len(h) else math.nan,
                   samples_per_s=h.samples_per_second, epochs_run=len(h))
        if validation_data is not None and len(h):
            row.update(val_loss=h.val_loss[-1], val_metric=h.val_metric[-1])
        row["threads"] = fastgd.get_num_threads() if n_threads is None else n_threads
        return row, model._flat.copy()
    except Exception as e:
        row["error"] = _comm.describe(e)
        return row, None


# --------------------------------------------------------------------------- backends

def _have_dask():
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return False
    return True


def _on_dask(points, X, y, validation_data, client, n_threads):
    from dask.distributed import Client, LocalCluster
    own = None
    if client is None:
        workers = max(1, min(_comm.cores(), len(points)))
        own = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
        client = Client(own)
    elif not isinstance(client, Client):
        raise TypeError(f"client: expected a dask.distributed.Client, None or False, got "
                        f"{type(client).__name__}")
    try:
        workers = client.scheduler_info()["workers"]
        per_host = {}
        for info in workers.values():
            per_host[info["host"]] = per_host.get(info["host"], 0) + info["nthreads"]
        # each worker's task slots plus those of the other workers on its host
        slots = {addr: per_host[info["host"]] for addr, info in workers.items()}
        data = client.scatter([X, y, validation_data], broadcast=True)
        futures = [client.submit(_dask_point, p, *data, slots, n_threads, pure=False)
                   for p in points]
        return client.gather(futures)
    finally:
        if own is not None:
            client.close()
            own.close()


def _dask_point(p, X, y, validation_data, slots, n_threads):
    if n_threads is None:
        from dask.distributed import get_worker
        n_threads = max(1, _comm.cores() // max(1, slots.get(get_worker().address, 1)))
    return _fit_point(p, X, y, validation_data, n_threads)


def _over_mpi(points, X, y, validation_data, comm, n_threads, score):
    group = _comm.Group(comm)
    _, hosts = group.exchange([0], _comm.host_name(), "sweep start-up")
    if n_threads is None:
        n_threads = max(1, _comm.cores() // group.local_size(hosts))
    mine = {i: _fit_point(p, X, y, validation_data, n_threads)
            for i, p in enumerate(points) if i % group.size == group.rank}
    rows = {}
    for part in comm.allgather({i: row for i, (row, _) in mine.items()}):
        rows.update(part)
    rows = [rows[i] for i in range(len(points))]
    # only the best point's parameters travel, from the rank that fitted it
    best = _best_index(rows, score)
    flat = None
    if best >= 0:
        owner = best % group.size
        flat = comm.bcast(mine[best][1] if group.rank == owner else None, root=owner)
    return [(row, flat if i == best else None) for i, row in enumerate(rows)]
