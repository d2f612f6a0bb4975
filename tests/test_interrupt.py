"""Ctrl-C during fit: the C epoch looks for signals every few milliseconds of work, stops
after the batch it is on, and fit raises TrainingInterrupted with the model, the
optimizer (step count included), a per-batch schedule and History agreeing with the
batches applied -- so continuing from there gives the bits of an uninterrupted run.

The signal is a real SIGINT sent from another thread once training is under way; where it
lands is up to the scheduler, and the claims hold wherever that is."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import fastgd
from fastgd.model import _engine

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt",
                                reason="needs POSIX signals")
N, EPOCHS = 3000, 400   # far more than run: the signal always lands during fit


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, 20)), rng.integers(0, 4, N)


def _objects(schedule=True):
    m = fastgd.MLP([20, 64, 4], dtype=np.float64, seed=3)
    o = fastgd.Adam(m.parameters(), lr=1e-2)
    s = fastgd.schedules.OneCycleLR(o, max_lr=0.05, total_steps=EPOCHS * N + 10,
                                    interval="batch", cycle_momentum=False) if schedule else None
    return m, o, s


def _interrupt_when(opt, steps):
    """SIGINT to this process once ``opt`` has taken ``steps`` steps (fit runs without
    the GIL, so this thread can watch)."""
    def watch():
        deadline = time.monotonic() + 60
        while opt._group_state[0]["step"] < steps and time.monotonic() < deadline:
            time.sleep(0.0005)
        os.kill(os.getpid(), signal.SIGINT)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


@pytest.fixture
def fast_polling():
    previous = _engine.set_poll_interval(1e-4)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, handler)
    _engine.set_poll_interval(previous)


@pytest.mark.parametrize("batch_size", [1, 32])
def test_interrupt_then_resume_is_bit_identical(batch_size, fast_polling):
    X, y = _data()
    nb = -(-N // batch_size)
    m, o, s = _objects()
    watcher = _interrupt_when(o, nb // 3)
    with pytest.raises(fastgd.TrainingInterrupted) as info:
        fastgd.fit(m, X, y, o, epochs=EPOCHS, batch_size=batch_size, seed=5, schedule=s,
                   n_threads=1)
    watcher.join()
    e = info.value
    applied = e.epoch * nb + e.batch
    assert 0 < applied < EPOCHS * nb
    assert isinstance(e, KeyboardInterrupt)
    assert o._group_state[0]["step"] == applied         # the count went with the updates
    assert s.last_epoch == applied                       # the schedule stands at that batch
    assert e.history.stopped_at == (e.epoch, e.batch) and e.history.interrupted
    assert sum(e.history.samples) == min(N, applied * batch_size) if e.epoch == 0 else True
    # finish the interrupted epoch; an uninterrupted run of as many epochs must agree
    fastgd.fit(m, X, y, o, epochs=1, initial_epoch=e.epoch, initial_batch=e.batch,
               batch_size=batch_size, seed=5, schedule=s, n_threads=1)
    m0, o0, s0 = _objects()
    fastgd.fit(m0, X, y, o0, epochs=e.epoch + 1, batch_size=batch_size, seed=5, schedule=s0,
               n_threads=1)
    np.testing.assert_array_equal(m._flat, m0._flat)
    for name, buf in o0._group_state[0]["buffers"].items():
        np.testing.assert_array_equal(o._group_state[0]["buffers"][name], buf, err_msg=name)
    assert o._group_state[0]["step"] == o0._group_state[0]["step"]
    assert s.state_dict() == s0.state_dict()


def test_interrupt_on_the_python_path_keeps_counts_consistent(fast_polling):
    X, y = _data()

    def loss(logits, targets):      # a custom loss: the per-batch Python fallback
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        value = -np.mean(np.log(p[np.arange(len(targets)), targets]))
        p[np.arange(len(targets)), targets] -= 1
        return value, p / len(targets)

    m, o, _ = _objects(schedule=False)
    watcher = _interrupt_when(o, 40)
    with pytest.raises(fastgd.TrainingInterrupted) as info:
        fastgd.fit(m, X, y, o, epochs=EPOCHS, batch_size=8, seed=5, loss=loss)
    watcher.join()
    e = info.value
    assert not e.history.fast_path
    assert o._group_state[0]["step"] == e.epoch * (N // 8 + (N % 8 > 0)) + e.batch


def test_another_exception_from_a_signal_handler_is_kept(fast_polling):
    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop("asked to stop")

    X, y = _data()
    m, o, _ = _objects(schedule=False)
    old = signal.signal(signal.SIGINT, handler)
    try:
        watcher = _interrupt_when(o, 100)
        with pytest.raises(Stop):
            fastgd.fit(m, X, y, o, epochs=EPOCHS, batch_size=1, seed=5, n_threads=1)
        watcher.join()
    finally:
        signal.signal(signal.SIGINT, old)
    assert np.isfinite(m._flat).all() and o._group_state[0]["step"] > 0


def test_poll_interval_is_checked():
    with pytest.raises(ValueError, match="seconds"):
        _engine.set_poll_interval(-1.0)


def test_cli_train_saves_the_model_when_interrupted(tmp_path):
    import subprocess
    import sys
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 5))
    y = (X[:, 0] > 0).astype(int)
    data = tmp_path / "train.csv"
    with open(data, "w") as f:
        f.write(",".join([f"x{i}" for i in range(5)] + ["label"]) + "\n")
        for row, label in zip(X, y):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")
    out = tmp_path / "model.npz"
    # `python -m fastgd` with Ctrl-C as a terminal gives it: a process started in the
    # background of a script inherits SIGINT ignored, and Python then leaves it ignored
    # (this test hung there twice: `.ci/run` launched with `&`)
    start = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "runpy.run_module('fastgd', run_name='__main__', alter_sys=True)")
    proc = subprocess.Popen([sys.executable, "-c", start, "train", str(data), "--epochs",
                             "100000", "--batch-size", "1", "--save", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:            # training is under way once an epoch is printed
        if line.startswith("epoch"):
            break
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # say what the child printed and leave no process behind (a leaked one failed the
        # next test on a ResourceWarning)
        proc.kill()
        stdout, stderr = proc.communicate()
        lines = stdout.splitlines()
        pytest.fail(f"the CLI did not exit within 120 s of SIGINT; it printed {len(lines)} "
                    f"lines, the last: {lines[-3:]}; stderr: {stderr[-2000:]}")
    assert proc.returncode == 130, stderr
    assert "saved the model as it stands" in stdout
    assert "Traceback" not in stderr and stderr.strip().endswith("interrupted")
    model = fastgd.MLP.load(out)
    assert np.isfinite(model._flat).all()
