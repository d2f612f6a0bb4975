"""The Optimizer base class: param groups, flat state buffers, state_dict, and the step.

Design: each param group keeps its state (momentum buffers, second moments, ...) in one
flat buffer per kind, in parameter order; ``state`` exposes per-parameter views of them.
So a step over a group is one call into C whatever the number of parameters, and when the
parameters (and gradients) are views into one buffer -- as ``flat_parameters`` and
fastgd's models lay them out -- that call runs one fused loop over everything.
Subclasses are rows of fastgd/optim/table.py (``_row``: the C rule, the state it keeps,
how each option reaches the kernel); the step's arithmetic lives in csrc/fg_optim_impl.h
and its specification in fastgd/reference/optim.py.
"""
import operator

import numpy as np

from fastgd import _checks
from fastgd._runtime import owners as _owners
from fastgd._runtime import threads as _threads
from fastgd._runtime.aligned import aligned_full
from fastgd.optim import _optim

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Optimizer:
    """Base class. ``params``: a list of arrays, or a list of dicts (param groups) each
    with a ``"params"`` list and hyper-parameters overriding the defaults."""

    _row = None   # the subclass's fastgd.optim.table.Row

    def __init__(self, params, defaults, n_threads=None):
        self.defaults = {**defaults, **self._row.fixed}
        self.n_threads = None if n_threads is None else _threads.resolve(n_threads)
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
            self.add_param_group(group)

    # ----------------------------------------------------------------- param groups
    def add_param_group(self, group):
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("param group: expected a dict with a 'params' list")
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, np.ndarray) else list(params)
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
        for group, gstate in zip(self.param_groups, self._group_state):
            for name, buf in gstate["buffers"].items():
                buf.fill(self._state_init(name, group))
            gstate["step"] = 0
            gstate["mu_product"] = 1.0

    def state_dict(self):
        """Plain dicts of arrays (copies) and numbers, indexed by parameter position."""
        state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in e.items()}
                 for i, e in self.state.items()}
        groups, index = [], 0
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = list(range(index, index + len(group["params"])))
            index += len(group["params"])
            groups.append(g)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state; a loaded optimizer continues bit-identically."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"state_dict: has {len(groups)} param groups, the optimizer "
                             f"{len(self.param_groups)}")
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError("state_dict: a param group's size differs from the optimizer's")
        state = state_dict["state"]
        indices = {int(i) for saved in groups for i in saved["params"]}
        stray = sorted(str(k) for k in state if int(k) not in indices)
        if stray:
            raise ValueError(f"state_dict: state for parameters {stray} that no group holds")
        plan = []   # check everything before changing anything
        for gi, (saved, group) in enumerate(zip(groups, self.param_groups)):
            missing = sorted(set(self.defaults) - set(saved))
            if missing:
                raise ValueError(f"state_dict: param group {gi} lacks {missing}, which every "
                                 f"{type(self).__name__} group holds; is it another optimizer's?")
            merged = {**group, **{k: v for k, v in saved.items() if k != "params"}}
            self._validate_group(merged)
            kept = {name for name in self._state_layout(merged) if name is not None}
            entries = [state.get(i, state.get(str(i))) for i in saved["params"]]
            steps = {int(e["step"]) for e in entries if e is not None}
            if len(steps) > 1:
                raise ValueError(f"state_dict: parameters of group {gi} are at different steps")
            step = steps.pop() if steps else 0
            arrays = {}
            for j, (e, p) in enumerate(zip(entries, group["params"])):
                for name, value in (e or {}).items():
                    if isinstance(value, np.ndarray):
                        if name not in kept:
                            raise ValueError(f"state_dict: {type(self).__name__} with these "
                                             f"options keeps no {name!r} state (kept: "
                                             f"{sorted(kept)}); is it another optimizer's?")
                        if value.shape != p.shape:
                            raise ValueError(f"state_dict: {name} of parameter "
                                             f"{saved['params'][j]} has shape {value.shape}, "
                                             f"expected {p.shape}")
                        arrays.setdefault(name, [None] * len(entries))[j] = value
            mu = next((e["mu_product"] for e in entries if e and "mu_product" in e), 1.0)
            plan.append((saved, group, step, arrays, mu))
        for gi, (saved, group, step, arrays, mu) in enumerate(plan):
            for k, v in saved.items():
                if k != "params":
                    group[k] = v
            gstate = self._new_state(group)
            gstate["step"] = step
            gstate["mu_product"] = float(mu)
            self._group_state[gi] = gstate
            for name, values in arrays.items():
                self._allocate(group, gstate, name)
                for view, value in zip(gstate["views"][name], values):
                    if value is not None:
                        view[...] = value

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
            # a list value (e.g. betas=[0.9, 0.999]) could be edited in place, unseen by a
            # key that holds the list itself: such groups keep a copied key (slower check)
            gstate["lists"] = any(isinstance(v, list) for k, v in group.items()
                                  if k != "params")
            gstate["key"] = _list_key(group) if gstate["lists"] else tuple(group.values())

    def step(self, grads):
        """One update of every parameter, in place. ``grads``: one array per parameter, in
        the order the parameters were given (all groups concatenated)."""
        if isinstance(grads, np.ndarray) or not isinstance(grads, (list, tuple)):
            raise TypeError("grads: expected a list or tuple of arrays, one per parameter, "
                            f"got {type(grads).__name__}")
        groups, states = self.param_groups, self._group_state
        if len(grads) != self._n_params:
            raise ValueError(f"grads: expected {self._n_params} arrays (one per parameter), "
                             f"got {len(grads)}")
        n_threads = self.n_threads if self.n_threads is not None else _threads.resolve(None)
        if len(groups) == 1 and type(self)._apply is Optimizer._apply:
            # the common case, kept lean: ~1.5 us of Python per step
            group, gstate = groups[0], states[0]
            self._refresh(group, gstate)
            gstate["rule"].step_group(group["params"], _optim.check_grads(group["params"], grads),
                                      gstate, n_threads)
            return
        checked, index = [], 0
        for group, gstate in zip(groups, states):   # check every group before updating any
            self._refresh(group, gstate)
            n = len(group["params"])
            checked.append(_optim.check_grads(group["params"], grads[index:index + n], index))
            index += n
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


_PICKLED = ("defaults", "n_threads", "param_groups", "_group_state")


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
    if not isinstance(p, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(p).__name__}")
    if p.dtype not in _FLOATS:
        raise TypeError(f"{name}: expected float32 or float64, got {p.dtype}")
    if not p.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous (it is updated in place, so fastgd "
                         "will not work on a copy); pass np.ascontiguousarray(p) and keep it")
    if not p.flags.writeable:
        raise ValueError(f"{name}: is read-only; parameters are updated in place")
