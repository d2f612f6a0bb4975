"""The optimizers. Names, arguments, defaults and updates of the classes named like
PyTorch's equal ``torch.optim``'s; the extra keyword-only options select the other
frameworks' conventions (see the README's conventions table). Each class only maps its
hyper-parameters onto the C rule; the formulas are in fastgd/reference/optim.py.
"""
from fastgd.optim import _optim  # noqa: F401  (the extension must load before any class is used)
from fastgd.optim.base import Optimizer, _check_nonneg, check_choice, check_unit_interval

# Rule ids: the fg_rule enum of csrc/fg_optim.h.
SGD_RULE, MOMENTUM_RULE, ADAM_RULE, RMSPROP_RULE, ADAGRAD_RULE = 0, 1, 2, 3, 4
ADADELTA_RULE, ADAMAX_RULE, NADAM_RULE, RADAM_RULE = 5, 6, 7, 8

_BUFFER_INITS = ("grad", "zeros")


def _pair(betas):
    """A list or tuple as a tuple; anything else as is, for _validate_group to reject by name."""
    return tuple(betas) if isinstance(betas, (list, tuple)) else betas


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``buffer_init="grad"`` (PyTorch) seeds the momentum buffer with the first gradient;
    ``"zeros"`` starts it at zero. ``lr_in_momentum=True`` is Keras/scikit-learn's
    ``v = momentum*v - lr*g; p += v``.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, buffer_init="grad", lr_in_momentum=False,
                 n_threads=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        buffer_init=buffer_init, lr_in_momentum=lr_in_momentum)
        super().__init__(params, defaults, n_threads)

    def _validate_group(self, group):
        super()._validate_group(group)
        _check_nonneg(group, "momentum")
        _check_nonneg(group, "dampening")
        check_choice(group, "buffer_init", _BUFFER_INITS)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov: Nesterov momentum requires momentum > 0 and dampening = 0")

    def _state_layout(self, group):
        return ("momentum_buffer" if group["momentum"] != 0 else None, None, None)

    def _hyper(self, group):
        return dict(rule=SGD_RULE, lr=group["lr"], momentum=group["momentum"],
                    dampening=group["dampening"], weight_decay=group["weight_decay"],
                    nesterov=group["nesterov"], maximize=group["maximize"],
                    buffer_init_grad=group["buffer_init"] == "grad",
                    lr_in_momentum=group["lr_in_momentum"])


class Momentum(Optimizer):
    """The lesson's momentum: ``v = beta*v + (1-beta)*g; p -= lr*v`` (v starts at zero, or
    at the first gradient with ``buffer_init="grad"``), optionally bias-corrected."""

    def __init__(self, params, lr=1e-2, beta=0.9, bias_correction=False, *,
                 buffer_init="zeros", n_threads=None):
        defaults = dict(lr=lr, beta=beta, bias_correction=bias_correction,
                        buffer_init=buffer_init)
        super().__init__(params, defaults, n_threads)

    def _validate_group(self, group):
        super()._validate_group(group)
        check_unit_interval(group, "beta")
        check_choice(group, "buffer_init", _BUFFER_INITS)

    def _state_layout(self, group):
        return ("velocity", None, None)

    def _hyper(self, group):
        return dict(rule=MOMENTUM_RULE, lr=group["lr"], momentum=group["beta"],
                    bias_correction=group["bias_correction"],
                    buffer_init_grad=group["buffer_init"] == "grad")


class Adam(Optimizer):
    """Adam (AMSGrad with ``amsgrad=True``). ``epsilon_hat=True`` is Keras/scikit-learn's
    form (bias corrections folded into the step size, eps added to the raw sqrt(v));
    ``decoupled_weight_decay=True`` makes it AdamW."""

    _decoupled_default = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, epsilon_hat=False,
                 decoupled_weight_decay=None, n_threads=None):
        if decoupled_weight_decay is None:
            decoupled_weight_decay = self._decoupled_default
        defaults = dict(lr=lr, betas=_pair(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, epsilon_hat=epsilon_hat,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults, n_threads)

    def _state_layout(self, group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq" if group["amsgrad"] else None)

    def _hyper(self, group):
        beta1, beta2 = group["betas"]
        return dict(rule=ADAM_RULE, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
                    maximize=group["maximize"], epsilon_hat=group["epsilon_hat"],
                    decoupled_weight_decay=group["decoupled_weight_decay"])


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr*weight_decay`` before the step."""

    _decoupled_default = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, epsilon_hat=False, n_threads=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         epsilon_hat=epsilon_hat, decoupled_weight_decay=True,
                         n_threads=n_threads)


class RMSprop(Optimizer):
    """RMSprop. ``eps_inside_sqrt=True`` is Keras/TensorFlow's sqrt(s + eps)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, eps_inside_sqrt=False, n_threads=None):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, eps_inside_sqrt=eps_inside_sqrt)
        super().__init__(params, defaults, n_threads)

    def _validate_group(self, group):
        super()._validate_group(group)
        check_unit_interval(group, "alpha", closed=True)
        _check_nonneg(group, "momentum")

    def _state_layout(self, group):
        return ("square_avg", "grad_avg" if group["centered"] else None,
                "momentum_buffer" if group["momentum"] > 0 else None)

    def _hyper(self, group):
        return dict(rule=RMSPROP_RULE, lr=group["lr"], beta2=group["alpha"], eps=group["eps"],
                    weight_decay=group["weight_decay"], momentum=group["momentum"],
                    centered=group["centered"], eps_inside_sqrt=group["eps_inside_sqrt"])


class Adagrad(Optimizer):
    """Adagrad: a per-coordinate sum of squared gradients scales the step."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, n_threads=None):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, defaults, n_threads)

    def _validate_group(self, group):
        super()._validate_group(group)
        _check_nonneg(group, "lr_decay")
        _check_nonneg(group, "initial_accumulator_value")

    def _state_layout(self, group):
        return ("sum", None, None)

    def _state_init(self, name, group):
        return group["initial_accumulator_value"]

    def _hyper(self, group):
        return dict(rule=ADAGRAD_RULE, lr=group["lr"], lr_decay=group["lr_decay"],
                    weight_decay=group["weight_decay"], eps=group["eps"])


class Adadelta(Optimizer):
    """Adadelta: steps scaled by the ratio of running RMS of updates and of gradients."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, n_threads=None):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults, n_threads)

    def _validate_group(self, group):
        super()._validate_group(group)
        check_unit_interval(group, "rho", closed=True)

    def _state_layout(self, group):
        return ("square_avg", "acc_delta", None)

    def _hyper(self, group):
        return dict(rule=ADADELTA_RULE, lr=group["lr"], beta2=group["rho"], eps=group["eps"],
                    weight_decay=group["weight_decay"])


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm in place of the second moment."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 n_threads=None):
        defaults = dict(lr=lr, betas=_pair(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults, n_threads)

    def _state_layout(self, group):
        return ("exp_avg", "exp_inf", None)

    def _hyper(self, group):
        beta1, beta2 = group["betas"]
        return dict(rule=ADAMAX_RULE, lr=group["lr"], beta1=beta1, beta2=beta2,
                    eps=group["eps"], weight_decay=group["weight_decay"])


class NAdam(Optimizer):
    """NAdam: Adam with Nesterov momentum and the momentum-decay schedule of Dozat (2016)."""

    _keeps_mu_product = True

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, n_threads=None):
        defaults = dict(lr=lr, betas=_pair(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults, n_threads)

    def _validate_group(self, group):
        super()._validate_group(group)
        _check_nonneg(group, "momentum_decay")

    def _state_layout(self, group):
        return ("exp_avg", "exp_avg_sq", None)

    def _hyper(self, group):
        beta1, beta2 = group["betas"]
        return dict(rule=NADAM_RULE, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"], momentum_decay=group["momentum_decay"],
                    decoupled_weight_decay=group["decoupled_weight_decay"])


class RAdam(Optimizer):
    """RAdam: Adam with the variance of its adaptive step rectified early on."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, n_threads=None):
        defaults = dict(lr=lr, betas=_pair(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults, n_threads)

    def _state_layout(self, group):
        return ("exp_avg", "exp_avg_sq", None)

    def _hyper(self, group):
        beta1, beta2 = group["betas"]
        return dict(rule=RADAM_RULE, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"],
                    decoupled_weight_decay=group["decoupled_weight_decay"])


OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Momentum, Adam, AdamW, RMSprop, Adagrad,
                                            Adadelta, Adamax, NAdam, RAdam)}
