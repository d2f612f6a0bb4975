"""What a checkpoint per epoch costs: ``fastgd.save`` of the 784-256-128-10 model (float32)
with its Adam state, a schedule and History, against one training epoch (60 000 samples,
batch 128) in the same run. Both sit in one group, so the ratio reads off the table;
``test_checkpoint_ratio`` also records it (``extra_info["save_over_epoch"]``).

The write is atomic (temporary file, fsync, rename), so its time includes an fsync of
~2.8 MB: on a disk with a slow fsync that, not the copy, dominates.
Under --benchmark-disable every case runs once on 512 samples and checks the file reads back.
"""
import statistics
import time

import numpy as np
import pytest

import fastgd
from fastgd import schedules

import _train_cases as cases


@pytest.fixture(scope="module")
def data():
    return cases.make_data(60_000)


def _run(data, n):
    X, y = data
    trainer = cases.Trainer("fastgd", X[:n], y[:n], 128, cases.bench_threads())
    sched = schedules.StepLR(trainer.opt, 1, gamma=0.99)
    history = fastgd.fit(trainer.model, X[:n], y[:n], trainer.opt, epochs=1, batch_size=128,
                         seed=0, schedule=sched, n_threads=cases.bench_threads())
    trainer.epochs_run = 1
    return trainer, sched, history


def _n(benchmark):
    return 512 if benchmark.disabled else 60_000


def test_epoch(benchmark, data):
    trainer, _, _ = _run(data, _n(benchmark))
    benchmark.group = "checkpoint per epoch, 784-256-128-10 Adam float32"
    loss = benchmark.pedantic(trainer.epoch, rounds=3 if not benchmark.disabled else 1,
                              iterations=1)
    assert np.isfinite(loss)


def test_checkpoint_write(benchmark, data, tmp_path):
    trainer, sched, history = _run(data, _n(benchmark))
    benchmark.group = "checkpoint per epoch, 784-256-128-10 Adam float32"
    path = tmp_path / "ckpt.npz"

    def write():
        fastgd.save(path, trainer.model, trainer.opt, sched, history)
    benchmark.pedantic(write, rounds=10 if not benchmark.disabled else 1, iterations=1)
    back = fastgd.load(path)
    np.testing.assert_array_equal(back.model._flat, trainer.model._flat)
    benchmark.extra_info.update(bytes=path.stat().st_size)


def test_checkpoint_ratio(benchmark, data, tmp_path):
    """One number: median save time / median epoch time, measured back to back."""
    trainer, sched, history = _run(data, _n(benchmark))
    benchmark.group = "checkpoint per epoch, ratio"
    rounds = 1 if benchmark.disabled else 5
    epochs, saves = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        trainer.epoch()
        t1 = time.perf_counter()
        fastgd.save(tmp_path / "c.npz", trainer.model, trainer.opt, sched, history)
        t2 = time.perf_counter()
        epochs.append(t1 - t0)
        saves.append(t2 - t1)
    ratio = statistics.median(saves) / statistics.median(epochs)
    benchmark.extra_info.update(epoch_s=statistics.median(epochs),
                                save_s=statistics.median(saves), save_over_epoch=ratio)
    benchmark.pedantic(lambda: ratio, rounds=1, iterations=1)
    assert ratio > 0
