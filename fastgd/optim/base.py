"""The Optimizer base class: param groups, flat state buffers, state_dict, and the step.

Design: each param group keeps its state (momentum buffers, second moments, ...) in one
flat buffer per kind, in parameter order; ``state`` exposes per-parameter views of them.
So a step over a group is one call into C whatever the number of parameters, and when the
parameters (and gradients) are views into one buffer -- as ``flat_parameters`` and
fastgd's models lay them out -- that call runs one fused loop over everything.
Subclasses are rows of fastgd/optim/table.py (``_row``: the C rule, the state it keeps,
how each option reaches the kernel); the step's arithmetic lives in csrc/fg_optim_impl.h
and its specification in fastgd/reference/optim.py.

Faults: every public method checks all of its input before it changes anything
(``load_state_dict`` builds the whole new state aside and swaps it in at the end), and an
optimizer object refuses to be used from two threads at once (``RuntimeError``, see
:meth:`Optimizer._exclusive`) instead of losing updates.
"""
import contextlib
import math
import operator
import threading

import numpy as np

from fastgd import _checks
from fastgd._runtime import owners as _owners
from fastgd._runtime import threads as _threads
from fastgd._runtime.aligned import aligned_full
from fastgd.optim import _optim
from fastgd.optim import table as _table

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Optimizer:
    """Base class. ``params``: a list of arrays, or a list of dicts (param groups) each
    with a ``"params"`` list and hyper-parameters overriding the defaults.

    Threads: an optimizer is not shared between threads. A call to ``step``,
    ``state_dict``, ``load_state_dict``, ``zero_state`` or ``add_param_group`` while
    another thread is inside one of them raises ``RuntimeError`` and changes nothing (two
    steps at once would lose updates). Calls from several threads one after the other are
    fine; to share one optimizer between threads, hold your own lock around its calls."""

    _row = None   # the subclass's fastgd.optim.table.Row
    _guard = None  # a threading.RLock, made by __init__ (see _exclusive)

    def __init__(self, params, defaults, n_threads=None):
        self._guard = threading.RLock()
        self.defaults = {**defaults, **self._row.fixed}
        self.n_threads = n_threads
        self.param_groups = []
        self._group_state = []
        if isinstance(params, np.ndarray):
            raise TypeError("params: expected a list of arrays or of param-group dicts, "
                            "got a single array (wrap it in a list)")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params: expected a list of arrays, got {type(params).__name__}") from None
        if not params:
            raise ValueError("params: the optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self._add_param_group(group)

    @property
    def n_threads(self):
        """The thread count of this optimizer's steps (None: fastgd's default). Checked
        when set, so a count that cannot work fails here, not at the next step."""
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value):
        self._n_threads = None if value is None else _threads.check_count(value, "n_threads")

    @contextlib.contextmanager
    def _exclusive(self, what):
        """Hold this optimizer for one call; another thread inside it makes this raise.
        Re-entrant in one thread (fit's fallback path calls ``step`` while fit holds it)."""
        guard = self._guard or self._make_guard()
        if not guard.acquire(blocking=False):
            raise RuntimeError(_busy(what, self))
        try:
            yield
        finally:
            guard.release()

    def _make_guard(self):
        """The guard of an object that skipped Optimizer.__init__ (a subclass's own)."""
        with _GUARD_LOCK:
            if self.__dict__.get("_guard") is None:
                self._guard = threading.RLock()
        return self._guard

    # ----------------------------------------------------------------- param groups
    def add_param_group(self, group):
        with self._exclusive("add_param_group"):
            self._add_param_group(group)

    def _add_param_group(self, group):
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("param group: expected a dict with a 'params' list")
        group = dict(group)
        params = group["params"]
        if isinstance(params, np.ndarray):
            params = [params]
        elif isinstance(params, (str, bytes, dict)) or not hasattr(params, "__iter__"):
            raise TypeError("param group: expected a list of arrays as 'params', got "
                            f"{type(params).__name__}")
        params = list(params)
        known = {id(p) for g in self.param_groups for p in g["params"]}
        index0 = sum(len(g["params"]) for g in self.param_groups)
        seen = self._all_params()   # this group's earlier arrays join it below
        for i, p in enumerate(params):
            _check_param(p, f"params[{index0 + i}]")
            if id(p) in known or any(np.may_share_memory(p, q) and np.shares_memory(p, q)
                                   for q in seen):
                raise ValueError(f"params[{index0 + i}]: appears twice or overlaps another "
                                 "parameter; each element may be updated by one rule only")
            known.add(id(p))
            seen.append(p)
        if params and len({p.dtype for p in params}) != 1:
            raise TypeError("params: all arrays of a param group must share one dtype")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group["params"] = params
        self._validate_group(group)
        self.param_groups.append(group)
        self._group_state.append(self._new_state(group))

    def _all_params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def _validate_group(self, group):
        """Check hyper-parameters (fastgd._checks, shared with the reference); raises
        before anything changes."""
        _checks.optimizer_group(type(self).__name__, group, self._row.options)

    # ----------------------------------------------------------------- state
    def _state_layout(self, group):
        """Names of the (up to three) state arrays the rule keeps for this group."""
        return self._row.state_names(group)

    def _state_init(self, name, group):
        """Initial value of a state array (0 unless its row names an option for it)."""
        slot = next(s for s in self._row.state if s.name == name)
        return 0.0 if slot.init is None else group[slot.init]

    def _new_state(self, group):
        return {"step": 0, "mu_product": 1.0, "buffers": {}, "views": {},
                "params": tuple(group["params"])}

    def _buffers(self, group, gstate):
        """The group's three flat state arrays (None where unused), made on first use."""
        out = []
        for name in self._state_layout(group):
            if name is None:
                out.append(None)
                continue
            buf = gstate["buffers"].get(name)
            if buf is None:
                buf = self._allocate(group, gstate, name)
            out.append(buf)
        return out

    def _allocate(self, group, gstate, name):
        params = group["params"]
        dtype = params[0].dtype if params else np.float64
        total = sum(p.size for p in params)
        buf = aligned_full(total, self._state_init(name, group), dtype)
        views, off = [], 0
        for p in params:
            views.append(buf[off:off + p.size].reshape(p.shape))
            off += p.size
        gstate["buffers"][name] = buf
        gstate["views"][name] = views
        return buf

    @property
    def state(self):
        """Per-parameter state, ``{param_index: {"step": t, name: view, ...}}`` (views into
        the flat buffers: writing them changes the optimizer's state)."""
        out, index = {}, 0
        for group, gstate in zip(self.param_groups, self._group_state):
            for j in range(len(group["params"])):
                if gstate["step"] > 0:
                    entry = {"step": gstate["step"]}
                    for name, views in gstate["views"].items():
                        entry[name] = views[j]
                    if "mu_product" in self._row.scalar_state:
                        entry["mu_product"] = gstate["mu_product"]
                    out[index] = entry
                index += 1
        return out

    def zero_state(self):
        """Forget all state: the next step is step 1 again."""
        with self._exclusive("zero_state"):
            # new state records: the buffers are made again at the next step, so a stale
            # buffer of a switched-off option is forgotten too, as the reference forgets it
            self._group_state = [self._new_state(group) for group in self.param_groups]

    def state_dict(self):
        """Plain dicts of arrays (copies) and numbers, indexed by parameter position.

        A state array whose option was switched off after it was made (``amsgrad``,
        ``momentum``, ``centered``) is kept and saved, as the reference keeps it: switched
        back on, the option resumes from it."""
        with self._exclusive("state_dict"):
            state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v)
                         for k, v in e.items()}
                     for i, e in self.state.items()}
            groups, index = [], 0
            for group in self.param_groups:
                g = {k: _copy_value(v) for k, v in group.items() if k != "params"}
                g["params"] = list(range(index, index + len(group["params"])))
                index += len(group["params"])
                groups.append(g)
            return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state; a loaded optimizer continues bit-identically.

        All or nothing: the whole state_dict is checked (its layout, every value's type,
        every array's shape, dtype and values) and the new state built aside before any of
        this optimizer changes; a state_dict that does not fit raises ``ValueError`` or
        ``TypeError`` naming what is wrong and leaves the optimizer as it was."""
        with self._exclusive("load_state_dict"):
            plan = [self._plan_group(gi, *args)
                    for gi, args in enumerate(_load_layout(self, state_dict))]
            for gi, (group, values, gstate) in enumerate(plan):   # nothing can fail here
                group.update(values)
                self._group_state[gi] = gstate

    def _plan_group(self, gi, saved, group, entries, indices):
        """Check one saved group and its parameters' entries against ``group``; return
        (group, its new values, its new state) without changing anything."""
        name = type(self).__name__
        row = self._row
        # options added after a state_dict was written: such a run had them at these values
        saved = {**{k: v for k, v in _ADDED_OPTIONS.items() if k in self.defaults}, **saved}
        missing = sorted(set(self.defaults) - set(saved))
        if missing:
            raise ValueError(f"state_dict: param group {gi} lacks {missing}, which every "
                             f"{name} group holds; is it another optimizer's?")
        foreign = sorted(set(saved) & (_ALL_OPTIONS - set(self.defaults)))
        if foreign:
            raise ValueError(f"state_dict: param group {gi} holds {foreign}, options a {name} "
                             "does not have; is it another optimizer's?")
        for k, v in row.fixed.items():
            if saved[k] is not v and saved[k] != v:
                raise ValueError(f"state_dict: param group {gi}: {k}: expected {v!r} (fixed "
                                 f"for {name}), got {saved[k]!r}; is it another optimizer's?")
        values = {k: _copy_value(v) for k, v in saved.items() if k != "params"}
        self._validate_group({**group, **values})
        present = [e for e in entries if e is not None]
        if present and len(present) != len(entries):
            lacking = [i for i, e in zip(indices, entries) if e is None]
            raise ValueError(f"state_dict: param group {gi} has state for some parameters "
                             f"but none for {lacking}; a group's parameters share one step")
        slots = {s.name: s for s in row.state}
        allowed = {"step", *row.scalar_state, *slots}
        step, mu = 0, 1.0
        arrays = {}
        for j, (i, e, p) in enumerate(zip(indices, entries, group["params"])):
            if e is None:
                continue
            where = f"state_dict: state[{i}]"
            if not isinstance(e, dict):
                raise TypeError(f"{where}: expected a dict, got {type(e).__name__}")
            unknown = sorted(map(str, set(e) - allowed))
            if unknown:
                raise ValueError(f"{where}: holds {unknown}, which a {name} does not keep "
                                 f"(it keeps {sorted(allowed)}); is it another optimizer's?")
            if "step" not in e:
                raise ValueError(f"{where}: lacks 'step'")
            s = _checks.integer(e["step"], f"{where}['step']", low=1)
            if j and s != step:
                raise ValueError(f"state_dict: parameters of group {gi} are at different "
                                 f"steps ({step} and {s}); a group's parameters share one step")
            step = s
            if "mu_product" in row.scalar_state:
                if "mu_product" not in e:
                    raise ValueError(f"{where}: lacks 'mu_product', which a {name} keeps")
                m = _checks.real(e["mu_product"], f"{where}['mu_product']", low=0.0, high=1.0)
                if j and m != mu:
                    raise ValueError(f"state_dict: parameters of group {gi} hold different "
                                     "mu_product values; a group shares one")
                mu = m
            for slot in slots:
                if slot not in e:
                    if slots[slot].when is None:     # made at the first step, always there
                        raise ValueError(f"{where}: lacks {slot!r}, which a {name} keeps "
                                         "from its first step")
                    continue
                arrays.setdefault(slot, [None] * len(entries))[j] = _state_array(
                    e[slot], f"{where}[{slot!r}]", p, slot)
        for slot, got in arrays.items():
            if any(a is None for a in got):
                lacking = [i for i, a in zip(indices, got) if a is None]
                raise ValueError(f"state_dict: param group {gi} has {slot!r} for some "
                                 f"parameters but not for {lacking}")
        gstate = self._new_state(group)
        gstate["step"], gstate["mu_product"] = step, mu
        init_group = {**group, **values}
        for slot, got in arrays.items():      # allocate and fill aside (may run out of memory)
            self._allocate(init_group, gstate, slot)
            for view, value in zip(gstate["views"][slot], got):
                view[...] = value
        return group, values, gstate

    # ----------------------------------------------------------------- the step
    def _hyper(self, group):
        """The fg_step fields (see csrc/fg_optim.h) for this group's rule."""
        return self._row.hyper(group)

    def _refresh(self, group, gstate):
        """Re-validate a group and rebuild its prepared rule only when its hyper-parameters
        changed since the last step (a schedule or the user may edit them between steps).
        The common check costs ~0.3 us; validating and rebuilding ~3 us."""
        params, laid_out = group["params"], gstate["params"]
        if len(params) != len(laid_out) or not all(map(operator.is_, params, laid_out)):
            # the state buffers are laid out for the group's parameters as added
            raise ValueError("params: a param group's parameters cannot change after it is "
                             "added (its state is laid out for them); use add_param_group")
        key = _list_key(group) if gstate.get("lists") else tuple(group.values())
        if key != gstate.get("key"):
            self._validate_group(group)
            hyper = self._hyper(group)
            gstate["hyper"] = hyper
            gstate["rule"] = _optim.Rule(hyper)
            gstate["state"] = self._buffers(group, gstate)
            # what a step writes, for the overlap check: parameters, then kept state
            gstate["written"] = list(params) + [b for b in gstate["state"] if b is not None]
            # a list value (e.g. betas=[0.9, 0.999]) could be edited in place, unseen by a
            # key that holds the list itself: such groups keep a copied key (slower check)
            gstate["lists"] = any(isinstance(v, list) for k, v in group.items()
                                  if k != "params")
            gstate["key"] = _list_key(group) if gstate["lists"] else tuple(group.values())

    def step(self, grads):
        """One update of every parameter, in place. ``grads``: one array per parameter, in
        the order the parameters were given (all groups concatenated). A gradient may not
        share memory with a parameter (or the optimizer's state): that raises ValueError,
        like every other bad input, before anything is updated."""
        guard = self._guard or self._make_guard()   # not _exclusive: ~1 us less per step
        if not guard.acquire(blocking=False):
            raise RuntimeError(_busy("step", self))
        try:
            self._step(grads)
        finally:
            guard.release()

    def _step(self, grads):
        if isinstance(grads, np.ndarray) or not isinstance(grads, (list, tuple)):
            raise TypeError("grads: expected a list or tuple of arrays, one per parameter, "
                            f"got {type(grads).__name__}")
        groups, states = self.param_groups, self._group_state
        if len(groups) != len(states):
            raise ValueError(f"param_groups: expected the {len(states)} groups the optimizer "
                             f"laid out state for, got {len(groups)}; add a group with "
                             "add_param_group, not param_groups.append")
        if len(grads) != self._n_params:
            raise ValueError(f"grads: expected {self._n_params} arrays (one per parameter), "
                             f"got {len(grads)}")
        n_threads = self._n_threads if self._n_threads is not None else _threads.resolve(None)
        if len(groups) == 1 and type(self)._apply is Optimizer._apply:
            # the common case, kept lean: ~1.5 us of Python per step
            group, gstate = groups[0], states[0]
            self._refresh(group, gstate)
            params = group["params"]
            checked = _optim.check_grads(params, grads)
            _optim.check_no_overlap(gstate["written"], checked, len(params))
            gstate["rule"].step_group(params, checked, gstate, n_threads)
            return
        checked, index = [], 0
        for group, gstate in zip(groups, states):   # check every group before updating any
            self._refresh(group, gstate)
            n = len(group["params"])
            checked.append(_optim.check_grads(group["params"], grads[index:index + n], index))
            index += n
        params = self._all_params()
        _optim.check_no_overlap(params + [b for g in states for b in g["state"] if b is not None],
                                [g for group_grads in checked for g in group_grads],
                                len(params))
        for group, gstate, group_grads in zip(groups, states, checked):
            if type(self)._apply is Optimizer._apply:
                gstate["rule"].step_group(group["params"], group_grads, gstate, n_threads)
            else:   # a subclass's own arithmetic (no Ctrl-C guarantee between its lines)
                hyper = dict(gstate["hyper"], step=gstate["step"] + 1,
                             mu_product=gstate["mu_product"])
                gstate["mu_product"] = self._apply(hyper, group["params"], group_grads,
                                                   gstate["state"], n_threads)
                gstate["step"] += 1

    @property
    def _n_params(self):
        return sum(len(g["params"]) for g in self.param_groups)

    @staticmethod
    def _apply(hyper, params, grads, state, n_threads):
        return _optim.step_group(hyper, params, grads, state, n_threads)

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({hyper})"

    # ----------------------------------------------------------------- pickling
    def __reduce__(self):
        """Pickled through :meth:`state_dict` (a checkpoint's state); each group's parsed C
        rule is rebuilt at the next step. A parameter of a fastgd model is stored as
        "parameter i of that model", so pickling ``(model, optimizer)`` together gives back
        an optimizer bound to the unpickled model's parameters."""
        refs = [[_param_ref(p) for p in g["params"]] for g in self.param_groups]
        extra = {k: v for k, v in self.__dict__.items() if k not in _PICKLED}
        return (_unpickle, (type(self), self.defaults, self.n_threads, refs,
                            self.state_dict(), extra))


_GUARD_LOCK = threading.Lock()


def _busy(what, opt):
    return (f"{what}: this {type(opt).__name__} is in use by another thread; an optimizer "
            "is not shared between threads at once (hold a lock of your own around its "
            "calls)")


_PICKLED = ("defaults", "_n_threads", "param_groups", "_group_state", "_guard")


def _param_ref(p):
    owned = _owners.owner_of(p)
    return ("array", p) if owned is None else ("owned",) + owned


def _unpickle(cls, defaults, n_threads, refs, state_dict, extra):
    groups = []
    for group_refs, saved in zip(refs, state_dict["param_groups"]):
        params = [r[1].parameters()[r[2]] if r[0] == "owned" else r[1] for r in group_refs]
        groups.append({**{k: v for k, v in saved.items() if k != "params"}, "params": params})
    opt = cls.__new__(cls)
    Optimizer.__init__(opt, groups, defaults)
    opt.n_threads = n_threads
    opt.__dict__.update(extra)
    opt.load_state_dict(state_dict)
    return opt


def _list_key(group):
    """The group's values with lists copied to tuples (the parameter list excluded: the
    parameters are compared by identity)."""
    return tuple(tuple(v) if isinstance(v, list) else v
                 for k, v in group.items() if k != "params")


def _check_param(p, name):
    if not isinstance(p, np.ndarray) or isinstance(p, np.ma.MaskedArray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(p).__name__}")
    if p.dtype not in _FLOATS:
        raise TypeError(f"{name}: expected float32 or float64, got {p.dtype}")
    if not p.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous (it is updated in place, so fastgd "
                         "will not work on a copy); pass np.ascontiguousarray(p) and keep it")
    if not p.flags.writeable:
        raise ValueError(f"{name}: is read-only; parameters are updated in place")


# ----------------------------------------------------------------- load_state_dict's checks
# Every option any rule has: a saved group holding one its optimizer lacks is another's.
_ALL_OPTIONS = frozenset(o for row in _table.ROWS for o in row.options)
# Options newer than some saved state_dicts (checkpoints), with the value an earlier
# version ran with; a state_dict without one loads as that value.
_ADDED_OPTIONS = {"flush_subnormal_state": False}
# State kinds that are sums or maxima of squares or magnitudes: never negative.
_NON_NEGATIVE = frozenset(("exp_avg_sq", "max_exp_avg_sq", "square_avg", "sum",
                           "acc_delta", "exp_inf"))


def _copy_value(v):
    """A group value detached from the dict it came from (lists and tuples copied)."""
    return list(v) if isinstance(v, list) else v


def _index(key, where):
    """A state key (an int, or an int's string after JSON) as an int."""
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():
        key = int(key)
    return _checks.integer(key, where, low=0)


def _load_layout(opt, state_dict):
    """Check a state_dict's layout against ``opt``; one (saved group, group, entries,
    saved indices) per group."""
    if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
        raise TypeError("state_dict: expected a dict with 'state' and 'param_groups', got "
                        + (f"keys {sorted(map(str, state_dict))}" if isinstance(state_dict, dict)
                           else type(state_dict).__name__))
    groups, state = state_dict["param_groups"], state_dict["state"]
    if not isinstance(groups, (list, tuple)):
        raise TypeError("state_dict['param_groups']: expected a list of dicts, got "
                        f"{type(groups).__name__}")
    if not isinstance(state, dict):
        raise TypeError(f"state_dict['state']: expected a dict, got {type(state).__name__}")
    if len(opt.param_groups) != len(opt._group_state):
        raise ValueError(f"param_groups: expected the {len(opt._group_state)} groups the "
                         f"optimizer laid out state for, got {len(opt.param_groups)}; add a "
                         "group with add_param_group, not param_groups.append")
    if len(groups) != len(opt.param_groups):
        raise ValueError(f"state_dict: has {len(groups)} param groups, the optimizer "
                         f"{len(opt.param_groups)}")
    by_index = {}
    for key, entry in state.items():
        i = _index(key, "state_dict['state'] key")
        if i in by_index:
            raise ValueError(f"state_dict: state for parameter {i} appears twice")
        by_index[i] = entry
    out, seen = [], set()
    for gi, (saved, group) in enumerate(zip(groups, opt.param_groups)):
        if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
            raise TypeError(f"state_dict: param group {gi}: expected a dict with a 'params' "
                            "list of indices")
        if len(saved["params"]) != len(group["params"]):
            raise ValueError(f"state_dict: param group {gi} has {len(saved['params'])} "
                             f"parameters (a size that differs from the optimizer's "
                             f"{len(group['params'])})")
        indices = [_index(i, f"state_dict: param group {gi}: params") for i in saved["params"]]
        if seen & set(indices) or len(set(indices)) != len(indices):
            raise ValueError(f"state_dict: param group {gi}: a parameter index appears twice")
        seen.update(indices)
        out.append((saved, group, [by_index.get(i) for i in indices], indices))
    stray = sorted(set(by_index) - seen)
    if stray:
        raise ValueError(f"state_dict: state for parameters {stray} that no group holds")
    return out


def _state_array(value, where, p, slot):
    """A saved state array, checked against its parameter ``p``."""
    if not isinstance(value, np.ndarray) or isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{where}: expected a numpy.ndarray, got {type(value).__name__}")
    if value.dtype != p.dtype:
        raise TypeError(f"{where}: expected dtype {p.dtype} (its parameter's), got "
                        f"{value.dtype}")
    if value.shape != p.shape:
        raise ValueError(f"{where}: expected shape {p.shape} (its parameter's), got shape "
                         f"{value.shape}")
    if value.size and not np.isfinite(value).all():
        raise ValueError(f"{where}: expected finite values, got NaN or inf")
    if slot in _NON_NEGATIVE and value.size and (value < 0).any():
        raise ValueError(f"{where}: expected values >= 0 (a running sum or maximum of "
                         f"squares or magnitudes), got {value.min()!r}")
    return value
