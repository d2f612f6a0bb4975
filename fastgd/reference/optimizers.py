"""The optimizer classes, stepping through the NumPy rules instead of the C kernels.

``fastgd.reference.Adam`` is ``fastgd.Adam`` with one difference: ``_apply`` calls
``reference.optim.adam_step`` per parameter. Everything else (param groups, state layout,
state_dict) is shared, so tests compare only what differs: the arithmetic.
"""
from fastgd.optim import rules
from fastgd.reference import optim as R


def _adam(p, g, s, step, h, mu):
    R.adam_step(p, g, s[0], s[1], step, lr=h["lr"], beta1=h["beta1"], beta2=h["beta2"],
                eps=h["eps"], weight_decay=h["weight_decay"], amsgrad=h["amsgrad"],
                max_exp_avg_sq=s[2], decoupled_weight_decay=h["decoupled_weight_decay"],
                epsilon_hat=h["epsilon_hat"], maximize=h["maximize"])
    return mu


def _sgd(p, g, s, step, h, mu):
    R.sgd_step(p, g, s[0], step, lr=h["lr"], momentum=h["momentum"],
               dampening=h["dampening"], nesterov=h["nesterov"],
               weight_decay=h["weight_decay"], maximize=h["maximize"],
               buffer_init="grad" if h["buffer_init_grad"] else "zeros",
               lr_in_momentum=h["lr_in_momentum"])
    return mu


def _momentum(p, g, s, step, h, mu):
    R.momentum_step(p, g, s[0], step, lr=h["lr"], beta=h["momentum"],
                    bias_correction=h["bias_correction"],
                    buffer_init="grad" if h["buffer_init_grad"] else "zeros")
    return mu


def _rmsprop(p, g, s, step, h, mu):
    R.rmsprop_step(p, g, s[0], step, lr=h["lr"], alpha=h["beta2"], eps=h["eps"],
                   weight_decay=h["weight_decay"], momentum=h["momentum"],
                   centered=h["centered"], grad_avg=s[1], momentum_buffer=s[2],
                   eps_inside_sqrt=h["eps_inside_sqrt"])
    return mu


def _adagrad(p, g, s, step, h, mu):
    R.adagrad_step(p, g, s[0], step, lr=h["lr"], lr_decay=h["lr_decay"],
                   weight_decay=h["weight_decay"], eps=h["eps"])
    return mu


def _adadelta(p, g, s, step, h, mu):
    R.adadelta_step(p, g, s[0], s[1], step, lr=h["lr"], rho=h["beta2"], eps=h["eps"],
                    weight_decay=h["weight_decay"])
    return mu


def _adamax(p, g, s, step, h, mu):
    R.adamax_step(p, g, s[0], s[1], step, lr=h["lr"], beta1=h["beta1"], beta2=h["beta2"],
                  eps=h["eps"], weight_decay=h["weight_decay"])
    return mu


def _nadam(p, g, s, step, h, mu):
    return R.nadam_step(p, g, s[0], s[1], mu, step, lr=h["lr"], beta1=h["beta1"],
                        beta2=h["beta2"], eps=h["eps"], weight_decay=h["weight_decay"],
                        momentum_decay=h["momentum_decay"],
                        decoupled_weight_decay=h["decoupled_weight_decay"])


def _radam(p, g, s, step, h, mu):
    R.radam_step(p, g, s[0], s[1], step, lr=h["lr"], beta1=h["beta1"], beta2=h["beta2"],
                 eps=h["eps"], weight_decay=h["weight_decay"],
                 decoupled_weight_decay=h["decoupled_weight_decay"])
    return mu


_RULES = {rules.SGD_RULE: _sgd, rules.MOMENTUM_RULE: _momentum, rules.ADAM_RULE: _adam,
          rules.RMSPROP_RULE: _rmsprop, rules.ADAGRAD_RULE: _adagrad,
          rules.ADADELTA_RULE: _adadelta, rules.ADAMAX_RULE: _adamax,
          rules.NADAM_RULE: _nadam, rules.RADAM_RULE: _radam}

_HYPER_DEFAULTS = dict(lr=0.0, momentum=0.0, dampening=0.0, weight_decay=0.0, beta1=0.0,
                       beta2=0.0, eps=0.0, lr_decay=0.0, momentum_decay=0.0, nesterov=False,
                       maximize=False, amsgrad=False, centered=False,
                       decoupled_weight_decay=False, eps_inside_sqrt=False, epsilon_hat=False,
                       lr_in_momentum=False, bias_correction=False, buffer_init_grad=False,
                       mu_product=1.0)


def apply(hyper, params, grads, state, n_threads=1):
    """Same contract as ``fastgd.optim._optim.step_group``, one parameter at a time in NumPy."""
    h = {**_HYPER_DEFAULTS, **hyper}
    rule = _RULES[h["rule"]]
    step, mu_in, mu_out, off = h["step"], h["mu_product"], h["mu_product"], 0
    for p, g in zip(params, grads):
        views = [None if b is None else b[off:off + p.size].reshape(p.shape) for b in state]
        off += p.size
        mu_out = rule(p, g, views, step, h, mu_in)
    if h["rule"] == rules.NADAM_RULE and not params:
        mu_out = R.nadam_mu(step, h["beta1"], h["momentum_decay"]) * mu_in
    return mu_out


def _twin(cls):
    return type(cls.__name__, (cls,), {"_apply": staticmethod(apply),
                                       "__module__": __name__,
                                       "__doc__": f"{cls.__name__} stepping in NumPy."})


SGD = _twin(rules.SGD)
Momentum = _twin(rules.Momentum)
Adam = _twin(rules.Adam)
AdamW = _twin(rules.AdamW)
RMSprop = _twin(rules.RMSprop)
Adagrad = _twin(rules.Adagrad)
Adadelta = _twin(rules.Adadelta)
Adamax = _twin(rules.Adamax)
NAdam = _twin(rules.NAdam)
RAdam = _twin(rules.RAdam)

OPTIMIZERS = {c.__name__: c for c in (SGD, Momentum, Adam, AdamW, RMSprop, Adagrad, Adadelta,
                                      Adamax, NAdam, RAdam)}
