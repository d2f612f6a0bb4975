"""What the long-run features cost, as ratios to the plain fast path in the same group:
one epoch of 784-256-128-10 (Adam, float32) at batch 1 and 128 with the signal poll off,
an EMA of the weights, Polyak averaging, clipping by global norm, per-row sample weights,
and two param groups (no weight decay on biases). The interrupt latency -- seconds from a
SIGINT to TrainingInterrupted -- is recorded in extra_info of its own case.

Timed runs use 20 000 rows (2 000 at batch 1); under --benchmark-disable every case runs
once on 256 rows and checks that it trained."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import fastgd
from fastgd.model import _engine

VARIANTS = ["plain", "poll-off", "ema", "polyak", "clip-norm", "sample-weight",
            "two-groups"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((20_000, 784)).astype(np.float32),
            rng.integers(0, 10, 20_000))


def _setup(variant, X):
    model = fastgd.MLP([784, 256, 128, 10], seed=0)
    p = model.parameters()
    if variant == "two-groups":
        opt = fastgd.AdamW([{"params": p[0::2]}, {"params": p[1::2], "weight_decay": 0.0}],
                           lr=1e-3)
    else:
        opt = fastgd.Adam(p, lr=1e-3)
    kw = {"ema": dict(ema=0.999), "polyak": dict(average=True),
          "clip-norm": dict(clip_norm=1.0),
          "sample-weight": dict(sample_weight=np.linspace(0.5, 1.5, len(X)))}.get(variant, {})
    return model, opt, kw


@pytest.mark.parametrize("batch_size", [1, 128])
@pytest.mark.parametrize("variant", VARIANTS)
def test_long_run_feature_cost(benchmark, data, variant, batch_size):
    X, y = data
    n = 256 if benchmark.disabled else (2_000 if batch_size == 1 else 20_000)
    X, y = X[:n], y[:n]
    model, opt, kw = _setup(variant, X)
    previous = _engine.set_poll_interval(0.0 if variant == "poll-off" else 0.025)
    try:
        def epoch():
            return fastgd.fit(model, X, y, opt, epochs=1, batch_size=batch_size, seed=1,
                              n_threads=1, **kw)
        benchmark.group = f"long-run features, batch {batch_size}"
        h = benchmark.pedantic(epoch, rounds=1 if benchmark.disabled else 3, iterations=1)
    finally:
        _engine.set_poll_interval(previous)
    assert h.fast_path and np.isfinite(h.loss[-1])
    benchmark.extra_info.update(variant=variant, batch_size=batch_size, samples=n)


@pytest.mark.skipif(os.name == "nt", reason="needs POSIX signals")
@pytest.mark.parametrize("batch_size", [1, 32, 1024])
def test_interrupt_latency(benchmark, data, batch_size):
    X, y = data
    model, opt, _ = _setup("plain", X)
    sent = {}

    def run():
        def kill():
            time.sleep(0.3)          # training is under way by then
            sent["t"] = time.perf_counter()
            os.kill(os.getpid(), signal.SIGINT)
        watcher = threading.Thread(target=kill, daemon=True)
        watcher.start()
        old = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            fastgd.fit(model, X, y, opt, epochs=1000, batch_size=batch_size, seed=1,
                       n_threads=1)
        except fastgd.TrainingInterrupted:
            return time.perf_counter() - sent["t"]
        finally:
            signal.signal(signal.SIGINT, old)
            watcher.join()
        raise AssertionError("fit finished before the signal")

    benchmark.group = "interrupt latency"
    latency = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(batch_size=batch_size, latency_s=latency)
    assert latency >= 0
