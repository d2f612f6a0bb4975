"""The NumPy reference re-derived by hand, and convergence of every optimizer.

test_optim_parity holds the C kernels to fastgd/reference/optim.py; this file holds the
reference to the formulas themselves: a few updates of each rule worked out on scalars,
the conventions it documents (where eps goes, bias correction, the first momentum step,
RAdam's warm-up, NAdam's momentum schedule), and convergence on a parabola and Rosenbrock.
"""
import math

import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.lab.surfaces import Rosenbrock
from fastgd.reference import optim as R


def _arrays(*values, dtype=np.float64):
    return [np.array([v], dtype=dtype) for v in values]


def _close(actual, expected, rtol=1e-14, atol=0.0):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- Adam
@pytest.mark.parametrize("g", [0.3, -2.0, 1e-3, 50.0])
def test_adam_first_step_is_lr_times_sign_of_grad(g):
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    p, grad, m, v = _arrays(1.0, g, 0.0, 0.0)
    R.adam_step(p, grad, m, v, 1, lr=lr, beta1=b1, beta2=b2, eps=eps)
    _close(m, (1 - b1) * g)
    _close(v, (1 - b2) * g * g)
    # m_hat = g, v_hat = g^2: the step is lr * g / (|g| + eps), i.e. lr * sign(g)
    _close(p, 1.0 - lr * g / (abs(g) + eps))
    _close(p, 1.0 - lr * math.copysign(1.0, g), atol=lr * eps / abs(g) * 1.01)


def test_adam_two_steps_by_hand_and_scale_invariance():
    lr, b1, b2, eps = 0.05, 0.8, 0.99, 1e-8
    g1, g2 = 0.5, -1.5
    p, m, v = _arrays(2.0, 0.0, 0.0)
    for t, g in enumerate((g1, g2), start=1):
        R.adam_step(p, np.array([g]), m, v, t, lr=lr, beta1=b1, beta2=b2, eps=eps)
    m2 = b1 * (1 - b1) * g1 + (1 - b1) * g2
    v2 = b2 * (1 - b2) * g1 ** 2 + (1 - b2) * g2 ** 2
    p1 = 2.0 - lr * g1 / (abs(g1) + eps)
    p2 = p1 - lr / (1 - b1 ** 2) * m2 / (math.sqrt(v2) / math.sqrt(1 - b2 ** 2) + eps)
    _close(m, m2)
    _close(v, v2)
    _close(p, p2)
    # Adam's step does not depend on the gradients' scale (up to eps)
    q, m, v = _arrays(2.0, 0.0, 0.0)
    for t, g in enumerate((g1, g2), start=1):
        R.adam_step(q, np.array([1e3 * g]), m, v, t, lr=lr, beta1=b1, beta2=b2, eps=eps)
    _close(q, p, rtol=1e-9)


def test_adam_weight_decay_l2_versus_decoupled():
    lr, wd, g = 0.1, 0.2, 0.4
    p, m, v = _arrays(3.0, 0.0, 0.0)
    R.adam_step(p, np.array([g]), m, v, 1, lr=lr, weight_decay=wd)
    ge = g + wd * 3.0                 # L2: the decay enters the gradient, then normalised away
    _close(m, 0.1 * ge)
    _close(p, 3.0 - lr * ge / (abs(ge) + 1e-8))
    p, m, v = _arrays(3.0, 0.0, 0.0)
    R.adam_step(p, np.array([g]), m, v, 1, lr=lr, weight_decay=wd, decoupled_weight_decay=True)
    _close(m, 0.1 * g)                # AdamW: the gradient is untouched, p shrinks first
    _close(p, 3.0 * (1 - lr * wd) - lr * g / (abs(g) + 1e-8))


def test_adam_amsgrad_uses_the_running_max():
    lr, b2 = 0.1, 0.5
    p, m, v, vmax = _arrays(0.0, 0.0, 0.0, 0.0)
    for t, g in enumerate((4.0, 0.1), start=1):
        R.adam_step(p, np.array([g]), m, v, t, lr=lr, beta1=0.0, beta2=b2, amsgrad=True,
                    max_exp_avg_sq=vmax, eps=0.0)
    v1, v2 = 0.5 * 16.0, 0.5 * 0.5 * 16.0 + 0.5 * 0.01
    _close(v, v2)
    _close(vmax, max(v1, v2))
    step2 = lr * 0.1 / (math.sqrt(max(v1, v2)) / math.sqrt(1 - b2 ** 2))
    _close(p, -lr - step2)


@pytest.mark.parametrize("t", [1, 3])
def test_epsilon_hat_versus_pytorch_form(t):
    """PyTorch: lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). Keras/scikit-learn (epsilon_hat):
    lr*sqrt(bc2)/bc1 * m / (sqrt(v) + eps_hat). Algebraically the same rule with
    eps = eps_hat / sqrt(bc2): the hat form's effective eps is larger early on."""
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-3
    m0, v0 = (0.0, 0.0) if t == 1 else (0.02, 3e-6)
    g = 1e-3
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    m = b1 * m0 + (1 - b1) * g
    v = b2 * v0 + (1 - b2) * g * g
    torch_form = 1.0 - lr / bc1 * m / (math.sqrt(v) / math.sqrt(bc2) + eps)
    hat_form = 1.0 - lr * math.sqrt(bc2) / bc1 * m / (math.sqrt(v) + eps)

    def run(**kw):
        p, mm, vv = _arrays(1.0, m0, v0)
        R.adam_step(p, np.array([g]), mm, vv, t, lr=lr, beta1=b1, beta2=b2, **kw)
        return p[0]

    _close(run(eps=eps), torch_form)
    _close(run(eps=eps, epsilon_hat=True), hat_form)
    assert abs(torch_form - hat_form) > 1e-3 * abs(1.0 - torch_form)   # they differ here
    _close(run(eps=eps / math.sqrt(bc2)), hat_form, rtol=1e-13)          # ... as documented


# ----------------------------------------------------------------------------- SGD
@pytest.mark.parametrize("dampening", [0.0, 0.2])
def test_sgd_momentum_first_two_steps(dampening):
    lr, mu, g1, g2 = 0.1, 0.9, 0.5, -1.0
    p, buf = _arrays(1.0, 0.0)
    R.sgd_step(p, np.array([g1]), buf, 1, lr=lr, momentum=mu, dampening=dampening)
    _close(buf, g1)                                  # PyTorch: b_1 = g_1, no dampening
    _close(p, 1.0 - lr * g1)
    R.sgd_step(p, np.array([g2]), buf, 2, lr=lr, momentum=mu, dampening=dampening)
    b2 = mu * g1 + (1 - dampening) * g2
    _close(buf, b2)
    _close(p, 1.0 - lr * g1 - lr * b2)
    # buffer_init="zeros": b_1 = (1 - dampening) g_1
    p, buf = _arrays(1.0, 0.0)
    R.sgd_step(p, np.array([g1]), buf, 1, lr=lr, momentum=mu, dampening=dampening,
               buffer_init="zeros")
    _close(buf, (1 - dampening) * g1)
    _close(p, 1.0 - lr * (1 - dampening) * g1)


def test_sgd_nesterov_weight_decay_maximize_by_hand():
    lr, mu, wd, g1, g2 = 0.1, 0.9, 0.01, 0.5, -1.0
    p, buf = _arrays(2.0, 0.0)
    R.sgd_step(p, np.array([g1]), buf, 1, lr=lr, momentum=mu, nesterov=True, weight_decay=wd,
               maximize=True)
    e1 = -g1 + wd * 2.0
    p1 = 2.0 - lr * (e1 + mu * e1)
    _close(p, p1)
    R.sgd_step(p, np.array([g2]), buf, 2, lr=lr, momentum=mu, nesterov=True, weight_decay=wd,
               maximize=True)
    e2 = -g2 + wd * p1
    b2 = mu * e1 + e2
    _close(buf, b2)
    _close(p, p1 - lr * (e2 + mu * b2))


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_lr_in_momentum_is_keras_form(nesterov):
    lr, mu, g1, g2 = 0.1, 0.9, 0.5, -1.0
    p, v = _arrays(1.0, 0.0)
    R.sgd_step(p, np.array([g1]), v, 1, lr=lr, momentum=mu, nesterov=nesterov,
               lr_in_momentum=True)
    v1 = -lr * g1
    p1 = 1.0 + (mu * v1 - lr * g1 if nesterov else v1)
    _close(v, v1)
    _close(p, p1)
    R.sgd_step(p, np.array([g2]), v, 2, lr=lr, momentum=mu, nesterov=nesterov,
               lr_in_momentum=True)
    v2 = mu * v1 - lr * g2
    _close(v, v2)
    _close(p, p1 + (mu * v2 - lr * g2 if nesterov else v2))


def test_plain_sgd():
    p = np.array([1.0, -2.0])
    R.sgd_step(p, np.array([0.5, 0.25]), None, 1, lr=0.1)
    _close(p, [0.95, -2.025])


# ----------------------------------------------------------------------------- Momentum
def test_lesson_momentum_bias_corrected_first_step_is_plain_gd():
    lr, beta, g = 0.1, 0.9, np.array([0.5, -3.0])
    p, v = np.array([1.0, 2.0]), np.zeros(2)
    R.momentum_step(p, g, v, 1, lr=lr, beta=beta, bias_correction=True)
    q = np.array([1.0, 2.0])
    R.sgd_step(q, g, None, 1, lr=lr)
    _close(p, q)
    _close(v, (1 - beta) * g)
    # uncorrected, the first step is (1 - beta) times too small; buffer_init="grad" is not
    p, v = np.array([1.0, 2.0]), np.zeros(2)
    R.momentum_step(p, g, v, 1, lr=lr, beta=beta)
    _close(p, [1.0, 2.0] - lr * (1 - beta) * g)
    p, v = np.array([1.0, 2.0]), np.zeros(2)
    R.momentum_step(p, g, v, 1, lr=lr, beta=beta, buffer_init="grad")
    _close(p, q)


def test_lesson_momentum_bias_correction_with_a_constant_gradient():
    """v_t = (1 - beta^t) g from v_0 = 0, so v_t / (1 - beta^t) = g: each step is lr*g."""
    lr, beta, g = 0.1, 0.9, 0.7
    p, v = _arrays(0.0, 0.0)
    for t in range(1, 8):
        R.momentum_step(p, np.array([g]), v, t, lr=lr, beta=beta, bias_correction=True)
        _close(v, (1 - beta ** t) * g, rtol=1e-13)
        _close(p, -t * lr * g, rtol=1e-13)


# ----------------------------------------------------------------------------- RMSprop
def test_rmsprop_eps_inside_versus_outside_sqrt():
    lr, alpha, eps, g = 0.1, 0.9, 0.01, 0.5
    s = (1 - alpha) * g * g
    out = {}
    for inside in (False, True):
        p, sq = _arrays(1.0, 0.0)
        R.rmsprop_step(p, np.array([g]), sq, 1, lr=lr, alpha=alpha, eps=eps,
                       eps_inside_sqrt=inside)
        _close(sq, s)
        out[inside] = p[0]
    _close(out[False], 1.0 - lr * g / (math.sqrt(s) + eps))     # PyTorch
    _close(out[True], 1.0 - lr * g / math.sqrt(s + eps))        # Keras / TensorFlow
    assert out[True] > out[False] + 1e-3                         # inside damps the step more


def test_rmsprop_centered_with_momentum_two_steps():
    lr, alpha, eps, mu, g1, g2 = 0.01, 0.9, 1e-8, 0.5, 0.5, -0.2
    p, sq, ga, buf = _arrays(1.0, 0.0, 0.0, 0.0)
    kw = dict(lr=lr, alpha=alpha, eps=eps, momentum=mu, centered=True, grad_avg=ga,
              momentum_buffer=buf)
    R.rmsprop_step(p, np.array([g1]), sq, 1, **kw)
    s1, a1 = 0.1 * g1 * g1, 0.1 * g1
    b1 = g1 / (math.sqrt(s1 - a1 * a1) + eps)
    _close(buf, b1)
    _close(p, 1.0 - lr * b1)
    R.rmsprop_step(p, np.array([g2]), sq, 2, **kw)
    s2, a2 = alpha * s1 + 0.1 * g2 * g2, alpha * a1 + 0.1 * g2
    b2 = mu * b1 + g2 / (math.sqrt(s2 - a2 * a2) + eps)
    _close(sq, s2)
    _close(ga, a2)
    _close(buf, b2, rtol=1e-13)
    _close(p, 1.0 - lr * b1 - lr * b2, rtol=1e-13)


# ----------------------------------------------------------------------------- Adagrad & co
def test_adagrad_lr_decay_by_hand():
    lr, decay, eps, s0 = 0.5, 0.1, 1e-10, 0.2
    p, s = _arrays(1.0, s0)
    expected_p, expected_s = 1.0, s0
    for t, g in enumerate((0.3, -0.4, 1.0), start=1):
        R.adagrad_step(p, np.array([g]), s, t, lr=lr, lr_decay=decay, eps=eps)
        expected_s += g * g
        expected_p -= lr / (1 + (t - 1) * decay) * g / (math.sqrt(expected_s) + eps)
        _close(s, expected_s)
        _close(p, expected_p)


def test_adadelta_first_two_steps_by_hand():
    lr, rho, eps, g1, g2 = 1.0, 0.9, 1e-6, 0.5, 0.3
    p, sq, acc = _arrays(0.0, 0.0, 0.0)
    R.adadelta_step(p, np.array([g1]), sq, acc, 1, lr=lr, rho=rho, eps=eps)
    s1 = 0.1 * g1 * g1
    d1 = math.sqrt(eps) / math.sqrt(s1 + eps) * g1    # the first step is ~sqrt(eps): tiny
    u1 = 0.1 * d1 * d1
    _close(sq, s1)
    _close(acc, u1)
    _close(p, -lr * d1)
    assert abs(p[0]) < 1e-2
    R.adadelta_step(p, np.array([g2]), sq, acc, 2, lr=lr, rho=rho, eps=eps)
    s2 = rho * s1 + 0.1 * g2 * g2
    d2 = math.sqrt(u1 + eps) / math.sqrt(s2 + eps) * g2
    _close(acc, rho * u1 + 0.1 * d2 * d2)
    _close(p, -lr * d1 - lr * d2)


def test_adamax_two_steps_by_hand():
    lr, b1, b2, eps, g1, g2 = 0.002, 0.9, 0.999, 1e-8, -0.5, 0.1
    p, m, u = _arrays(1.0, 0.0, 0.0)
    R.adamax_step(p, np.array([g1]), m, u, 1, lr=lr, beta1=b1, beta2=b2, eps=eps)
    p1 = 1.0 - lr / (1 - b1) * ((1 - b1) * g1) / (abs(g1) + eps)   # = lr * sign(g1)
    _close(p, p1)
    R.adamax_step(p, np.array([g2]), m, u, 2, lr=lr, beta1=b1, beta2=b2, eps=eps)
    m2 = b1 * (1 - b1) * g1 + (1 - b1) * g2
    u2 = max(b2 * (abs(g1) + eps), abs(g2) + eps)
    _close(m, m2)
    _close(u, u2)
    _close(p, p1 - lr / (1 - b1 ** 2) * m2 / u2)


# ----------------------------------------------------------------------------- RAdam
def _rho(t, beta2):
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)


def test_radam_rho_and_rectification_formula():
    assert _rho(1, 0.999) == pytest.approx(1.0, abs=1e-9)   # rho_1 = 1 for any beta2
    # with beta2 = 0.999, rho_t ~ t early on: the first five steps are un-rectified
    for t in range(1, 6):
        assert _rho(t, 0.999) <= 5.0
        assert R.radam_rectification(t, 0.999) is None
    assert _rho(6, 0.999) > 5.0
    for beta2 in (0.9, 0.99, 0.999):
        rho_inf = 2 / (1 - beta2) - 1
        for t in range(1, 60):
            rho = _rho(t, beta2)
            r = R.radam_rectification(t, beta2)
            if rho <= 5.0:
                assert r is None, (beta2, t)
            else:
                expected = math.sqrt((rho - 4) * (rho - 2) * rho_inf
                                     / ((rho_inf - 4) * (rho_inf - 2) * rho))
                assert r == pytest.approx(expected, rel=1e-13), (beta2, t)
                assert 0.0 < r < 1.0
    assert R.radam_rectification(10**5, 0.999) == pytest.approx(1.0, rel=1e-9)


def test_radam_unrectified_steps_are_momentum_sgd_then_rectified():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    rng = np.random.default_rng(0)
    gs = rng.standard_normal(7)
    p, m, v = _arrays(1.0, 0.0, 0.0)
    expected, mm, vv = 1.0, 0.0, 0.0
    for t, g in enumerate(gs, start=1):
        R.radam_step(p, np.array([g]), m, v, t, lr=lr, beta1=b1, beta2=b2, eps=eps)
        mm = b1 * mm + (1 - b1) * g
        vv = b2 * vv + (1 - b2) * g * g
        if t <= 5:
            expected -= lr / (1 - b1 ** t) * mm          # m_hat alone: no adaptive term
        else:
            r = R.radam_rectification(t, b2)
            expected -= lr * r * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * mm / (
                math.sqrt(vv) + eps)
        _close(p, expected, rtol=1e-13)
    # the first step is plain gradient descent
    p, m, v = _arrays(1.0, 0.0, 0.0)
    R.radam_step(p, np.array([gs[0]]), m, v, 1, lr=lr)
    _close(p, 1.0 - lr * gs[0])


# ----------------------------------------------------------------------------- NAdam
def test_nadam_mu_product_and_first_step():
    lr, b1, b2, eps, psi = 0.002, 0.9, 0.999, 1e-8, 4e-3

    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** (t * psi))

    assert R.nadam_mu(3, b1, psi) == pytest.approx(mu(3), rel=1e-15)
    g = 0.7
    p, m, v = _arrays(1.0, 0.0, 0.0)
    product = R.nadam_step(p, np.array([g]), m, v, 1.0, 1, lr=lr, beta1=b1, beta2=b2, eps=eps,
                           momentum_decay=psi)
    assert product == pytest.approx(mu(1), rel=1e-15)
    d = math.sqrt((1 - b2) * g * g / (1 - b2)) + eps        # = |g| + eps
    expected = (1.0 - lr * (1 - mu(1)) / (1 - mu(1)) * g / d
                - lr * mu(2) / (1 - mu(1) * mu(2)) * (1 - b1) * g / d)
    _close(p, expected)
    rng = np.random.default_rng(1)
    for t in range(2, 8):
        product = R.nadam_step(p, rng.standard_normal(1), m, v, product, t, lr=lr, beta1=b1,
                               beta2=b2, eps=eps, momentum_decay=psi)
        assert product == pytest.approx(math.prod(mu(i) for i in range(1, t + 1)), rel=1e-14)
    # the optimizer classes carry the product in their state
    params = [np.ones(3)]
    opt = reference.NAdam(params)
    for _ in range(5):
        opt.step([rng.standard_normal(3)])
    assert opt.state[0]["mu_product"] == pytest.approx(
        math.prod(mu(i) for i in range(1, 6)), rel=1e-14)


# ----------------------------------------------------------------------------- dtypes
RULE_CALLS = [
    ("sgd", lambda p, g, s, t: R.sgd_step(p, g, s[0], t, lr=0.1, momentum=0.9,
                                           weight_decay=0.01, nesterov=True)),
    ("sgd_keras", lambda p, g, s, t: R.sgd_step(p, g, s[0], t, lr=0.1, momentum=0.9,
                                                 lr_in_momentum=True)),
    ("momentum", lambda p, g, s, t: R.momentum_step(p, g, s[0], t, lr=0.1,
                                                     bias_correction=True)),
    ("adam", lambda p, g, s, t: R.adam_step(p, g, s[0], s[1], t, lr=0.01, amsgrad=True,
                                             max_exp_avg_sq=s[2], weight_decay=0.1)),
    ("adamw_hat", lambda p, g, s, t: R.adam_step(p, g, s[0], s[1], t, lr=0.01,
                                                  weight_decay=0.1, epsilon_hat=True,
                                                  decoupled_weight_decay=True)),
    ("rmsprop", lambda p, g, s, t: R.rmsprop_step(p, g, s[0], t, centered=True,
                                                   grad_avg=s[1], momentum=0.9,
                                                   momentum_buffer=s[2], weight_decay=0.1)),
    ("adagrad", lambda p, g, s, t: R.adagrad_step(p, g, s[0], t, lr_decay=0.1,
                                                   weight_decay=0.1)),
    ("adadelta", lambda p, g, s, t: R.adadelta_step(p, g, s[0], s[1], t, weight_decay=0.1)),
    ("adamax", lambda p, g, s, t: R.adamax_step(p, g, s[0], s[1], t, weight_decay=0.1)),
    ("nadam", lambda p, g, s, t: R.nadam_step(p, g, s[0], s[1], 1.0, t, weight_decay=0.1,
                                               decoupled_weight_decay=True)),
    ("radam", lambda p, g, s, t: R.radam_step(p, g, s[0], s[1], t, weight_decay=0.1)),
]


@pytest.mark.parametrize("rule", RULE_CALLS, ids=[r[0] for r in RULE_CALLS])
def test_float32_stays_float32_and_grads_are_only_read(rule):
    _, call = rule
    rng = np.random.default_rng(0)
    p64 = rng.standard_normal(50)
    gs = [rng.standard_normal(50) for _ in range(8)]
    results = {}
    for dtype in (np.float32, np.float64):
        p = p64.astype(dtype)
        state = [np.zeros(50, dtype) for _ in range(3)]
        for t, g in enumerate(gs, start=1):
            g = g.astype(dtype)
            kept = g.copy()
            call(p, g, state, t)
            np.testing.assert_array_equal(g, kept)
            assert p.dtype == dtype and all(s.dtype == dtype for s in state)
        results[dtype] = p
    np.testing.assert_allclose(results[np.float32], results[np.float64], rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- convergence
A = np.array([1.0, 10.0])      # a parabola with condition number 10 ...
CENTER = np.array([1.0, -2.0])  # ... whose minimum is away from the origin
QUADRATIC_KW = {
    "SGD": dict(lr=0.05, momentum=0.5), "Momentum": dict(lr=0.05), "Adam": dict(lr=0.05),
    "AdamW": dict(lr=0.05, weight_decay=1e-4),   # decay biases the minimum by ~wd
    "RMSprop": dict(lr=0.01), "Adagrad": dict(lr=0.5), "Adadelta": dict(lr=1.0),
    "Adamax": dict(lr=0.05), "NAdam": dict(lr=0.05), "RAdam": dict(lr=0.05),
}
ROSENBROCK_KW = {
    "SGD": dict(lr=1e-3, momentum=0.9), "Momentum": dict(lr=2e-3), "Adam": dict(lr=0.02),
    "AdamW": dict(lr=0.02, weight_decay=0.0), "RMSprop": dict(lr=1e-3),
    "Adagrad": dict(lr=0.5), "Adadelta": dict(lr=1.0), "Adamax": dict(lr=0.02),
    "NAdam": dict(lr=0.02),
    # RAdam's first five steps are momentum SGD on the raw gradient (~200 at the start):
    # it needs a small lr there.
    "RAdam": dict(lr=5e-3),
}
assert set(QUADRATIC_KW) == set(ROSENBROCK_KW) == set(fastgd.optim.OPTIMIZERS)


def _classes(impl):
    return fastgd.optim.OPTIMIZERS if impl == "fast" else reference.OPTIMIZERS


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("name", sorted(QUADRATIC_KW))
def test_converges_on_a_parabola(name, impl):
    x = np.array([-3.0, 3.0])
    opt = _classes(impl)[name]([x], **QUADRATIC_KW[name])
    for _ in range(2000):
        opt.step([A * (x - CENTER)])
    assert np.abs(x - CENTER).max() < 1e-3, x


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("name", sorted(ROSENBROCK_KW))
def test_decreases_rosenbrock(name, impl):
    f = Rosenbrock()
    x = f.default_start.copy()
    start = f.value(x)
    opt = _classes(impl)[name]([x], **ROSENBROCK_KW[name])
    for _ in range(3000):
        opt.step([f.grad(x)])
    assert f.value(x) < 0.1 * start, (x, f.value(x))
    if name == "Adam":
        assert np.abs(x - f.minimum).max() < 1e-2, x


def test_float32_converges_and_stays_float32():
    x = np.array([-3.0, 3.0], dtype=np.float32)
    opt = fastgd.Adam([x], lr=0.05)
    for _ in range(1000):
        opt.step([(A * (x - CENTER)).astype(np.float32)])
        assert x.dtype == np.float32
    assert np.abs(x - CENTER).max() < 1e-3
