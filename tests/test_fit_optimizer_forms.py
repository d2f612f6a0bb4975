"""fit with optimizers and schedules in less common forms: param groups in another order
than the model's parameters, subclasses overriding step, schedules that end too soon."""
import numpy as np
import pytest

import fastgd
from fastgd import reference, schedules


def _problem(dtype=np.float64):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6)).astype(dtype)
    y = rng.integers(0, 3, 40)
    return X, y, fastgd.MLP([6, 5, 3], dtype=dtype, seed=2)


@pytest.mark.parametrize("fit, cls", [(fastgd.fit, fastgd.SGD), (reference.fit, reference.SGD)],
                         ids=["fastgd", "reference"])
def test_param_groups_in_another_order(fit, cls):
    X, y, model = _problem()
    twin = model.copy()
    W1, b1, W2, b2 = model.parameters()
    shuffled = cls([{"params": [W2, b2]}, {"params": [b1, W1], "lr": 0.05}], lr=0.1)
    V1, c1, V2, c2 = twin.parameters()
    ordered = cls([{"params": [V1, c1], "lr": 0.05}, {"params": [V2, c2]}], lr=0.1)
    h = fit(model, X, y, shuffled, epochs=2, batch_size=8, seed=0)
    fit(twin, X, y, ordered, epochs=2, batch_size=8, seed=0)
    assert h.fast_path is (fit is fastgd.fit)   # param groups stay in C
    np.testing.assert_allclose(model._flat, twin._flat, rtol=1e-12, atol=1e-14)


def test_subclass_overriding_step_is_called_every_batch():
    X, y, model = _problem()

    class Frozen(fastgd.SGD):
        calls = 0

        def step(self, grads):
            Frozen.calls += 1
            super().step([np.zeros_like(g) for g in grads])

    before = model._flat.copy()
    h = fastgd.fit(model, X, y, Frozen(model.parameters(), lr=0.1), epochs=1, batch_size=10,
                   seed=0)
    assert not h.fast_path and Frozen.calls == 4
    np.testing.assert_array_equal(model._flat, before)


def test_schedule_ending_before_the_fit_is_refused_up_front():
    X, y, model = _problem()
    opt = fastgd.SGD(model.parameters(), lr=0.1)
    sched = schedules.OneCycleLR(opt, max_lr=0.5, total_steps=10, interval="batch",
                                 cycle_momentum=False)
    before, state = model._flat.copy(), sched.state_dict()
    with pytest.raises(ValueError, match="schedule: does not cover"):
        fastgd.fit(model, X, y, opt, epochs=3, batch_size=8, schedule=sched, seed=0)
    np.testing.assert_array_equal(model._flat, before)
    assert sched.state_dict() == state
    # exactly long enough: 2 epochs of 5 batches = 10 steps
    fastgd.fit(model, X, y, opt, epochs=2, batch_size=8, schedule=sched, seed=0)
    assert sched.last_epoch == 10


def test_per_batch_momentum_cycling_is_refused():
    X, y, model = _problem()
    opt = fastgd.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = schedules.OneCycleLR(opt, max_lr=0.5, total_steps=100, interval="batch")
    with pytest.raises(ValueError, match="cycle_momentum"):
        fastgd.fit(model, X, y, opt, epochs=1, batch_size=8, schedule=sched)


def test_reference_custom_loss_keeps_float32():
    X, y, model = _problem(np.float32)

    def loss(logits, t):   # cross-entropy written with float64 one-hot rows
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        onehot = np.eye(logits.shape[1])[t]
        return float(-np.mean(np.log(p[np.arange(len(t)), t]))), (p - onehot) / len(t)

    twin = model.copy()
    reference.fit(model, X, y, reference.Adam(model.parameters()), epochs=1, batch_size=8,
                  seed=0, loss=loss)
    fastgd.fit(twin, X, y, fastgd.Adam(twin.parameters()), epochs=1, batch_size=8, seed=0,
               loss=loss)
    assert model._flat.dtype == np.float32
    np.testing.assert_allclose(model._flat, twin._flat, rtol=1e-4, atol=1e-6)
