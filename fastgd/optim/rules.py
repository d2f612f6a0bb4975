"""The optimizers. Names, arguments, defaults and updates of the classes named like
PyTorch's equal ``torch.optim``'s; the extra keyword-only options select the other
frameworks' conventions (see the README's conventions table). Each class is its row of
fastgd/optim/table.py (the C rule, its state, how each option reaches the kernel) plus a
signature; the formulas are in fastgd/reference/optim.py.

Every class also takes ``flush_subnormal_state=False`` (keyword-only): with True, state
entries below the dtype's smallest normal become +0 after each step
(``fastgd.reference.optim.flush_subnormal``); off, the bits are torch's.
"""
from fastgd.optim.base import Optimizer
from fastgd.optim.table import by_class


def _pair(betas):
    """A list or tuple as a tuple; anything else as is, for the checks to reject by name."""
    return tuple(betas) if isinstance(betas, (list, tuple)) else betas


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``buffer_init="grad"`` (PyTorch) seeds the momentum buffer with the first gradient;
    ``"zeros"`` starts it at zero. ``lr_in_momentum=True`` is Keras/scikit-learn's
    ``v = momentum*v - lr*g; p += v``.
    """
    _row = by_class("SGD")

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, buffer_init="grad", lr_in_momentum=False,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, buffer_init=buffer_init,
                                      lr_in_momentum=lr_in_momentum,
                                      flush_subnormal_state=flush_subnormal_state), n_threads)


class Momentum(Optimizer):
    """The lesson's momentum: ``v = beta*v + (1-beta)*g; p -= lr*v`` (v starts at zero, or
    at the first gradient with ``buffer_init="grad"``), optionally bias-corrected."""
    _row = by_class("Momentum")

    def __init__(self, params, lr=1e-2, beta=0.9, bias_correction=False, *,
                 buffer_init="zeros", flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, beta=beta, bias_correction=bias_correction,
                                      buffer_init=buffer_init,
                                      flush_subnormal_state=flush_subnormal_state), n_threads)


class Adam(Optimizer):
    """Adam (AMSGrad with ``amsgrad=True``). ``epsilon_hat=True`` is Keras/scikit-learn's
    form (bias corrections folded into the step size, eps added to the raw sqrt(v));
    ``decoupled_weight_decay=True`` makes it AdamW."""
    _row = by_class("Adam")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, epsilon_hat=False,
                 decoupled_weight_decay=False, flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, betas=_pair(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, epsilon_hat=epsilon_hat,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      flush_subnormal_state=flush_subnormal_state),
                         n_threads)


class AdamW(Optimizer):
    """Adam with decoupled weight decay: ``p *= 1 - lr*weight_decay`` before the step."""
    _row = by_class("AdamW")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, epsilon_hat=False,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, betas=_pair(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, epsilon_hat=epsilon_hat,
                                      flush_subnormal_state=flush_subnormal_state),
                         n_threads)


class RMSprop(Optimizer):
    """RMSprop. ``eps_inside_sqrt=True`` is Keras/TensorFlow's sqrt(s + eps)."""
    _row = by_class("RMSprop")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, eps_inside_sqrt=False,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      eps_inside_sqrt=eps_inside_sqrt,
                                      flush_subnormal_state=flush_subnormal_state), n_threads)


class Adagrad(Optimizer):
    """Adagrad: a per-coordinate sum of squared gradients scales the step."""
    _row = by_class("Adagrad")

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps,
                                      flush_subnormal_state=flush_subnormal_state), n_threads)


class Adadelta(Optimizer):
    """Adadelta: steps scaled by the ratio of running RMS of updates and of gradients."""
    _row = by_class("Adadelta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      flush_subnormal_state=flush_subnormal_state),
                         n_threads)


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm in place of the second moment."""
    _row = by_class("Adamax")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, betas=_pair(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      flush_subnormal_state=flush_subnormal_state), n_threads)


class NAdam(Optimizer):
    """NAdam: Adam with Nesterov momentum and the momentum-decay schedule of Dozat (2016)."""
    _row = by_class("NAdam")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *,
                 flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, betas=_pair(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      flush_subnormal_state=flush_subnormal_state),
                         n_threads)


class RAdam(Optimizer):
    """RAdam: Adam with the variance of its adaptive step rectified early on."""
    _row = by_class("RAdam")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, flush_subnormal_state=False, n_threads=None):
        super().__init__(params, dict(lr=lr, betas=_pair(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      flush_subnormal_state=flush_subnormal_state),
                         n_threads)


OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Momentum, Adam, AdamW, RMSprop, Adagrad,
                                            Adadelta, Adamax, NAdam, RAdam)}
