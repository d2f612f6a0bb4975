"""The per-group cache behind opt.step (parsed rule, state buffers) never serves stale or
unsafe state: edited hyper-parameters take effect, changed parameter lists are refused."""
import numpy as np
import pytest

import fastgd
from fastgd import reference


def test_in_place_edit_of_a_list_value_takes_effect():
    p, q = np.zeros(5), np.zeros(5)
    fast = fastgd.Adam([{"params": [p], "betas": [0.9, 0.999]}], lr=0.1)
    ref = reference.Adam([{"params": [q], "betas": [0.9, 0.999]}], lr=0.1)
    g1, g2 = np.ones(5), np.linspace(-1, 1, 5)
    fast.step([g1])
    ref.step([g1])
    fast.param_groups[0]["betas"][0] = 0.0
    ref.param_groups[0]["betas"][0] = 0.0
    fast.step([g2])
    ref.step([g2])
    np.testing.assert_allclose(p, q, rtol=1e-12)


@pytest.mark.parametrize("how", ["append", "replace", "swap"])
def test_changing_a_groups_parameters_is_refused(how):
    p = np.zeros(8)
    opt = fastgd.Adam([p])
    opt.step([np.ones(8)])
    state = opt.state_dict()["state"][0]["exp_avg"].copy()
    big = np.zeros(1 << 16)
    group = opt.param_groups[0]
    if how == "append":
        group["params"].append(big)
        grads = [np.ones(8), np.ones(1 << 16)]
    elif how == "replace":
        group["params"] = group["params"] + [big]
        grads = [np.ones(8), np.ones(1 << 16)]
    else:
        group["params"] = [np.zeros(9)]
        grads = [np.ones(9)]
    with pytest.raises(ValueError, match="params"):
        opt.step(grads)
    np.testing.assert_array_equal(opt._group_state[0]["views"]["exp_avg"][0], state)


def test_nan_in_a_hidden_layer_is_not_hidden_by_relu():
    X = np.ones((4, 3))
    y = np.array([0, 1, 0, 1])
    model = fastgd.MLP([3, 4, 2], dtype=np.float64, seed=0)
    model.parameters()[1][0] = np.nan          # a hidden bias: relu(NaN) must stay NaN
    params = model.parameters()
    assert np.isnan(fastgd.reference.mlp.loss_and_grads(params, X, y, "relu", "softmax")[0])
    assert np.isnan(model.loss(X, y))
    assert np.isnan(model.loss_and_grads(X, y)[0])
