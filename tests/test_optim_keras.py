"""The Keras/scikit-learn-style options against their formulas written out by hand
(TensorFlow is not a test dependency, and none of this needs torch)."""
import math

import numpy as np
import pytest

import fastgd


def _close(actual, expected, rtol, msg):
    """rtol, with atol scaled to the largest magnitude (entries that cancel near zero)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=msg)


@pytest.mark.parametrize("nesterov", [False, True])
def test_keras_sgd_by_hand_with_a_changing_lr(nesterov):
    """With a schedule the forms differ: Keras's buffer remembers the old rates."""
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(20)
    p, q, v = p0.copy(), p0.copy(), np.zeros(20)
    mu = 0.9
    keras = fastgd.SGD([p], lr=0.1, momentum=mu, nesterov=nesterov, lr_in_momentum=True)
    torch_form = fastgd.SGD([q], lr=0.1, momentum=mu, nesterov=nesterov)
    expected = p0.copy()
    for step in range(30):
        lr = 0.1 * 0.9 ** step
        keras.param_groups[0]["lr"] = torch_form.param_groups[0]["lr"] = lr
        g = rng.standard_normal(20)
        keras.step([g])
        torch_form.step([g])
        v = mu * v - lr * g
        expected = expected + (mu * v - lr * g if nesterov else v)
    _close(p, expected, 1e-12, "keras sgd")
    assert np.abs(p - q).max() > 1e-3


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.8])
def test_keras_rmsprop_eps_inside_sqrt_by_hand(centered, momentum):
    """Keras 3 RMSprop: increment = lr*g / sqrt(v - a^2 + eps) (eps inside the root);
    with momentum, m = mu*m + increment; p -= m. (Keras keeps lr inside m: the same steps
    as fastgd's p -= lr*b at constant lr.)"""
    lr, rho, eps = 0.01, 0.9, 1e-3
    rng = np.random.default_rng(3)
    p = rng.standard_normal(30)
    expected = p.copy()
    ours = fastgd.RMSprop([p], lr=lr, alpha=rho, eps=eps, momentum=momentum,
                          centered=centered, eps_inside_sqrt=True)
    vel, avg, mom = np.zeros(30), np.zeros(30), np.zeros(30)
    for _ in range(50):
        g = rng.standard_normal(30)
        ours.step([g])
        vel = rho * vel + (1 - rho) * g * g
        denom = vel
        if centered:
            avg = rho * avg + (1 - rho) * g
            denom = vel - avg * avg
        increment = lr * g / np.sqrt(denom + eps)
        if momentum:
            mom = momentum * mom + increment
            expected = expected - mom
        else:
            expected = expected - increment
    _close(p, expected, 1e-11, "keras rmsprop")


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_keras_adam_epsilon_hat_by_hand(amsgrad, weight_decay):
    """Keras / scikit-learn Adam: alpha = lr*sqrt(1-b2^t)/(1-b1^t);
    m += (g-m)(1-b1); v += (g^2-v)(1-b2); p -= alpha*m/(sqrt(v)+eps) (AMSGrad: the running
    max of v); Keras's AdamW first does p -= p*wd*lr."""
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    rng = np.random.default_rng(4)
    p = rng.standard_normal(30)
    expected = p.copy()
    cls = fastgd.AdamW if weight_decay else fastgd.Adam
    ours = cls([p], lr=lr, betas=(b1, b2), eps=eps, amsgrad=amsgrad, epsilon_hat=True,
               weight_decay=weight_decay)
    m, v, vhat = np.zeros(30), np.zeros(30), np.zeros(30)
    for t in range(1, 61):
        g = rng.standard_normal(30)
        ours.step([g])
        expected = expected - expected * weight_decay * lr
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        vhat = np.maximum(vhat, v)
        expected = expected - alpha * m / (np.sqrt(vhat if amsgrad else v) + eps)
    _close(p, expected, 1e-11, "keras adam")
    _close(ours.state[0]["exp_avg"], m, 1e-11, "exp_avg")
    _close(ours.state[0]["exp_avg_sq"], v, 1e-11, "exp_avg_sq")
