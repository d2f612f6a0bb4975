"""fastgd's torch-named optimizers against torch.optim, and the Keras-style options against
their formulas written out by hand (TensorFlow is not a test dependency).

Both sides start from the same NumPy values and see the same gradients for 100 steps;
parameters and every state entry of the same name (torch's names are fastgd's) must agree.

Tolerance: float64 rtol 1e-10, not bit equality, because torch evaluates some expressions
in another order: exp_avg (Adam, NAdam, RAdam) and RMSprop's grad_avg are updated with
``lerp_`` (m + (1-b1)(g - m), not b1*m + (1-b1)*g), RAdam multiplies its step factors in
another order, and torch's CPU kernels may contract a*b+c into one fused multiply-add.
Each differs by an ulp or so per step. float32: rtol 1e-5. atol is the tolerance times the
largest magnitude of the array, for entries that cancel to near zero (a momentum buffer).
"""
import math

import numpy as np
import pytest

import fastgd
from fastgd.optim import OPTIMIZERS

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TORCH_CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.05, maximize=True, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.3, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, alpha=0.9, eps=1e-4)),
    ("Adagrad", dict(lr=0.05)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1,
                     weight_decay=0.01)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.01, eps=1e-5)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, weight_decay=0.01, betas=(0.8, 0.99))),
    ("NAdam", dict()),
    ("NAdam", dict(weight_decay=0.01)),
    ("NAdam", dict(weight_decay=0.01, decoupled_weight_decay=True, momentum_decay=0.01)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, weight_decay=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.01, decoupled_weight_decay=True)),
]
SHAPES = [(17, 9), (9,), (1,), (40,)]
STEPS = 100
RTOL = {np.float32: 1e-5, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def _case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.fixture
def torch_dtype(request):
    """torch keeps its scalar state (step, NAdam's mu_product) in the default dtype: make
    it float64 for the float64 runs, or mu_product would round to float32."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(TORCH_DTYPE[request.param])
    yield request.param
    torch.set_default_dtype(old)


def _close(actual, expected, rtol, msg):
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=msg)


@pytest.mark.parametrize("torch_dtype", [np.float64, np.float32], indirect=True,
                         ids=["float64", "float32"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=_case_id)
def test_matches_torch_optim(case, torch_dtype):
    name, kwargs = case
    dtype = torch_dtype
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ours = OPTIMIZERS[name](params, **kwargs)
    theirs = getattr(torch.optim, name)(tparams, foreach=False, **kwargs)
    for _ in range(STEPS):
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        for t, g in zip(tparams, grads):
            t.grad = torch.from_numpy(g.copy())
        ours.step(grads)
        theirs.step()
    rtol = RTOL[dtype]
    msg = f"{_case_id(case)} {np.dtype(dtype).name}"
    for i, (p, t) in enumerate(zip(params, tparams)):
        assert p.dtype == dtype
        _close(p, t.detach().numpy(), rtol, f"{msg} param {i}")
    state = ours.state
    for i, t in enumerate(tparams):
        mine = state.get(i, {})
        torch_state = theirs.state.get(t, {})
        # the same names, apart from torch's SGD keeping no step count
        assert set(mine) - {"step"} == set(torch_state) - {"step"}, msg
        for key, value in torch_state.items():
            expected = value.detach().numpy() if torch.is_tensor(value) else value
            _close(mine[key], expected, 0.0 if key == "step" else rtol, f"{msg} state {i}.{key}")


# --------------------------------------------------------------------- Keras-style options
@pytest.mark.parametrize("nesterov", [False, True])
def test_keras_sgd_equals_torch_sgd_at_constant_lr(nesterov):
    """v = mu*v - lr*g; p += v (Keras, scikit-learn) is -lr times torch's buffer when lr is
    constant, so the two forms take the same steps."""
    rng = np.random.default_rng(1)
    p = rng.standard_normal(50)
    t = torch.tensor(p.copy(), requires_grad=True)
    ours = fastgd.SGD([p], lr=0.03, momentum=0.9, nesterov=nesterov, lr_in_momentum=True)
    theirs = torch.optim.SGD([t], lr=0.03, momentum=0.9, nesterov=nesterov, foreach=False)
    for _ in range(STEPS):
        g = rng.standard_normal(50)
        t.grad = torch.from_numpy(g.copy())
        ours.step([g])
        theirs.step()
    _close(p, t.detach().numpy(), 1e-10, "param")
    _close(ours.state[0]["momentum_buffer"],
           -0.03 * theirs.state[t]["momentum_buffer"].numpy(), 1e-10, "buffer")


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
