"""Data-parallel fit against single-process fit, and its failure handling, for 1, 2 and 3
ranks. The checks live in tests/mpi_checks.py: for 2 and 3 ranks one ``mpiexec`` launch
each runs them all (start-up costs ~1 s a launch) and writes every rank's outcome to a JSON
file; for 1 rank they run in this process (an MPI singleton, as ``mpiexec -n 1``). Each
test below asserts one check's outcome on every rank.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("mpi4py",
                    reason="data-parallel fit needs mpi4py (pip install 'fastgd[mpi]' mpich)")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mpi_checks  # noqa: E402

SIZES = [1, 2, 3]
FLOAT64_TOL = 1e-10      # the bound; measured ~2e-16
FLOAT32_TOL = 1e-5       # relative to the largest parameter; measured ~7e-8


def mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


def launch(n, *args, timeout=300):
    exe = mpiexec()
    if exe is None:
        pytest.skip("no mpiexec (pip install mpich, or load the cluster's MPI)")
    cmd = [exe, "-n", str(n), sys.executable, "-W", "error",
           os.path.join(HERE, "mpi_checks.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    cache = {}

    def get(n):
        if n not in cache:
            if n == 1:
                ranks = [{name: _run_here(fn) for name, fn in mpi_checks.CHECKS.items()}]
            else:
                out = tmp_path_factory.mktemp("mpi") / f"checks-{n}.json"
                proc = launch(n, str(out))
                assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
                data = json.loads(out.read_text())
                assert data["size"] == n
                ranks = data["ranks"]
            cache[n] = ranks
        return cache[n]
    return get


def _run_here(fn):
    try:
        return {"ok": True, "value": json.loads(json.dumps(fn(), default=str))}
    except Exception:
        import traceback
        return {"ok": False, "error": traceback.format_exc()}


def values(outcomes, n, name):
    ranks = outcomes(n)
    for r, res in enumerate(ranks):
        assert res[name]["ok"], f"{name}, rank {r} of {n}:\n{res[name]['error']}"
    return [res[name]["value"] for res in ranks]


def same(vals, key):
    assert len({json.dumps(v[key]) for v in vals}) == 1, f"{key} differs between ranks: {vals}"


@pytest.mark.parametrize("case", sorted(mpi_checks.EQUIVALENCE))
@pytest.mark.parametrize("n", SIZES)
def test_equivalent_to_single_process_global_batch(outcomes, n, case):
    """N ranks with per-rank batch b give the parameters of fit with batch N·b."""
    vals = values(outcomes, n, "equivalence_" + case)
    dtype = mpi_checks.EQUIVALENCE[case][2]
    for r, v in enumerate(vals):
        bound = FLOAT64_TOL if dtype.__name__ == "float64" else \
            FLOAT32_TOL * max(1.0, v["max_abs_param"])
        assert v["max_abs_diff"] <= bound, f"{case}, {n} ranks, rank {r}: {v}"
        if n == 1:   # the same sums as fit's C loop (its fused update is bit-exact too)
            assert v["max_abs_diff"] == 0, f"{case}, 1 rank: {v}"
        assert v["loss_diff"] <= (1e-10 if dtype.__name__ == "float64" else 1e-5), v
        assert v["lr_equal"] and v["epochs"] == 3, v
    same(vals, "crc")        # and every rank holds the very same bits


@pytest.mark.parametrize("n", SIZES)
def test_memmap_of_one_file_on_every_rank(outcomes, n):
    vals = values(outcomes, n, "memmap_of_one_file")
    assert all(v["is_memmap"] and v["max_abs_diff"] <= FLOAT64_TOL for v in vals)
    same(vals, "crc")


@pytest.mark.parametrize("n", SIZES)
def test_only_rank0_writes_and_prints(outcomes, n):
    vals = values(outcomes, n, "only_rank0_writes")
    for v in vals:
        assert v["files"] == ["ckpt-rank0-epoch0.npz", "ckpt-rank0-epoch1.npz"]
    assert [v["printed_lines"] for v in vals] == [2] + [0] * (n - 1)
    assert [v["hooks"] for v in vals] == [["set_context", "on_train_end"]] + [[]] * (n - 1)


@pytest.mark.parametrize("n", SIZES)
def test_rank0_callback_stop_stops_every_rank(outcomes, n):
    vals = values(outcomes, n, "callback_stop_on_rank0_stops_all")
    assert all(v["epochs"] == 2 and v["stopped_early"] for v in vals)
    same(vals, "crc")


@pytest.mark.parametrize("n", SIZES)
def test_callback_every_runs_on_rank0_and_keeps_equivalence(outcomes, n):
    vals = values(outcomes, n, "callback_every_chunks")
    assert vals[0]["calls"] > 0 and all(v["calls"] == 0 for v in vals[1:])
    assert all(v["max_abs_diff"] <= FLOAT64_TOL for v in vals)


@pytest.mark.parametrize("n", SIZES)
def test_resume_from_one_checkpoint_is_exact(outcomes, n):
    """Whether every rank loads the checkpoint or only rank 0 does (the rest is broadcast)."""
    for v in values(outcomes, n, "resume_from_one_checkpoint"):
        for who, res in v.items():
            assert res == {"identical": True, "loss_equal": True}, who


@pytest.mark.parametrize("n", SIZES)
def test_resume_mid_epoch_is_exact(outcomes, n):
    vals = values(outcomes, n, "resume_mid_epoch")
    assert all(v["identical"] for v in vals)
    same(vals, "crc")


@pytest.mark.parametrize("n", SIZES)
def test_ranks_start_from_rank0s_model(outcomes, n):
    assert all(v["max_abs_diff"] <= FLOAT64_TOL
               for v in values(outcomes, n, "different_initial_models_start_from_rank0s"))


@pytest.mark.parametrize("n", SIZES)
def test_unseeded_run_takes_rank0s_seed(outcomes, n):
    vals = values(outcomes, n, "unseeded_run_agrees")
    same(vals, "seed")
    same(vals, "crc")


@pytest.mark.parametrize("n", SIZES)
def test_bad_data_on_one_rank_stops_every_rank(outcomes, n):
    vals = values(outcomes, n, "bad_data_on_one_rank")
    assert vals[-1]["raised"] == "ValueError" and "NaN" in vals[-1]["message"]
    for v in vals[:-1]:
        assert v["raised"] == "RankError", v
        assert f"rank {n - 1}: ValueError" in v["message"] and "NaN" in v["message"]
    assert all(v["unchanged"] for v in vals)


@pytest.mark.parametrize("check,field", [("mismatched_arguments", "batch_size"),
                                         ("different_row_counts", "same n"),
                                         ("different_dtypes", "dtype size")])
@pytest.mark.parametrize("n", SIZES)
def test_arguments_must_agree(outcomes, n, check, field):
    for v in values(outcomes, n, check):
        if n == 1:
            assert v["raised"] is None
        else:
            assert v["raised"] == "ValueError" and field in v["message"], v


@pytest.mark.parametrize("n", SIZES)
def test_another_optimizer_than_rank0s_is_an_error_everywhere(outcomes, n):
    vals = values(outcomes, n, "different_optimizer_classes")
    if n == 1:
        assert vals[0]["raised"] is None
        return
    assert vals[-1]["raised"] == "ValueError" and "another optimizer" in vals[-1]["message"]
    for v in vals[:-1]:
        assert v["raised"] == "RankError" and "rank 0's state" in v["message"], v


@pytest.mark.parametrize("n", SIZES)
def test_error_mid_epoch_on_one_rank_stops_every_rank(outcomes, n):
    vals = values(outcomes, n, "error_mid_epoch_on_one_rank")
    assert vals[-1]["raised"] == "OSError"
    for v in vals[:-1]:
        assert v["raised"] == "RankError" and "disk read failed" in v["message"], v


@pytest.mark.parametrize("n", SIZES)
def test_interrupt_on_one_rank_stops_every_rank_at_one_batch(outcomes, n):
    vals = values(outcomes, n, "interrupt_on_one_rank_stops_all_at_one_batch")
    assert all(v["raised"] == "TrainingInterrupted" and v["resumed_exactly"] for v in vals)
    same(vals, "where")
    assert vals[0]["where"] == [0, 6]      # the 7th step never ran: 6 batches applied


@pytest.mark.parametrize("n", SIZES)
def test_nonfinite_loss_raises_on_every_rank_at_one_batch(outcomes, n):
    vals = values(outcomes, n, "nonfinite_loss_everywhere")
    assert all(v["raised"] == "NonFiniteLossError" and v["finite"] for v in vals)
    for key in ("epoch", "batch", "crc"):
        same(vals, key)


@pytest.mark.parametrize("n", SIZES)
def test_custom_loss_is_refused(outcomes, n):
    for v in values(outcomes, n, "refuses_custom_loss"):
        assert v["raised"] == "NotImplementedError" and "custom loss" in v["message"]


@pytest.mark.parametrize("n", SIZES)
def test_ranks_stay_in_step_after_collective_failures(outcomes, n):
    same(values(outcomes, n, "still_in_step_after_failures"), "crc")


@pytest.mark.parametrize("n", SIZES)
def test_sweep_over_ranks_gives_the_local_table(outcomes, n):
    """Points round-robin over the ranks, one thread team per rank; every rank gets the
    whole table and the best model (broadcast from the rank that fitted it)."""
    vals = values(outcomes, n, "sweep_over_ranks")
    for v in vals:
        assert v["backend"] == "mpi" and v["best_index"] == v["local_best_index"]
        assert v["max_loss_diff"] <= 1e-12 and v["crc"] == v["local_crc"]
    same(vals, "threads")


@pytest.mark.parametrize("mode", ["kill", "stop"])
def test_dead_rank_fails_the_others_in_bounded_time(tmp_path, mode):
    """Rank 1 is SIGKILLed (mpiexec then ends the job) or SIGSTOPped (hangs: rank 0's
    collective times out after 3 s and aborts the job) in the middle of epoch 2. The
    subprocess limit is only a generous bound on "bounded"."""
    proc = launch(2, str(tmp_path / "unused.json"), "dead", mode, timeout=120)
    assert proc.returncode != 0
    assert "finished" not in proc.stdout
    if mode == "stop":
        assert "did not complete within 3 s" in proc.stderr
        assert "aborting the MPI job" in proc.stderr
