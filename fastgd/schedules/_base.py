"""Attaching a learning-rate schedule to an optimizer.

Design: a schedule is a pure function ``lr_at(step, base_lr) -> float`` (closed form, Python
floats, no state) plus a thin stateful attachment that writes its value into each
``optimizer.param_groups[i]["lr"]`` -- torch's ``lr_scheduler`` protocol without its
recursive updates. Because ``step()`` always recomputes from the base rates, a rate changed
by hand between two steps is overwritten at the next one (torch's chainable schedulers
would compound it instead).

An *optimizer* is any object with ``param_groups``: a non-empty list of dicts, each with a
real ``"lr"``. Conventions copied from torch:

* Construction stores ``group.setdefault("initial_lr", group["lr"])`` (the base rate,
  ``base_lrs``) and performs one ``step()``, so a fresh schedule has ``last_epoch == 0``
  and the optimizer holds ``lr_at(0, base_lr)``. ``last_epoch=k >= 0`` resumes: every group
  must already hold ``"initial_lr"`` and construction steps to ``k + 1``.
* ``step()`` advances ``last_epoch`` by one and writes ``lr_at(last_epoch, base_lr)``;
  ``get_last_lr()`` returns what was written; ``state_dict()`` / ``load_state_dict()``
  exchange plain dicts (everything but the optimizer).

``interval`` ("epoch" or "batch") tells the training loop how often to step: once per epoch
or once per mini-batch. With "batch", ``last_epoch`` counts mini-batches. The engine does
not call Python per batch: it reads ``s = sched.last_epoch``, precomputes
``[sched.lr_at(s + j, base_lr) for j in range(n_batches)]`` for each group, runs the epoch,
then calls ``sched.advance(n_batches)``.
"""

import copy
import inspect
import numbers

from fastgd import _checks

__all__ = ["LRScheduler", "ClosedFormScheduler"]

_INTERVALS = ("epoch", "batch")


# ----------------------------------------------------------------------------- validation
# fastgd._checks is the vocabulary: each checker returns the value as a Python scalar
# (numpy scalars would upcast float32 arrays under NumPy 2) and names the argument.

def _per_group(value, name, n_groups, **bounds):
    """A scalar broadcast to every group, or a list/tuple with one value per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_groups:
            raise ValueError(f"{name}: expected one value per param group ({n_groups}), "
                             f"got {len(value)}")
        return [_checks.real(v, f"{name}[{i}]", **bounds) for i, v in enumerate(value)]
    return [_checks.real(value, name, **bounds)] * n_groups


def _check_optimizer(optimizer):
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list):
        raise TypeError("optimizer: expected an optimizer with a list param_groups, got "
                        f"{type(optimizer).__name__}")
    if not groups:
        raise ValueError("optimizer: expected param_groups to hold a group, got none")
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or "lr" not in group:
            raise TypeError(f"optimizer.param_groups[{i}]: expected a dict with an 'lr' entry, got "
                            f"{type(group).__name__}")
        _checks.real(group["lr"], f"optimizer.param_groups[{i}]['lr']")
    return groups


def _check_interval(interval):
    if interval is not None:
        _checks.choice(interval, "interval", _INTERVALS)
    return interval


# ----------------------------------------------------------------------------- classes

class LRScheduler:
    """Base of every fastgd schedule: holds the optimizer, ``interval`` and the state dict.

    Subclasses validate all their arguments (``_check_optimizer`` first) *before* calling
    this constructor, so a bad argument never leaves the optimizer half-modified.
    """

    interval = "epoch"
    # Attributes that are not state: never saved, never loaded.
    _not_state = ("optimizer",)

    def __init__(self, optimizer, *, interval=None):
        _check_optimizer(optimizer)
        self.interval = _check_interval(interval) or type(self).interval
        self.optimizer = optimizer
        self._last_lr = [float(g["lr"]) for g in optimizer.param_groups]

    def get_last_lr(self):
        """The learning rates written at the last step, one Python float per group."""
        return list(self._last_lr)

    def _write_lrs(self, lrs):
        groups = self.optimizer.param_groups
        if len(groups) != len(lrs):
            raise RuntimeError(f"{type(self).__name__} was built for {len(lrs)} param groups, "
                               f"the optimizer now has {len(groups)}")
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def state_dict(self):
        """Every attribute except the optimizer, deep-copied into a plain dict."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items()
                if k not in self._not_state}

    def load_state_dict(self, state_dict):
        """Restore a dict from :meth:`state_dict` of the same class and optimizer layout.

        The key set must match exactly and per-group lists must have one entry per param
        group; on a mismatch ``ValueError`` is raised and nothing changes. The loaded rates
        (``get_last_lr()``) are written into the optimizer, so the order in which optimizer
        and schedule are rebuilt does not matter: torch leaves the rates alone, and there a
        schedule built after loading the optimizer's state (its constructor writes the base
        rate) starts the resumed run at the base rate.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict: expected a dict, got {type(state_dict).__name__}")
        expected = {k for k in self.__dict__ if k not in self._not_state}
        if set(state_dict) != expected:
            raise ValueError(
                f"state_dict does not fit {type(self).__name__}: missing "
                f"{sorted(expected - set(state_dict))}, unexpected "
                f"{sorted(set(state_dict) - expected)}")
        n_groups = len(self.optimizer.param_groups)
        for key in _RATE_LISTS:
            if key in state_dict and len(state_dict[key]) != n_groups:
                raise ValueError(f"state_dict[{key!r}] has {len(state_dict[key])} entries, "
                                 f"the optimizer has {n_groups} param groups")
        for key, value in state_dict.items():
            _check_like(value, self.__dict__[key], f"state_dict[{key!r}]")
        _check_values(state_dict)
        self._check_hyperparameters(state_dict)
        self.__dict__.update(copy.deepcopy(state_dict))
        self._write_lrs(self._last_lr)

    def _check_hyperparameters(self, state_dict):
        """Run the constructor's own checks on the loaded hyper-parameters.

        The entries named like a constructor argument are passed to a scratch schedule of
        this class over a stand-in optimizer (copies of the groups), so ``gamma=-1`` or
        ``mode="low"`` is refused with the constructor's message and the real optimizer is
        never written. A class whose required arguments are stored under other names
        (OneCycleLR's ``max_lr``) gets the structural checks only.
        """
        params = inspect.signature(type(self).__init__).parameters
        kwargs = {name: copy.deepcopy(state_dict[name]) for name in params
                  if name not in ("self", "optimizer", "last_epoch") and name in state_dict}
        required = [name for name, p in params.items()
                    if name not in ("self", "optimizer") and p.default is p.empty
                    and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if any(name not in kwargs for name in required):
            return
        stand_in = _StandIn(self.optimizer.param_groups)
        try:
            type(self)(stand_in, **kwargs)
        except (TypeError, ValueError) as error:
            raise type(error)(f"state_dict: {error}") from None


class _StandIn:
    """An optimizer for a scratch schedule: copies of the real groups' rates, nothing else."""

    def __init__(self, groups):
        self.param_groups = [{k: v for k, v in g.items() if k != "params"} for g in groups]


# Per-group learning rates a schedule stores: finite and >= 0 (one entry per group).
_RATE_LISTS = ("base_lrs", "_last_lr", "min_lrs")
# Counters a schedule stores: ints >= 0 (a schedule steps once when it is built).
_COUNTERS = ("last_epoch", "num_bad_epochs", "cooldown_counter")


def _check_like(new, old, name):
    """``new`` is of ``old``'s kind: bool, int, real, str, None, the same length of list or
    the same keys of dict (recursively), or an instance of the same class."""
    if isinstance(old, bool) or isinstance(old, str) or old is None:
        if type(new) is not type(old):
            raise TypeError(f"{name}: expected {type(old).__name__}, got "
                            f"{_checks._describe(new)}")
    elif isinstance(old, numbers.Integral):
        _checks.integer(new, name)
    elif isinstance(old, numbers.Real):
        _checks.real(new, name, finite=False)   # not NaN; +-inf is a plateau's fresh best
    elif isinstance(old, (list, tuple)):
        if not isinstance(new, (list, tuple)) or len(new) != len(old):
            raise ValueError(f"{name}: expected a list of {len(old)} entries, got "
                             f"{_checks._describe(new)}")
        for i, (n, o) in enumerate(zip(new, old)):
            _check_like(n, o, f"{name}[{i}]")
    elif isinstance(old, dict):
        if not isinstance(new, dict) or set(new) != set(old):
            raise ValueError(f"{name}: expected a dict with keys {sorted(old)}, got "
                             f"{_checks._describe(new)}")
        for key in old:
            _check_like(new[key], old[key], f"{name}[{key!r}]")
    elif not isinstance(new, type(old)):
        raise TypeError(f"{name}: expected {type(old).__name__}, got {type(new).__name__}")


def _check_values(state_dict):
    for key in _RATE_LISTS:
        for i, rate in enumerate(state_dict.get(key, ())):
            _checks.real(rate, f"state_dict[{key!r}][{i}]", low=0.0)
    for key in _COUNTERS:
        if key in state_dict:
            _checks.integer(state_dict[key], f"state_dict[{key!r}]", low=0)
    if "interval" in state_dict:
        _checks.choice(state_dict["interval"], "state_dict['interval']", _INTERVALS)


class ClosedFormScheduler(LRScheduler):
    r"""A schedule given by a closed form :math:`\eta_t = f(t, \eta_0)`, see :meth:`lr_at`.

    ``step()`` sets :math:`t \leftarrow t + 1` and writes
    ``lr_at(t, base_lrs[i])`` into group ``i``.
    """

    def __init__(self, optimizer, last_epoch=-1, *, interval=None):
        groups = _check_optimizer(optimizer)
        last_epoch = _checks.integer(last_epoch, "last_epoch", low=-1)
        _check_interval(interval)
        if last_epoch != -1:
            missing = [i for i, g in enumerate(groups) if "initial_lr" not in g]
            if missing:
                raise ValueError(
                    f"last_epoch={last_epoch} resumes a schedule, but param_groups{missing} "
                    "hold no 'initial_lr'; load the optimizer's state first or use -1")
        super().__init__(optimizer, interval=interval)
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [float(g["initial_lr"]) for g in groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, step, base_lr):
        """The learning rate at ``step`` (an int >= 0) for a group of base rate ``base_lr``.

        Pure: reads only the hyper-parameters, changes nothing, returns a Python float.
        """
        raise NotImplementedError

    def lrs_at(self, step):
        """``lr_at(step, b)`` for each base rate ``b`` in ``base_lrs`` (pure)."""
        return [self.lr_at(step, b) for b in self.base_lrs]

    def step(self):
        """Advance ``last_epoch`` by one and write the new rates into the optimizer."""
        self.advance(1)

    def advance(self, n_steps):
        """Advance ``last_epoch`` by ``n_steps`` (>= 0) at once; same as that many ``step()``."""
        n_steps = _checks.integer(n_steps, "n_steps", low=0)
        target = self.last_epoch + n_steps
        lrs = self.lrs_at(target)      # may raise (OneCycleLR past its end): state untouched
        self.last_epoch = target
        self._write_lrs(lrs)
