"""batching.EpochOrders makes several epochs' orders at once (their cost between C epochs,
see its docstring): the orders it hands out are epoch_order's, for runs that start anywhere
(a resume), stop early, or hold fewer orders for big n; and fit and the scikit-learn
estimators give the bits of orders made one epoch at a time."""
import numpy as np
import pytest

import fastgd
from fastgd import batching
from problems import random_problem


@pytest.mark.parametrize("first, stop, ahead", [(0, 19, None), (5, 6, None), (3, 20, 1),
                                                (0, 3, 8), (7, 30, 3)])
def test_orders_are_epoch_order(first, stop, ahead):
    orders = batching.EpochOrders(50, 7, True, stop, ahead)
    for e in range(first, stop):
        np.testing.assert_array_equal(orders(e), batching.epoch_order(50, 7, e))
    assert orders._made == {}          # nothing made past the run's last epoch


def test_an_early_stop_leaves_at_most_ahead_minus_one_made():
    orders = batching.EpochOrders(10, 0, True, 100)
    orders(0)
    assert len(orders._made) == batching.EpochOrders.AHEAD - 1


def test_big_n_holds_fewer_orders():
    n = batching.EpochOrders.AHEAD_BYTES // 8 // 2          # two orders fit the budget
    assert batching.EpochOrders(n, 0, True, 100).ahead == 2
    assert batching.EpochOrders(10 * n, 0, True, 100).ahead == 1


def test_unshuffled_orders():
    orders = batching.EpochOrders(5, 0, False, 4)
    assert all(np.array_equal(orders(e), np.arange(5)) for e in range(4))


def _fit(monkeypatch, ahead):
    monkeypatch.setattr(batching.EpochOrders, "AHEAD", ahead)
    X, y = random_problem(90, [5, 8, 3], "softmax", np.float64, 0)
    model = fastgd.MLP([5, 8, 3], seed=1)
    opt = fastgd.Adam(model.parameters(), lr=1e-2)
    fastgd.fit(model, X, y, opt, epochs=11, batch_size=16, seed=4, n_threads=1)
    return model


def test_fit_gives_the_bits_of_orders_made_one_at_a_time(monkeypatch):
    ahead = _fit(monkeypatch, 8)
    one_by_one = _fit(monkeypatch, 1)
    np.testing.assert_array_equal(ahead._flat, one_by_one._flat)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sklearn_gives_the_bits_of_orders_made_one_at_a_time(monkeypatch):
    pytest.importorskip("sklearn")
    from fastgd import sklearn as sk
    X, y = random_problem(120, [6, 4], "softmax", np.float64, 0)
    p = dict(max_iter=19, batch_size=16, random_state=3, tol=0.0, n_iter_no_change=19)
    monkeypatch.setattr(batching.EpochOrders, "AHEAD", 8)
    ahead = sk.MLPClassifier(**p).fit(X, y)
    monkeypatch.setattr(batching.EpochOrders, "AHEAD", 1)
    one_by_one = sk.MLPClassifier(**p).fit(X, y)
    for a, b in zip(ahead.coefs_ + ahead.intercepts_, one_by_one.coefs_ + one_by_one.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert ahead.loss_curve_ == one_by_one.loss_curve_
