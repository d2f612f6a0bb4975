"""Checkpoints: ``fastgd.save`` / ``fastgd.load``, one .npz holding a model, its optimizer,
schedule, History, fit's running weight average and where training stood, so that
``fit(..., initial_epoch=ckpt.epoch)`` continues bit for bit as if it had never stopped.

Design: the state is each object's own (``MLP``'s model-file entries, ``state_dict()`` of
the optimizer and the schedule, History's fields), so a checkpoint, a pickle and a
hand-rolled ``load_state_dict`` resume agree. The file (format version 2 when it holds a
weight average, else 1, so older fastgd still reads what it can) holds

=========================  ===========================================================
``fastgd_checkpoint``      0-d string: a JSON header -- format, version, the model's
                           architecture, the optimizer's class, hyper-parameters and step
                           counts, the schedule's class and state, History, epoch, batch,
                           the average's mode, beta, first epoch and count (version 2),
                           ``meta``. Tuples are tagged ``{"__tuple__": [...]}``; floats are
                           written with ``repr``, so every rate and product reads back
                           exactly
model entries              ``layer_sizes``, ``activation``, ``output``, ``alpha``,
                           ``dtype``, ``params``: a model file's, so ``MLP.load`` and
                           ``fastgd predict`` read a checkpoint as a model
``optimizer.<i>.<name>``   state array ``name`` of the optimizer's parameter ``i``
``average.weights``        the running average, raw and flat (version 2)
=========================  ===========================================================

Loading runs no code (no pickle; the classes are looked up by name among fastgd's own) and
goes through :class:`fastgd._runtime.npzio.NpzReader`: every size is checked against the
architecture and against the bytes the file holds before anything is allocated, and any
problem -- truncated, bit-flipped, wrong version, wrong shape, hostile -- is a
``ValueError`` naming the file. Writing is atomic (temporary file, fsync, rename).
"""
import copy
import dataclasses
import json
import math
import os

import numpy as np

from fastgd import _checks
from fastgd import schedules as _schedules
from fastgd._runtime.npzio import NpzReader, write_npz
from fastgd.model.mlp import MLP
from fastgd.optim.base import Optimizer
from fastgd.optim.rules import OPTIMIZERS
from fastgd.schedules._base import ClosedFormScheduler, LRScheduler
from fastgd.reference.average import MODES as _AVERAGE_MODES
from fastgd.training.history import AverageState, History

__all__ = ["save", "load", "Checkpoint", "FORMAT_VERSION"]

FORMAT = "fastgd-checkpoint"
FORMAT_VERSION = 2            # 2: a weight average; files without one are still written as 1
_HEADER = "fastgd_checkpoint"
_MAX_HEADER_CHARS = 64 << 20


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """What :func:`load` returns.

    ``model``: the MLP. ``optimizer``: rebuilt on ``model.parameters()`` (None if none was
    saved). ``schedule``: rebuilt on that optimizer; None when none was saved or when it
    holds a user function (``LambdaLR``, a class outside fastgd.schedules) -- then build it
    on ``optimizer`` yourself and ``load_state_dict(schedule_state)``. ``history``: the
    History saved (None if none). ``epoch``: epochs completed, the ``initial_epoch`` to
    resume with. ``batch``: batches of epoch ``epoch`` already applied (None: the epoch
    had not started). ``average``: fit's running weight average (an AverageState, for
    ``fit(..., initial_average=)``; None if none was saved). ``meta``: the keyword
    arguments given to :func:`save`.
    """
    model: MLP
    optimizer: Optimizer = None
    schedule: LRScheduler = None
    history: History = None
    epoch: int = 0
    batch: int = None
    meta: dict = dataclasses.field(default_factory=dict)
    schedule_state: dict = None
    path: str = None
    average: AverageState = None

    @property
    def seed(self):
        """The shuffling seed of the saved run (``meta["seed"]``, else History's)."""
        if "seed" in self.meta:
            return self.meta["seed"]
        return None if self.history is None else self.history.seed


# ----------------------------------------------------------------------------- save

def save(path, model, optimizer=None, schedule=None, history=None, *, epoch=None,
         batch=None, average=None, **meta):
    """Write a checkpoint to ``path`` (``.npz`` appended when missing) atomically; returns
    the path written.

    ``optimizer`` must be one of fastgd's optimizer classes built on ``model.parameters()``;
    ``schedule`` a fastgd schedule attached to it. ``epoch``: epochs completed (default:
    one past History's last epoch, else 0); ``batch``: for a state saved mid-epoch, the
    batches of epoch ``epoch`` already applied (default: from ``history.stopped_at`` when
    training stopped mid-epoch). Resume with ``fit(..., initial_epoch=ckpt.epoch,
    initial_batch=ckpt.batch or 0)``. ``average``: an AverageState of fit's weight
    average (default: ``history.average_state``, so a History from a fit with ``ema=`` or
    ``average=`` brings it along); resume it with ``initial_average=ckpt.average``.
    ``meta``: plain data (numbers, strings,
    lists, dicts) kept in the file, e.g. ``seed=``, read back as ``Checkpoint.meta``.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a fastgd.MLP, got {type(model).__name__}")
    if optimizer is not None and type(optimizer) not in OPTIMIZERS.values():
        raise TypeError(f"optimizer: expected one of fastgd's optimizers "
                        f"({', '.join(OPTIMIZERS)}), got {type(optimizer).__name__}; save "
                        "its state_dict() yourself")
    if schedule is not None:
        if not isinstance(schedule, LRScheduler):
            raise TypeError(f"schedule: expected a fastgd schedule, got "
                            f"{type(schedule).__name__}")
        if optimizer is None or schedule.optimizer is not optimizer:
            raise ValueError("schedule: must be attached to the optimizer saved with it")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history: expected a fastgd History, got {type(history).__name__}")
    if average is None and history is not None:
        average = history.average_state
    if average is not None:
        _check_average(average, model)
    if epoch is None and history is not None and history.stopped_at is not None:
        epoch, batch = history.stopped_at if batch is None else (history.stopped_at[0], batch)
    if epoch is None:
        epoch = history.epoch[-1] + 1 if history is not None and history.epoch else 0
    epoch = _count(epoch, "epoch")
    batch = None if batch is None else _count(batch, "batch")
    header = {"format": FORMAT, "version": 1 if average is None else 2,
              "model": model._config(),
              "optimizer": None, "schedule": None, "history": None, "epoch": epoch,
              "batch": batch, "meta": _encode(meta, "meta")}
    arrays = model._file_arrays()
    if optimizer is not None:
        header["optimizer"] = _optimizer_header(model, optimizer, arrays)
    if schedule is not None:
        header["schedule"] = _schedule_header(schedule)
    if history is not None:
        header["history"] = _encode(dataclasses.asdict(history), "history")
    if average is not None:
        header["average"] = {"mode": average.mode, "beta": float(average.beta),
                             "first": int(average.first), "count": int(average.count)}
        arrays["average.weights"] = average.weights
    arrays[_HEADER] = np.array(json.dumps(header))
    return write_npz(path, arrays)


def _count(v, name):
    return _checks.integer(v, name, low=0)


def _check_average(average, model):
    if not isinstance(average, AverageState):
        raise TypeError(f"average: expected an AverageState (History.average_state), got "
                        f"{type(average).__name__}")
    n = model._flat.size
    w = average.weights
    if not isinstance(w, np.ndarray) or w.dtype != model.dtype or w.shape != (n,):
        raise ValueError(f"average.weights: expected a flat {model.dtype} array of {n} "
                         f"values, got {getattr(w, 'dtype', type(w).__name__)} "
                         f"{getattr(w, 'shape', '')}")
    _average_fields(average.mode, average.beta, average.first, average.count,
                    lambda m: ValueError(f"average: {m}"))


def _optimizer_header(model, optimizer, arrays):
    index = {id(p): i for i, p in enumerate(model.parameters())}
    sd = optimizer.state_dict()
    groups = []
    for group, saved in zip(optimizer.param_groups, sd["param_groups"]):
        ids = [index.get(id(p)) for p in group["params"]]
        if None in ids:
            raise ValueError("optimizer: holds arrays that are not this model's parameters "
                             "(build it on model.parameters())")
        hyper = {k: v for k, v in saved.items() if k != "params"}
        groups.append({"params": ids, "hyper": _encode(hyper, "optimizer.param_groups")})
    state = {}
    for j, entry in sd["state"].items():
        scalars = {k: v for k, v in entry.items() if not isinstance(v, np.ndarray)}
        names = sorted(k for k, v in entry.items() if isinstance(v, np.ndarray))
        for name in names:
            arrays[f"optimizer.{j}.{name}"] = entry[name]
        state[str(j)] = {"scalars": _encode(scalars, "optimizer.state"), "arrays": names}
    return {"class": type(optimizer).__name__,
            "defaults": _encode(optimizer.defaults, "optimizer.defaults"),
            "n_threads": optimizer.n_threads, "param_groups": groups, "state": state}


def _schedule_header(schedule):
    state = schedule.state_dict()
    after = getattr(schedule, "after", None) if "after" in state else None
    own = {k: v for k, v in state.items() if k != "after"}
    return {"class": type(schedule).__name__,
            "fastgd": getattr(_schedules, type(schedule).__name__, None) is type(schedule),
            "state": _encode(own, "schedule.state_dict()"), "has_after": "after" in state,
            "after": None if after is None else _schedule_header(after)}


def _encode(obj, where):
    """Plain data for the JSON header: tuples tagged, NumPy scalars as Python ones."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, (int, float)):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, where) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, where) for v in obj]
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str) or k == "__tuple__":
                raise TypeError(f"{where}: expected string keys, got {k!r}")
            out[k] = _encode(v, f"{where}[{k!r}]")
        return out
    raise TypeError(f"{where}: expected plain data (numbers, strings, lists, tuples, "
                    f"dicts), got {type(obj).__name__}")


def _decode(obj):
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v) for v in obj["__tuple__"])
        return {k: _decode(v) for k, v in obj.items()}
    return obj


# ----------------------------------------------------------------------------- load

def load(path):
    """Read a checkpoint written by :func:`save`; returns a :class:`Checkpoint`.

    Runs no code from the file. A truncated, corrupted, hostile or wrong-version file, or
    one whose arrays do not fit its architecture, raises ``ValueError`` naming the file and
    the problem, before anything is allocated from the sizes it declares."""
    with NpzReader(path, "checkpoint") as f:
        if _HEADER not in f:
            raise f.error("has no checkpoint header (a model file? read it with MLP.load)")
        try:
            header = json.loads(f.read_str(_HEADER, _MAX_HEADER_CHARS))
        except (ValueError, RecursionError) as e:
            raise f.error(f"corrupted header: {e}") from None
        try:
            return _from_header(f, header, path)
        except (KeyError, TypeError, AttributeError, IndexError, RecursionError) as e:
            raise f.error(f"malformed header ({type(e).__name__}: {e})") from None


def _from_header(f, header, path):
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise f.error("is not a fastgd checkpoint (no format tag in its header)")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise f.error(f"format version: expected an int >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise f.error(f"format version {version} is newer than this fastgd reads "
                      f"({FORMAT_VERSION}); upgrade fastgd")
    model = MLP._from_npz(f)
    if header["model"] != model._config():
        raise f.error("the header's architecture differs from the model entries")
    optimizer = None
    if header["optimizer"] is not None:
        optimizer = _load_optimizer(f, header["optimizer"], model)
    schedule = schedule_state = None
    if header["schedule"] is not None:
        if optimizer is None:
            raise f.error("holds a schedule but no optimizer")
        schedule, schedule_state = _load_schedule(f, header["schedule"], optimizer)
    history = None
    if header["history"] is not None:
        history = _load_history(f, _decode(header["history"]))
    epoch = header["epoch"]
    batch = header["batch"]
    for name, v in (("epoch", epoch), ("batch", batch)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise f.error(f"{name}: expected an int >= 0, got {v!r}")
    if epoch is None:
        raise f.error("epoch: expected an int >= 0, got None")
    meta = _decode(header["meta"])
    if not isinstance(meta, dict):
        raise f.error(f"meta: expected a dict, got {type(meta).__name__}")
    average = None
    if header.get("average") is not None or "average.weights" in f:
        if version < 2:
            raise f.error(f"format version {version} has no weight average, but the file "
                          "holds one")
        average = _load_average(f, header.get("average"), model)
    return Checkpoint(model=model, optimizer=optimizer, schedule=schedule, history=history,
                      epoch=epoch, batch=batch, meta=meta, schedule_state=schedule_state,
                      path=None if hasattr(path, "read") else os.fspath(path),
                      average=average)


def _average_fields(mode, beta, first, count, error):
    """The average's scalars as fit makes them (raises error(message) otherwise)."""
    if not isinstance(mode, str) or mode not in _AVERAGE_MODES:
        raise error(f"mode: expected one of {sorted(_AVERAGE_MODES)}, got {mode!r}")
    if mode == "polyak":
        ok_beta = beta == 0.0
    else:
        ok_beta = 0.0 < beta < 1.0
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not ok_beta:
        raise error(f"beta: expected {'0.0' if mode == 'polyak' else 'a number in (0, 1)'} "
                    f"for {mode!r}, got {beta!r}")
    for name, v in (("first", first), ("count", count)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise error(f"{name}: expected an int >= 0, got {v!r}")


def _load_average(f, spec, model):
    if not isinstance(spec, dict) or set(spec) != {"mode", "beta", "first", "count"}:
        raise f.error("average: expected mode, beta, first and count in the header")
    _average_fields(spec["mode"], spec["beta"], spec["first"], spec["count"],
                    lambda m: f.error(f"average: {m}"))
    if "average.weights" not in f:
        raise f.error("average: the header has one but the file holds no average.weights")
    weights = f.read("average.weights", dtype=model.dtype, shape=(model._flat.size,))
    if not np.isfinite(weights).all():
        raise f.error("average.weights: contains NaN or inf")
    return AverageState(spec["mode"], float(spec["beta"]), spec["first"], spec["count"],
                        weights)


def _load_optimizer(f, spec, model):
    cls = OPTIMIZERS.get(spec["class"]) if isinstance(spec["class"], str) else None
    if cls is None:
        raise f.error(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got "
                      f"{spec['class']!r}")
    defaults = _decode(spec["defaults"])
    expected = set(cls([np.zeros(1, model.dtype)]).defaults)
    if not isinstance(defaults, dict) or set(defaults) != expected:
        raise f.error(f"optimizer: {cls.__name__}'s defaults must hold {sorted(expected)}")
    params = model.parameters()
    seen, groups = set(), []
    for g in spec["param_groups"]:
        ids = g["params"]
        if not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(params)
                for i in ids) or seen & set(ids) or len(set(ids)) != len(ids):
            raise f.error(f"optimizer: param group indices must be distinct model parameter "
                          f"indices in [0, {len(params)}), got {ids!r}")
        seen |= set(ids)
        hyper = _decode(g["hyper"])
        if not isinstance(hyper, dict) or "params" in hyper:
            raise f.error("optimizer: malformed param group")
        groups.append((ids, hyper))
    n_threads = spec["n_threads"]
    if n_threads is not None and (isinstance(n_threads, bool) or not isinstance(n_threads, int)
                                  or n_threads < 1):
        raise f.error(f"optimizer: n_threads: expected None or an int >= 1, got {n_threads!r}")
    opt = cls.__new__(cls)
    try:
        Optimizer.__init__(opt, [{**h, "params": [params[i] for i in ids]} for ids, h in groups],
                           defaults)
    except (TypeError, ValueError, KeyError) as e:
        raise f.error(f"optimizer: {e}") from None
    opt.n_threads = n_threads
    # the optimizer's parameter j is model parameter order[j]
    order = [i for ids, _ in groups for i in ids]
    state = {}
    for key, entry in spec["state"].items():
        j = int(key) if key.isdigit() else -1
        if not 0 <= j < len(order):
            raise f.error(f"optimizer: state for parameter {key!r}, which it does not hold")
        scalars = _decode(entry["scalars"])
        step = scalars.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise f.error(f"optimizer: step of parameter {j}: expected an int >= 0, got "
                          f"{step!r}")
        mu = scalars.get("mu_product", 1.0)
        if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not math.isfinite(mu):
            raise f.error(f"optimizer: mu_product: expected a finite number, got {mu!r}")
        p = params[order[j]]
        arrays = {}
        for name in entry["arrays"]:
            if not isinstance(name, str):
                raise f.error("optimizer: malformed state names")
            a = f.read(f"optimizer.{j}.{name}", dtype=model.dtype, shape=p.shape)
            if not np.isfinite(a).all():
                raise f.error(f"optimizer.{j}.{name}: contains NaN or inf")
            arrays[name] = a
        state[j] = {**scalars, **arrays}
    index, saved_groups = 0, []
    for ids, hyper in groups:
        saved_groups.append({**hyper, "params": list(range(index, index + len(ids)))})
        index += len(ids)
    try:
        opt.load_state_dict({"state": state, "param_groups": saved_groups})
    except (TypeError, ValueError, KeyError) as e:
        raise f.error(f"optimizer: {e}") from None
    return opt


def _load_schedule(f, spec, optimizer):
    """(schedule or None, its state_dict)."""
    own = _decode(spec["state"])
    if not isinstance(own, dict):
        raise f.error("schedule: malformed state")
    after_schedule, after_state = None, None
    if spec.get("after") is not None:
        after_schedule, after_state = _load_schedule(f, spec["after"], optimizer)
    state = dict(own)
    if spec.get("has_after") is True:
        state["after"] = after_state
    cls = getattr(_schedules, spec["class"], None) if isinstance(spec["class"], str) else None
    rebuildable = (spec.get("fastgd") is True and isinstance(cls, type)
                   and issubclass(cls, LRScheduler)
                   and cls not in (LRScheduler, ClosedFormScheduler)
                   and "lr_lambda" not in cls._not_state
                   and (spec.get("after") is None or after_schedule is not None))
    if not rebuildable:
        return None, state
    for k in own:
        attr = getattr(cls, k, None)
        if k.startswith("_" + "_") or k in cls._not_state or callable(attr) or \
                isinstance(attr, property):
            raise f.error(f"schedule: {spec['class']} has no state {k!r}")
    sched = cls.__new__(cls)
    sched.optimizer = optimizer
    if "after" in cls._not_state:
        sched.after = after_schedule
    sched.__dict__.update(own)
    try:
        _probe(sched, optimizer)
    except Exception as e:   # noqa: BLE001 -- any failure means the state does not fit
        raise f.error(f"schedule: state does not fit {spec['class']} "
                      f"({type(e).__name__}: {e})") from None
    return sched, state


class _Groups:
    """Stand-in optimizer for a dry run: copies of the rates, nothing else."""

    def __init__(self, optimizer):
        self.param_groups = [{k: v for k, v in g.items() if k != "params"}
                             for g in optimizer.param_groups]


def _probe(sched, optimizer):
    """A loaded schedule must work: run two steps on a copy against a stand-in optimizer,
    so a state that would fail (or write a bad rate) at the next fit fails here instead."""
    if sched.interval not in ("epoch", "batch"):
        raise ValueError(f"interval {sched.interval!r}")
    if not isinstance(sched._last_lr, list) or \
            len(sched._last_lr) != len(optimizer.param_groups):
        raise ValueError("expected one rate per param group")
    probe = copy.copy(sched)
    probe.__dict__ = copy.deepcopy({k: v for k, v in sched.__dict__.items()
                                    if k not in sched._not_state})
    probe.optimizer = _Groups(optimizer)
    for k in sched._not_state:
        if k != "optimizer" and k in sched.__dict__:
            setattr(probe, k, sched.__dict__[k])
    for value in (1.0, 0.5):
        if isinstance(probe, ClosedFormScheduler):
            probe.lrs_at(probe.last_epoch)
            probe.step()
        else:
            probe.step(value)
        rates = [g["lr"] for g in probe.optimizer.param_groups]
        if not all(isinstance(r, (int, float)) and not isinstance(r, bool)
                   and math.isfinite(r) and r >= 0 for r in rates):
            raise ValueError(f"it writes rates {rates}")


def _load_history(f, data):
    if not isinstance(data, dict):
        raise f.error("history: malformed")
    names = {fl.name for fl in dataclasses.fields(History)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise f.error(f"history: unknown fields {unknown}")
    for k, v in data.items():
        default = next(fl for fl in dataclasses.fields(History) if fl.name == k)
        if default.default_factory is list:
            ok = isinstance(v, list) and all(
                x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))
                for x in v)
        elif k in ("fast_path", "stopped_early", "interrupted"):
            ok = isinstance(v, bool)
        elif k == "stopped_at":
            ok = v is None or (isinstance(v, tuple) and len(v) == 2 and all(
                isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v))
        else:   # seed, metric_name
            ok = v is None or isinstance(v, int if k == "seed" else str)
        if not ok:
            raise f.error(f"history: {k}: unexpected value {v!r}"[:300])
    lengths = {len(v) for v in data.values() if isinstance(v, list)}
    if len(lengths) > 1:
        raise f.error("history: columns of different lengths")
    return History(**data)
