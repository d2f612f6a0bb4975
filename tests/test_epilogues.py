"""The element-wise passes done in the small-product kernel's stores (csrc/fg_small_gemm.h,
fg_sg_epi: bias + activation after a hidden layer's product, the activation's derivative
after a backward product) give the separate passes' bits: the same training run with
them on and off (``_engine.set_epilogues``) ends with the same parameters, bit for bit,
for every activation, both dtypes, one and two threads, and shapes whose rows and
columns leave masked vectors and column tails."""
import numpy as np
import pytest

import fastgd
from fastgd.model import _engine

pytestmark = pytest.mark.skipif(not _engine.has_small_gemm(),
                                reason="no AVX-512F: the engine uses BLAS, no epilogues")

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid", "identity"]


def _train(sizes, activation, dtype, batch, threads, epilogues):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((301, sizes[0])).astype(dtype)
    X[::5, :3] = 0.0                      # exact zeros: ReLU's edge, z <= 0 at z == 0
    y = rng.integers(0, sizes[-1], 301)
    model = fastgd.MLP(sizes, activation, dtype=dtype, seed=3)
    opt = fastgd.Adam(model.parameters(), lr=1e-2)
    previous = _engine.set_epilogues(epilogues)
    try:
        fastgd.fit(model, X, y, opt, epochs=3, batch_size=batch, seed=0, n_threads=threads)
    finally:
        _engine.set_epilogues(previous)
    return [p.copy() for p in model.parameters()]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sizes, batch", [([64, 100, 10], 200), ([23, 37, 19, 5], 61)])
def test_epilogues_give_the_passes_bits(activation, dtype, sizes, batch):
    on = _train(sizes, activation, dtype, batch, 1, True)
    off = _train(sizes, activation, dtype, batch, 1, False)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_epilogues_with_two_threads(activation):
    sizes, batch = [300, 256, 10], 256        # big enough to split the batch by rows
    on = _train(sizes, activation, np.float32, batch, 2, True)
    off = _train(sizes, activation, np.float32, batch, 2, False)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)


def test_set_epilogues_returns_the_previous_setting():
    assert _engine.set_epilogues(False) is True
    assert _engine.set_epilogues(True) is False
