"""The optimizer classes in plain NumPy: the specification of fastgd's optimizer classes.

Each class takes the user's own option names (``alpha``, ``rho``, ``betas``, ``nesterov``,
...), declares its own defaults and state names, and hands the options straight to the
rule functions of fastgd/reference/optim.py, one parameter at a time. Nothing here reads
the fast side's table, so the parity tests check the whole way from a user's option to
the kernel, not only the arithmetic. Param groups, per-parameter ``state`` (``{index:
{"step": t, name: array}}``) and ``state_dict`` follow ``torch.optim``.
"""
import numpy as np

from fastgd import _checks
from fastgd.reference import optim as R

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad",
           "Adadelta", "Adamax", "NAdam", "RAdam", "OPTIMIZERS"]


class Optimizer:
    """Param groups over lists of NumPy arrays, updated in place by ``step(grads)``.

    Subclasses set ``state_names`` (the arrays ``_update`` keeps, made on first use) and
    implement ``_update(param, grad, state, group)`` for one parameter."""

    def __init__(self, params, defaults, n_threads=None):
        self.defaults = dict(defaults)
        if isinstance(self.defaults.get("betas"), list):     # as torch keeps them
            self.defaults["betas"] = tuple(self.defaults["betas"])
        self.param_groups = []
        self.state = {}
        params = list(params)
        if not params:
            raise ValueError("params: expected a non-empty list of arrays")
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group):
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, np.ndarray) else list(params)
        for i, p in enumerate(group["params"]):
            if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
                raise TypeError(f"params[{i}]: expected a float32 or float64 numpy.ndarray, "
                                f"got {type(p).__name__}")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        _checks.optimizer_group(type(self).__name__, group, self.defaults)
        self.param_groups.append(group)

    def step(self, grads):
        grads = list(grads)
        n = sum(len(g["params"]) for g in self.param_groups)
        if len(grads) != n:
            raise ValueError(f"grads: expected {n} arrays (one per parameter), got {len(grads)}")
        for group in self.param_groups:          # an edited group is checked before any step
            _checks.optimizer_group(type(self).__name__, group, self.defaults)
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.setdefault(index, {"step": 0})
                state["step"] += 1
                self._update(p, grads[index], state, group)
                index += 1

    def _zeros(self, state, name, like, value=0.0):
        """The state array ``name``, made (filled with ``value``) on first use."""
        if name not in state:
            state[name] = np.full(like.shape, value, dtype=like.dtype)
        return state[name]

    def zero_state(self):
        self.state = {}

    def state_dict(self):
        groups, index = [], 0
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = list(range(index, index + len(group["params"])))
            index += len(group["params"])
            groups.append(g)
        state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in e.items()}
                 for i, e in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        for saved, group in zip(state_dict["param_groups"], self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {int(i): {k: (v.copy() if isinstance(v, np.ndarray) else v)
                               for k, v in e.items()}
                      for i, e in state_dict["state"].items()}


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum (:func:`reference.optim.sgd_step`)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, buffer_init="grad", lr_in_momentum=False,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, buffer_init=buffer_init,
                                      lr_in_momentum=lr_in_momentum,
                                      flush_subnormal_state=flush_subnormal_state))

    def _update(self, p, g, state, group):
        buf = self._zeros(state, "momentum_buffer", p) if group["momentum"] != 0 else None
        R.sgd_step(p, g, buf, state["step"], lr=group["lr"], momentum=group["momentum"],
                   dampening=group["dampening"], nesterov=group["nesterov"],
                   weight_decay=group["weight_decay"], maximize=group["maximize"],
                   buffer_init=group["buffer_init"], lr_in_momentum=group["lr_in_momentum"],
                   flush_subnormal_state=group["flush_subnormal_state"])


class Momentum(Optimizer):
    """The lesson's EWA momentum (:func:`reference.optim.momentum_step`)."""

    def __init__(self, params, lr=1e-2, beta=0.9, bias_correction=False, *,
                 buffer_init="zeros", flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, beta=beta, bias_correction=bias_correction,
                                      buffer_init=buffer_init,
                                      flush_subnormal_state=flush_subnormal_state))

    def _update(self, p, g, state, group):
        R.momentum_step(p, g, self._zeros(state, "velocity", p), state["step"], lr=group["lr"],
                        beta=group["beta"], bias_correction=group["bias_correction"],
                        buffer_init=group["buffer_init"],
                        flush_subnormal_state=group["flush_subnormal_state"])


class Adam(Optimizer):
    """Adam / AMSGrad / epsilon-hat / decoupled decay (:func:`reference.optim.adam_step`)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, epsilon_hat=False,
                 decoupled_weight_decay=False, flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      epsilon_hat=epsilon_hat,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      flush_subnormal_state=flush_subnormal_state))

    def _update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        m, v = self._zeros(state, "exp_avg", p), self._zeros(state, "exp_avg_sq", p)
        vmax = self._zeros(state, "max_exp_avg_sq", p) if group["amsgrad"] else None
        R.adam_step(p, g, m, v, state["step"], lr=group["lr"], beta1=beta1, beta2=beta2,
                    eps=group["eps"], weight_decay=group["weight_decay"],
                    amsgrad=group["amsgrad"], max_exp_avg_sq=vmax,
                    decoupled_weight_decay=group["decoupled_weight_decay"],
                    epsilon_hat=group["epsilon_hat"], maximize=group["maximize"],
                    flush_subnormal_state=group["flush_subnormal_state"])


class AdamW(Adam):
    """Adam with decoupled weight decay, ``p *= 1 - lr*weight_decay`` before the step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, epsilon_hat=False,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         epsilon_hat=epsilon_hat, decoupled_weight_decay=True,
                         flush_subnormal_state=flush_subnormal_state)


class RMSprop(Optimizer):
    """RMSprop, plain, centered, with momentum (:func:`reference.optim.rmsprop_step`)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, eps_inside_sqrt=False, flush_subnormal_state=False,
                 n_threads=None):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      eps_inside_sqrt=eps_inside_sqrt,
                                      flush_subnormal_state=flush_subnormal_state))

    def _update(self, p, g, state, group):
        sq = self._zeros(state, "square_avg", p)
        avg = self._zeros(state, "grad_avg", p) if group["centered"] else None
        buf = self._zeros(state, "momentum_buffer", p) if group["momentum"] > 0 else None
        R.rmsprop_step(p, g, sq, state["step"], lr=group["lr"], alpha=group["alpha"],
                       eps=group["eps"], weight_decay=group["weight_decay"],
                       momentum=group["momentum"], centered=group["centered"], grad_avg=avg,
                       momentum_buffer=buf, eps_inside_sqrt=group["eps_inside_sqrt"],
                       flush_subnormal_state=group["flush_subnormal_state"])


class Adagrad(Optimizer):
    """Adagrad (:func:`reference.optim.adagrad_step`)."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, flush_subnormal_state=False,
                 n_threads=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, flush_subnormal_state=flush_subnormal_state))

    def _update(self, p, g, state, group):
        acc = self._zeros(state, "sum", p, group["initial_accumulator_value"])
        R.adagrad_step(p, g, acc, state["step"], lr=group["lr"], lr_decay=group["lr_decay"],
                       weight_decay=group["weight_decay"], eps=group["eps"],
                       flush_subnormal_state=group["flush_subnormal_state"])


class Adadelta(Optimizer):
    """Adadelta (:func:`reference.optim.adadelta_step`)."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      flush_subnormal_state=flush_subnormal_state))

    def _update(self, p, g, state, group):
        R.adadelta_step(p, g, self._zeros(state, "square_avg", p),
                        self._zeros(state, "acc_delta", p), state["step"], lr=group["lr"],
                        rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                        flush_subnormal_state=group["flush_subnormal_state"])


class Adamax(Optimizer):
    """Adamax (:func:`reference.optim.adamax_step`)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      flush_subnormal_state=flush_subnormal_state))

    def _update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        R.adamax_step(p, g, self._zeros(state, "exp_avg", p), self._zeros(state, "exp_inf", p),
                      state["step"], lr=group["lr"], beta1=beta1, beta2=beta2,
                      eps=group["eps"], weight_decay=group["weight_decay"],
                      flush_subnormal_state=group["flush_subnormal_state"])


class NAdam(Optimizer):
    """NAdam; ``mu_product`` is per-parameter state (:func:`reference.optim.nadam_step`)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      flush_subnormal_state=flush_subnormal_state))

    def _update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        m, v = self._zeros(state, "exp_avg", p), self._zeros(state, "exp_avg_sq", p)
        state["mu_product"] = R.nadam_step(
            p, g, m, v, state.get("mu_product", 1.0), state["step"], lr=group["lr"],
            beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
            momentum_decay=group["momentum_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
            flush_subnormal_state=group["flush_subnormal_state"])


class RAdam(Optimizer):
    """RAdam (:func:`reference.optim.radam_step`)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      flush_subnormal_state=flush_subnormal_state))

    def _update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        R.radam_step(p, g, self._zeros(state, "exp_avg", p), self._zeros(state, "exp_avg_sq", p),
                     state["step"], lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                     weight_decay=group["weight_decay"],
                     decoupled_weight_decay=group["decoupled_weight_decay"],
                     flush_subnormal_state=group["flush_subnormal_state"])


OPTIMIZERS = {c.__name__: c for c in (SGD, Momentum, Adam, AdamW, RMSprop, Adagrad, Adadelta,
                                      Adamax, NAdam, RAdam)}
