"""fastgd.distributed's argument checks and bookkeeping, in this process (a 1-rank
communicator; the multi-rank behaviour is tests/test_distributed_mpi.py's)."""
import numpy as np
import pytest

pytest.importorskip("mpi4py",
                    reason="data-parallel fit needs mpi4py (pip install 'fastgd[mpi]' mpich)")

from mpi4py import MPI  # noqa: E402

import fastgd  # noqa: E402
from fastgd import distributed  # noqa: E402
from fastgd.distributed import _comm  # noqa: E402
from problems import random_problem  # noqa: E402


def small():
    X, y = random_problem(50, [4, 6, 3], "softmax", seed=0)
    model = fastgd.MLP([4, 6, 3], dtype=np.float64, seed=0)
    return X, y, model, fastgd.Adam(model.parameters(), lr=1e-2)


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), True, "10"])
def test_timeout_must_be_positive_seconds(timeout):
    X, y, model, opt = small()
    with pytest.raises(ValueError, match="timeout: expected a number of seconds > 0"):
        distributed.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5,
                        timeout=timeout)


def test_timeout_from_the_environment(monkeypatch):
    monkeypatch.setenv("FASTGD_MPI_TIMEOUT", "12.5")
    assert _comm.resolve_timeout(None) == 12.5
    monkeypatch.delenv("FASTGD_MPI_TIMEOUT")
    assert _comm.resolve_timeout(None) == distributed.DEFAULT_TIMEOUT


def test_comm_must_be_an_intracommunicator():
    X, y, model, opt = small()
    with pytest.raises(TypeError, match="comm: expected an mpi4py intra-communicator"):
        distributed.fit(model, X, y, opt, comm="world", epochs=1, batch_size=5)
    with pytest.raises(ValueError, match="on_timeout"):
        distributed.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5,
                        on_timeout="ignore")


def test_options_fit_has_and_data_parallel_fit_lacks_are_refused_by_name(monkeypatch):
    from fastgd.training import train

    def fit(model, X, y, optimizer, *, epochs, batch_size, sample_weight=None, ema=None,
            restore_best=True):   # a future fit with options data-parallel fit lacks
        raise AssertionError("not called")
    monkeypatch.setattr(train, "fit", fit)
    X, y, model, opt = small()
    before = model._flat.copy()
    with pytest.raises(NotImplementedError, match="sample_weight= is not supported"):
        distributed.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5,
                        sample_weight=np.ones(50))
    with pytest.raises(NotImplementedError, match="restore_best= is not supported"):
        distributed.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5,
                        restore_best=False)
    with pytest.raises(NotImplementedError, match="frobnicate= is not an argument"):
        distributed.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5,
                        frobnicate=1)
    np.testing.assert_array_equal(before, model._flat)
    # options at fit's defaults are no reason to refuse
    distributed.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5,
                    sample_weight=None, ema=None, restore_best=True)


def test_fit_with_comm_refuses_weight_averaging_and_clipping_by_name():
    X, y, model, opt = small()
    with pytest.raises(NotImplementedError, match="ema= is not supported"):
        fastgd.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5, ema=0.9)
    with pytest.raises(NotImplementedError, match="average= is not supported"):
        fastgd.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5,
                   average=True)
    with pytest.raises(NotImplementedError, match="clip_norm= is not supported"):
        fastgd.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5,
                   clip_norm=1.0)
    h = fastgd.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=1, batch_size=5)
    assert h.comm.ranks == 1


def test_comm_stats_account_for_every_step():
    X, y, model, opt = small()
    h = distributed.fit(model, X, y, opt, comm=MPI.COMM_WORLD, epochs=2, batch_size=8,
                        seed=0, n_threads=1)
    c = h.comm
    assert (c.ranks, c.threads_per_rank, c.rows_per_rank, c.global_batch) == (1, 1, 8, 8)
    assert c.steps == 2 * 7 and c.bytes_per_step == model._grad_flat.nbytes
    assert c.compute_seconds > 0 and c.allreduce_seconds >= 0
    assert h.fast_path is False and len(h) == 2 and h.samples == [50, 50]


def test_exchange_round_trips_numbers_and_text():
    group = _comm.Group(MPI.COMM_WORLD)
    nums, texts = group.exchange([1.5, -2.0, 2.0 ** 60], "héllo " * 200)
    assert nums.tolist() == [[1.5, -2.0, 2.0 ** 60]]
    assert texts[0] == ("héllo " * 200).encode()[:_comm.TEXT_BYTES].decode("utf-8", "replace")
    assert group.bcast_bytes(b"abc") == b"abc"
