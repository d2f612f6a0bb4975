"""fastgd.sweep: grids, the result table and best model, failures per point, and the
same rows whether the points run here, on Dask (an in-process client, and the default
LocalCluster of worker processes) or over MPI (tests/mpi_checks.py, sweep_over_ranks)."""
import math

import numpy as np
import pytest

import fastgd
from fastgd.distributed import sweep, sweeps
from problems import random_problem

SIZES = [6, 16, 3]


@pytest.fixture(scope="module")
def data():
    X, y = random_problem(240, SIZES, "softmax", seed=0)
    val = random_problem(80, SIZES, "softmax", seed=1)
    return X, y, val


GRID = {"batch_size": [8, 64], "optimizer": ["sgd", "adam"], "lr": [1e-2, 1e-1]}
FIXED = dict(layer_sizes=SIZES, epochs=3, seed=0)


def test_grid_points_product_union_and_fixed():
    pts = sweeps.grid_points({"lr": [1, 2], "batch_size": [3]},
                             {"epochs": 1, "layer_sizes": [2, 2], "lr": 9})
    assert pts == [{"epochs": 1, "layer_sizes": [2, 2], "lr": 1, "batch_size": 3},
                   {"epochs": 1, "layer_sizes": [2, 2], "lr": 2, "batch_size": 3}]
    pts = sweeps.grid_points([{"lr": [1]}, {"lr": [2, 3], "optimizer": ["sgd"]}],
                             FIXED | {"batch_size": 4})
    assert [p["lr"] for p in pts] == [1, 2, 3] and pts[1]["optimizer"] == "sgd"


@pytest.mark.parametrize("grid,fixed,match", [
    ({"learning_rate": [1]}, FIXED | {"batch_size": 4}, "unknown parameter 'learning_rate'"),
    ({"lr": [1]}, {"epochs": 1, "batch_size": 2}, "needs 'layer_sizes'"),
    ({"lr": 0.1}, FIXED | {"batch_size": 4}, "expected a list"),
    ({}, FIXED | {"batch_size": 4}, None),
])
def test_grid_rejected_before_any_fit(grid, fixed, match):
    if match is None:    # an empty dict is one point: the fixed values alone
        assert sweeps.grid_points(grid, fixed) == [fixed]
        return
    with pytest.raises((ValueError, TypeError), match=match):
        sweeps.grid_points(grid, fixed)


def test_local_sweep_table_and_best_model(data):
    X, y, val = data
    r = sweep(GRID, X, y, validation_data=val, client=False, **FIXED)
    assert r.backend == "local" and len(r.rows) == 8 and r.score == "val_loss"
    scores = [row["val_loss"] for row in r.rows]
    assert r.best_index == int(np.argmin(scores)) and r.best_score == min(scores)
    assert all(row["error"] is None and row["epochs_run"] == 3 for row in r.rows)
    # the best model is that point's fit, bit for bit
    p = r.best_params
    model = fastgd.MLP(SIZES, seed=0)
    opt = sweeps._named(p["optimizer"], fastgd.optim, fastgd.Optimizer, "optimizer")(
        model.parameters(), lr=p["lr"])
    fastgd.fit(model, X, y, opt, epochs=3, batch_size=p["batch_size"], seed=0,
               n_threads=r.rows[r.best_index]["threads"])
    np.testing.assert_array_equal(model._flat, r.best_model._flat)
    assert r.best_model.loss(*val) == pytest.approx(r.best_score, rel=1e-6)


def test_score_val_metric_is_maximised_and_loss_needs_no_validation(data):
    X, y, val = data
    r = sweep(GRID, X, y, validation_data=val, client=False, score="val_metric", **FIXED)
    assert r.best_score == max(row["val_metric"] for row in r.rows)
    r = sweep({"lr": [1e-2, 1e-1]}, X, y, client=False, batch_size=16, **FIXED)
    assert r.score == "loss" and r.best_score == min(row["loss"] for row in r.rows)
    with pytest.raises(ValueError, match="needs validation_data"):
        sweep({"lr": [1e-2]}, X, y, client=False, score="val_loss", batch_size=16, **FIXED)


def test_a_failing_point_is_a_row_not_a_crash(data):
    X, y, val = data
    r = sweep({"lr": [-1.0, 1e-2], "optimizer": ["adam", "nosuch"]}, X, y, client=False,
              batch_size=16, **FIXED)
    errors = [row["error"] for row in r.rows]
    assert "lr" in errors[0] and "nosuch" in errors[1] and errors[2] is None
    assert r.best_index == 2 and math.isnan(r.rows[0]["loss"])
    r = sweep({"lr": [-1.0]}, X, y, client=False, batch_size=16, **FIXED)
    assert r.best_index == -1 and r.best_model is None and math.isnan(r.best_score)


def test_schedules_by_name_and_optimizer_arguments(data):
    X, y, val = data
    r = sweep({"schedule": [None, "ExponentialDecay"], "optimizer__betas": [(0.8, 0.99)]}, X,
              y, client=False, batch_size=16, schedule__gamma=0.5, lr=0.05, **FIXED)
    assert all(row["error"] is None for row in r.rows)
    assert r.rows[0]["loss"] != r.rows[1]["loss"]
    assert r.rows[1]["schedule"] == "ExponentialDecay"


def test_frame_is_a_dataframe(data):
    pd = pytest.importorskip("pandas", reason="SweepResult.frame needs pandas")
    X, y, val = data
    r = sweep({"lr": [1e-2, 1e-1]}, X, y, client=False, batch_size=16, **FIXED)
    frame = r.frame
    assert isinstance(frame, pd.DataFrame) and list(frame["lr"]) == [1e-2, 1e-1]
    assert list(frame["loss"]) == [row["loss"] for row in r.rows]


def _same_rows(a, b):
    for ra, rb in zip(a.rows, b.rows):
        assert ra["error"] is None and rb["error"] is None
        for key in ("loss", "val_loss", "val_metric"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-12, abs=1e-12), key


def test_dask_client_gives_the_local_rows(data):
    dd = pytest.importorskip("dask.distributed", reason="the Dask sweep needs dask[distributed]")
    X, y, val = data
    local = sweep(GRID, X, y, validation_data=val, client=False, n_threads=1, **FIXED)
    with dd.Client(processes=False, n_workers=1, threads_per_worker=2,
                   dashboard_address=None) as client:
        r = sweep(GRID, X, y, validation_data=val, client=client, **FIXED)
    assert r.backend == "dask" and r.best_index == local.best_index
    _same_rows(r, local)
    # two task slots on this host: each fit gets the host's cores / 2 threads
    assert set(r.threads_per_fit) == {max(1, sweeps._comm.cores() // 2)}


def test_default_is_a_local_cluster_of_single_slot_workers(data):
    pytest.importorskip("dask.distributed", reason="the Dask sweep needs dask[distributed]")
    X, y, val = data
    grid = {"lr": [1e-2]}     # one point: one worker process (each costs seconds to start)
    local = sweep(grid, X, y, validation_data=val, client=False, n_threads=1, batch_size=16,
                  **FIXED)
    r = sweep(grid, X, y, validation_data=val, batch_size=16, **FIXED)
    workers = min(sweeps._comm.cores(), len(grid["lr"]))
    assert r.backend == "dask"
    assert set(r.threads_per_fit) == {max(1, sweeps._comm.cores() // workers)}
    _same_rows(r, local)
