r"""Optimizer update rules in plain NumPy: the specification the C kernels mirror.

Each function updates ``param`` and its state arrays **in place** for one step and never
writes ``grad``. ``step`` is the 1-based number of the step being taken. Hyper-parameters
are Python floats so float32 arrays stay float32 (NumPy 2 treats Python scalars as weak);
the per-step scalars (bias corrections, effective learning rates) are computed once per
step in double precision, exactly as the C side's ``fg_prepare`` does, and each array
expression below is evaluated in the same order as the C loop, so for the same inputs the
fast path agrees with this file bit for bit.

Conventions (PyTorch's are the defaults; the others are named options):

* L2 ``weight_decay`` is added to the gradient (``g + wd*p``); AdamW instead shrinks the
  parameter first (``p *= 1 - lr*wd``).
* Momentum buffers in SGD start as a copy of the first gradient (``buffer_init="grad"``,
  PyTorch) or at zero (``"zeros"``); ``lr_in_momentum=True`` is the Keras/scikit-learn
  form ``v = mu*v - lr*g; p += v`` (the learning rate lives inside the buffer).
* RMSprop adds eps outside the square root (PyTorch); ``eps_inside_sqrt=True`` is Keras/TF.
* Adam's ``epsilon_hat=True`` is Keras/scikit-learn's form: the bias corrections are
  folded into the step size, ``lr_t = lr*sqrt(1-b2^t)/(1-b1^t)``, and eps is added to the
  raw ``sqrt(v)``.
* ``flush_subnormal_state=True`` (every rule; off by default, as in PyTorch): after the
  step, every state entry whose magnitude is below the dtype's smallest normal number
  (``np.finfo(dtype).tiny``) is set to +0.0 (:func:`flush_subnormal`). The parameter
  update of that step used the unflushed values; parameters and gradients are never
  flushed. Why: a moment that decays by beta each step (a weight whose gradient stays
  zero: dead ReLU units, zero input features) spends its last ~100 steps as a subnormal,
  and subnormal arithmetic is many times slower on x86 CPUs; flushing them changes
  nothing above the subnormal range.
"""
import math

import numpy as np

__all__ = [
    "sgd_step", "momentum_step", "adam_step", "rmsprop_step", "adagrad_step",
    "adadelta_step", "adamax_step", "nadam_step", "radam_step", "flush_subnormal",
]


def flush_subnormal(*states):
    """Set every entry of each array (None is skipped) whose magnitude is below its
    dtype's smallest normal number to +0.0, in place: subnormals and -0.0 become +0.0;
    NaN and inf are kept."""
    for a in states:
        if a is not None:
            a[np.abs(a) < np.finfo(a.dtype).tiny] = 0.0


def _signed(grad, maximize):
    return -grad if maximize else grad


def _weight_decay(param, grad, lr, weight_decay, decoupled):
    r"""L2 (:math:`g + \lambda p`, returned) or, decoupled as in AdamW,
    :math:`p \leftarrow p(1-\eta\lambda)` in place (``grad`` returned unchanged)."""
    if weight_decay == 0.0:
        return grad
    if decoupled:
        param *= 1.0 - lr * weight_decay
        return grad
    return grad + weight_decay * param


def _update_moments(exp_avg, exp_avg_sq, grad, beta1, beta2):
    r""":math:`m \leftarrow \beta_1 m + (1-\beta_1) g`,
    :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`, in place."""
    exp_avg *= beta1
    exp_avg += (1.0 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * (grad * grad)


def sgd_step(param, grad, momentum_buffer, step, *, lr, momentum=0.0, dampening=0.0,
             nesterov=False, weight_decay=0.0, maximize=False, buffer_init="grad",
             lr_in_momentum=False, flush_subnormal_state=False):
    r"""SGD with optional (Nesterov) momentum.

    PyTorch form: :math:`g \leftarrow g + \lambda p`;
    :math:`b_t = \mu b_{t-1} + (1-\tau) g` (with :math:`b_1 = g` when
    ``buffer_init="grad"``, :math:`b_0 = 0` when ``"zeros"``);
    :math:`p \leftarrow p - \eta (g + \mu b_t)` if Nesterov else :math:`p - \eta b_t`.

    Keras/scikit-learn form (``lr_in_momentum=True``): :math:`v_t = \mu v_{t-1} - \eta g`,
    :math:`p \leftarrow p + \mu v_t - \eta g` if Nesterov else :math:`p + v_t`.
    """
    g = _signed(grad, maximize)
    if weight_decay != 0.0:
        g = g + weight_decay * param
    if momentum == 0.0:
        param -= lr * g
        return
    buf = momentum_buffer
    if lr_in_momentum:
        buf *= momentum
        buf -= lr * g
        if nesterov:
            param += momentum * buf - lr * g
        else:
            param += buf
    else:
        if step == 1 and buffer_init == "grad":
            buf[...] = g
        else:
            buf *= momentum
            buf += (1.0 - dampening) * g
        if nesterov:
            param -= lr * (g + momentum * buf)
        else:
            param -= lr * buf
    if flush_subnormal_state:
        flush_subnormal(buf)


def momentum_step(param, grad, velocity, step, *, lr, beta=0.9, bias_correction=False,
                  buffer_init="zeros", flush_subnormal_state=False):
    r"""The lesson's momentum: an exponentially weighted average of gradients.

    :math:`v_t = \beta v_{t-1} + (1-\beta) g` from :math:`v_0 = 0` (or :math:`v_1 = g`
    with ``buffer_init="grad"``); :math:`p \leftarrow p - (\eta / c_t) v_t` where
    :math:`c_t = 1-\beta^t` with ``bias_correction`` and 1 otherwise.
    """
    if step == 1 and buffer_init == "grad":
        velocity[...] = grad
    else:
        velocity *= beta
        velocity += (1.0 - beta) * grad
    scale = lr / (1.0 - beta ** step) if bias_correction else lr
    param -= scale * velocity
    if flush_subnormal_state:
        flush_subnormal(velocity)


def adam_step(param, grad, exp_avg, exp_avg_sq, step, *, lr, beta1=0.9, beta2=0.999,
              eps=1e-8, weight_decay=0.0, amsgrad=False, max_exp_avg_sq=None,
              decoupled_weight_decay=False, epsilon_hat=False, maximize=False,
              flush_subnormal_state=False):
    r"""Adam / AdamW / AMSGrad.

    :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g`,
    :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g^2`,
    :math:`p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,
    \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}`.
    AMSGrad uses :math:`\hat v_t = \max(\hat v_{t-1}, v_t)` in place of :math:`v_t`.
    AdamW (``decoupled_weight_decay``) first does :math:`p \leftarrow p(1-\eta\lambda)`.
    ``epsilon_hat``: :math:`p \leftarrow p - \eta\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
    \frac{m_t}{\sqrt{v_t}+\hat\epsilon}`.
    """
    g = _signed(grad, maximize)
    g = _weight_decay(param, g, lr, weight_decay, decoupled_weight_decay)
    _update_moments(exp_avg, exp_avg_sq, g, beta1, beta2)
    second = exp_avg_sq
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    if epsilon_hat:
        lr_t = lr * math.sqrt(bias_correction2) / bias_correction1
        param -= lr_t * (exp_avg / (np.sqrt(second) + eps))
    else:
        step_size = lr / bias_correction1
        denom = np.sqrt(second) / math.sqrt(bias_correction2) + eps
        param -= step_size * (exp_avg / denom)
    if flush_subnormal_state:
        flush_subnormal(exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None)


def rmsprop_step(param, grad, square_avg, step, *, lr=1e-2, alpha=0.99, eps=1e-8,
                 weight_decay=0.0, momentum=0.0, centered=False, grad_avg=None,
                 momentum_buffer=None, eps_inside_sqrt=False, flush_subnormal_state=False):
    r"""RMSprop.

    :math:`s_t = \alpha s_{t-1} + (1-\alpha) g^2`; centered also keeps
    :math:`a_t = \alpha a_{t-1} + (1-\alpha) g` and uses :math:`s_t - a_t^2`;
    :math:`d = \sqrt{s} + \epsilon` (PyTorch) or :math:`\sqrt{s + \epsilon}` (Keras/TF);
    with momentum :math:`b_t = \mu b_{t-1} + g/d`, :math:`p \leftarrow p - \eta b_t`,
    else :math:`p \leftarrow p - \eta\, g/d`.
    """
    g = grad
    if weight_decay != 0.0:
        g = g + weight_decay * param
    square_avg *= alpha
    square_avg += (1.0 - alpha) * (g * g)
    if centered:
        grad_avg *= alpha
        grad_avg += (1.0 - alpha) * g
        var = square_avg - grad_avg * grad_avg
    else:
        var = square_avg
    denom = np.sqrt(var + eps) if eps_inside_sqrt else np.sqrt(var) + eps
    if momentum > 0.0:
        momentum_buffer *= momentum
        momentum_buffer += g / denom
        param -= lr * momentum_buffer
    else:
        param -= lr * (g / denom)
    if flush_subnormal_state:
        flush_subnormal(square_avg, grad_avg if centered else None,
                        momentum_buffer if momentum > 0.0 else None)


def adagrad_step(param, grad, sum_sq, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 eps=1e-10, flush_subnormal_state=False):
    r"""Adagrad: :math:`S_t = S_{t-1} + g^2`,
    :math:`p \leftarrow p - \frac{\eta}{1+(t-1)\delta}\,\frac{g}{\sqrt{S_t}+\epsilon}`."""
    g = grad
    if weight_decay != 0.0:
        g = g + weight_decay * param
    clr = lr / (1.0 + (step - 1) * lr_decay)
    sum_sq += g * g
    param -= clr * (g / (np.sqrt(sum_sq) + eps))
    if flush_subnormal_state:
        flush_subnormal(sum_sq)


def adadelta_step(param, grad, square_avg, acc_delta, step, *, lr=1.0, rho=0.9, eps=1e-6,
                  weight_decay=0.0, flush_subnormal_state=False):
    r"""Adadelta: :math:`s_t = \rho s_{t-1} + (1-\rho) g^2`,
    :math:`\Delta = \frac{\sqrt{u_{t-1}+\epsilon}}{\sqrt{s_t+\epsilon}} g`,
    :math:`u_t = \rho u_{t-1} + (1-\rho)\Delta^2`, :math:`p \leftarrow p - \eta\Delta`."""
    g = grad
    if weight_decay != 0.0:
        g = g + weight_decay * param
    square_avg *= rho
    square_avg += (1.0 - rho) * (g * g)
    delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
    acc_delta *= rho
    acc_delta += (1.0 - rho) * (delta * delta)
    param -= lr * delta
    if flush_subnormal_state:
        flush_subnormal(square_avg, acc_delta)


def adamax_step(param, grad, exp_avg, exp_inf, step, *, lr=2e-3, beta1=0.9, beta2=0.999,
                eps=1e-8, weight_decay=0.0, flush_subnormal_state=False):
    r"""Adamax: :math:`m_t = \beta_1 m + (1-\beta_1) g`,
    :math:`u_t = \max(\beta_2 u_{t-1}, |g| + \epsilon)`,
    :math:`p \leftarrow p - \frac{\eta}{1-\beta_1^t}\frac{m_t}{u_t}`."""
    g = grad
    if weight_decay != 0.0:
        g = g + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1.0 - beta1) * g
    np.maximum(beta2 * exp_inf, np.abs(g) + eps, out=exp_inf)
    clr = lr / (1.0 - beta1 ** step)
    param -= clr * (exp_avg / exp_inf)
    if flush_subnormal_state:
        flush_subnormal(exp_avg, exp_inf)


def nadam_mu(step, beta1, momentum_decay):
    """NAdam's momentum schedule mu_t = beta1 (1 - 0.5 * 0.96^(t * psi))."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


def nadam_step(param, grad, exp_avg, exp_avg_sq, mu_product, step, *, lr=2e-3, beta1=0.9,
               beta2=0.999, eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
               decoupled_weight_decay=False, flush_subnormal_state=False):
    r"""NAdam (Dozat 2016, PyTorch's form). ``mu_product`` is the running product
    :math:`\prod_{i\le t-1}\mu_i` (1.0 before the first step); returns the new product.

    :math:`d = \sqrt{v_t/(1-\beta_2^t)} + \epsilon`,
    :math:`p \leftarrow p - \eta\frac{1-\mu_t}{1-\Pi_t}\frac{g}{d}
    - \eta\frac{\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\frac{m_t}{d}`.
    """
    g = grad
    g = _weight_decay(param, g, lr, weight_decay, decoupled_weight_decay)
    mu = nadam_mu(step, beta1, momentum_decay)
    mu_next = nadam_mu(step + 1, beta1, momentum_decay)
    mu_product = mu_product * mu
    _update_moments(exp_avg, exp_avg_sq, g, beta1, beta2)
    denom = np.sqrt(exp_avg_sq / (1.0 - beta2 ** step)) + eps
    param -= (lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
    param -= (lr * mu_next / (1.0 - mu_product * mu_next)) * (exp_avg / denom)
    if flush_subnormal_state:
        flush_subnormal(exp_avg, exp_avg_sq)
    return mu_product


def radam_rectification(step, beta2):
    """RAdam's variance rectification term r_t, or None while rho_t <= 5."""
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    beta2_t = beta2 ** step
    rho_t = rho_inf - 2.0 * step * beta2_t / (1.0 - beta2_t)
    if rho_t <= 5.0:
        return None
    return math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                     / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))


def radam_step(param, grad, exp_avg, exp_avg_sq, step, *, lr=1e-3, beta1=0.9, beta2=0.999,
               eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
               flush_subnormal_state=False):
    r"""RAdam: Adam whose adaptive term is switched on, rectified, once the variance of
    the adaptive learning rate is tractable (:math:`\rho_t > 5`):
    :math:`p \leftarrow p - \eta\, r_t\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
    \frac{m_t}{\sqrt{v_t}+\epsilon}`, else :math:`p \leftarrow p - \frac{\eta}{1-\beta_1^t} m_t`.
    """
    g = grad
    g = _weight_decay(param, g, lr, weight_decay, decoupled_weight_decay)
    _update_moments(exp_avg, exp_avg_sq, g, beta1, beta2)
    bias_correction1 = 1.0 - beta1 ** step
    rect = radam_rectification(step, beta2)
    if rect is None:
        param -= (lr / bias_correction1) * exp_avg
    else:
        scale = lr * rect * math.sqrt(1.0 - beta2 ** step) / bias_correction1
        param -= scale * (exp_avg / (np.sqrt(exp_avg_sq) + eps))
    if flush_subnormal_state:
        flush_subnormal(exp_avg, exp_avg_sq)
