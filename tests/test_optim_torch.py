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
import inspect

import numpy as np
import pytest

import fastgd
from registry import CASES, case_id

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

def _torch_accepts(case):
    """Cases of the registry that torch.optim can run: a class of that name whose
    signature takes every option the case sets (fastgd's extra conventions excluded)."""
    cls = getattr(torch.optim, case.name, None)
    return cls is not None and set(case.kwargs) <= set(inspect.signature(cls).parameters)


TORCH_CASES = [c for c in CASES if _torch_accepts(c)]
SHAPES = [(17, 9), (9,), (1,), (40,)]
STEPS = 100
RTOL = {np.float32: 1e-5, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


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
@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
def test_matches_torch_optim(case, torch_dtype):
    name, kwargs = case.name, case.kwargs
    dtype = torch_dtype
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ours = case.build(params)
    theirs = getattr(torch.optim, name)(tparams, foreach=False, **kwargs)
    for _ in range(STEPS):
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        for t, g in zip(tparams, grads):
            t.grad = torch.from_numpy(g.copy())
        ours.step(grads)
        theirs.step()
    rtol = RTOL[dtype]
    msg = f"{case_id(case)} {np.dtype(dtype).name}"
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
