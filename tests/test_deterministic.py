"""fastgd.set_deterministic: the engine cuts every batch for a fixed team, so a seed gives
the same bits on any number of threads (DESIGN.md, "Bit-identical across thread counts").

The models are big enough for every kind of block to be more than one: [784, 300, 200, 10]
(297k parameters) splits step 1 by rows (batch 1024), by the first layer's columns (batch
32 and 128: row blocks under COL_SPLIT_BELOW_ROWS), step 2 by weight rows, and at batch 1
sums the first layer's product in partial blocks (the look-ahead). Bits are compared with
assert_array_equal (parameters, every optimizer state entry, the History losses), after
Adam (which turns any last-bit difference of a gradient into a visible one). The
agreement with the reference uses tests/test_train_parity.py's tolerances (its docstring
gives the reasons) on the 1-thread run: in float64 after those Adam steps; in float32
after the same steps with SGD + momentum, because Adam's m / (sqrt(v) + eps) amplifies the
float32 rounding of gradients that nearly cancel (sums of 784 products near 0): on this
model the default path, deterministic or not, is up to 7x outside that tolerance after
one Adam step at batch 32 (measured), while SGD + momentum stays within 2% of it."""
import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.model import _engine

SIZES = [784, 300, 200, 10]
THREADS = [1, 2, 3, 4]
ROWS = {1: 24, 32: 80, 128: 300, 1024: 2100}   # two full batches and a partial one (mostly)
F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture
def deterministic():
    previous = fastgd.set_deterministic(True)
    yield fastgd.get_deterministic()
    fastgd.set_deterministic(previous)


def _data(rows, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, SIZES[0])).astype(dtype), rng.integers(0, 10, rows)


def _train(base, X, y, n_threads, batch_size, epochs=1, opt=fastgd.Adam, **opt_kw):
    m = base.copy()
    o = opt(m.parameters(), **(opt_kw or dict(lr=1e-3)))
    h = fastgd.fit(m, X, y, o, epochs=epochs, batch_size=batch_size, seed=3,
                   n_threads=n_threads)
    assert h.fast_path
    return m, o, h


def _assert_bits(a, b, msg):
    (ma, oa, ha), (mb, ob, hb) = a, b
    np.testing.assert_array_equal(ma._flat, mb._flat, err_msg=f"{msg}: parameters")
    sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
    assert sa.keys() == sb.keys(), msg
    for i in sa:
        for k, v in sa[i].items():
            np.testing.assert_array_equal(v, sb[i][k], err_msg=f"{msg}: state {i}.{k}")
    assert ha.loss == hb.loss, f"{msg}: history loss"


@pytest.mark.parametrize("batch_size", [1, 32, 128, 1024])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_on_every_thread_count(deterministic, batch_size, dtype):
    X, y = _data(ROWS[batch_size], dtype)
    base = fastgd.MLP(SIZES, "relu", dtype=dtype, seed=1, alpha=1e-4)
    runs = {t: _train(base, X, y, t, batch_size) for t in THREADS}
    for t in THREADS[1:]:
        _assert_bits(runs[1], runs[t], f"batch {batch_size} {np.dtype(dtype)} 1 vs {t} threads")
    if dtype == np.float64:
        fast, opt, kw, tol = runs[1][0], reference.Adam, dict(lr=1e-3), F64
    else:
        kw, tol = dict(lr=0.01, momentum=0.9), F32
        fast, opt = _train(base, X, y, 1, batch_size, opt=fastgd.SGD, **kw)[0], reference.SGD
    twin = base.copy()
    reference.fit(twin, X, y, opt(twin.parameters(), **kw), epochs=1, batch_size=batch_size,
                  seed=3)
    np.testing.assert_allclose(fast._flat, twin._flat, **tol,
                               err_msg=f"batch {batch_size} {np.dtype(dtype)} vs reference")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_bits_of_a_k_thread_run(dtype):
    """set_deterministic(k) on one thread reproduces the default decomposition of k
    threads: the blocks are the same, only who computes them differs."""
    X, y = _data(ROWS[32], dtype)
    base = fastgd.MLP(SIZES, "relu", dtype=dtype, seed=1)
    plain = _train(base, X, y, 3, 32)
    previous = fastgd.set_deterministic(3)
    try:
        fixed = _train(base, X, y, 1, 32)
    finally:
        fastgd.set_deterministic(previous)
    _assert_bits(plain, fixed, f"{np.dtype(dtype)} 3 threads vs deterministic 3 on 1")


def test_batch_one_chunks_and_fallback(deterministic):
    """The batch-1 look-ahead's partial sums come in the fixed block count, also when the
    forward runs on its own (callback_every chunks, the per-batch Python path)."""
    X, y = _data(12, np.float64)
    base = fastgd.MLP(SIZES, "tanh", seed=2)
    whole = _train(base, X, y, 1, 1)
    m = base.copy()
    o = fastgd.Adam(m.parameters(), lr=1e-3)
    fastgd.fit(m, X, y, o, epochs=1, batch_size=1, seed=3, n_threads=2, callback_every=5,
               callbacks=[lambda *a: None])
    np.testing.assert_array_equal(whole[0]._flat, m._flat)


def test_engine_blocks_follow_the_setting(deterministic):
    m = fastgd.MLP([4, 3, 2])
    assert m._engine(8, 1).n_blocks == fastgd._runtime.determinism.DEFAULT_BLOCKS
    assert m._engine(8, 7).n_blocks == fastgd._runtime.determinism.DEFAULT_BLOCKS
    fastgd.set_deterministic(False)
    assert fastgd.get_deterministic() == 0
    assert m._engine(8, 3).n_blocks == 3       # the default: one block per thread
    fastgd.set_deterministic(5)
    assert m._engine(8, 1).n_blocks == 5


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (2.0, TypeError),
                                      ("4", TypeError), (2**40, ValueError)])
def test_bad_block_counts_are_refused_unchanged(deterministic, bad, exc):
    before = fastgd.get_deterministic()
    with pytest.raises(exc, match="blocks"):
        fastgd.set_deterministic(bad)
    assert fastgd.get_deterministic() == before
    with pytest.raises(ValueError, match="deterministic_blocks"):
        _engine.Engine(np.zeros(17), np.zeros(17), [2, 3, 2], "relu", "softmax", 0.0, 4, 1,
                       -1)


# ---------------------------------------------------------------- big layers by columns

WIDE = [32, 1024, 2100, 10]    # layer 1 has 2.15M weights: over WIDE_LAYER_WEIGHTS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_big_layers_by_columns(dtype):
    """Step 1 of a small batch runs a big later layer by columns for all the rows
    (_wide_step): same results as the split by rows within the reference's tolerances
    (SGD + momentum for float32, see the module's docstring), and with the deterministic
    mode the same bits at 1-3 threads."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((128, WIDE[0])).astype(dtype)
    y = rng.integers(0, WIDE[-1], 128)
    base = fastgd.MLP(WIDE, "relu", dtype=dtype, seed=4, alpha=1e-4)
    assert base._engine(64, 2).step1_split(64) == (2, "big layers by columns")
    kw = dict(lr=0.01, momentum=0.9)
    fast = _train(base, X, y, 2, 64, opt=fastgd.SGD, **kw)[0]
    twin = base.copy()
    reference.fit(twin, X, y, reference.SGD(twin.parameters(), **kw), epochs=1,
                  batch_size=64, seed=3)
    np.testing.assert_allclose(fast._flat, twin._flat,
                               **(F64 if dtype == np.float64 else F32))
    previous = fastgd.set_deterministic(3)
    try:
        assert base._engine(64, 1).step1_split(64) == (3, "big layers by columns")
        runs = [_train(base, X, y, t, 64) for t in (1, 2, 3)]
    finally:
        fastgd.set_deterministic(previous)
    for t, run in zip((2, 3), runs[1:]):
        _assert_bits(runs[0], run, f"{np.dtype(dtype)} wide layers 1 vs {t} threads")


def test_big_layers_switch_restores():
    base = fastgd.MLP(WIDE, "relu", seed=4)
    previous = _engine.set_wide_layers(False)
    try:
        assert base._engine(64, 2).step1_split(64) == (2, "first columns")
    finally:
        _engine.set_wide_layers(previous)
    assert base._engine(64, 2).step1_split(64) == (2, "big layers by columns")
    assert base._engine(1024, 2).step1_split(1024) == (2, "rows")
