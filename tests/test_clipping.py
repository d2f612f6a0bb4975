"""Gradient clipping inside fit: clip_norm (the global L2 norm over every parameter,
per batch, torch's clip_grad_norm_ rule) and clip_value (per element), in C on the fast
path and against fastgd.reference.fit's NumPy (clip_gradients). The engine sums the
squared norm over the flat buffer in index order and NumPy per array, so the scale can
differ in the last bits: float64 rtol 1e-10."""
import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.reference.train import clip_gradients


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((80, 5)) * 3, rng.integers(0, 3, 80)


@pytest.mark.parametrize("kw", [dict(clip_norm=0.05), dict(clip_value=0.01),
                                dict(clip_norm=0.05, clip_value=0.01)],
                         ids=["norm", "value", "both"])
@pytest.mark.parametrize("batch_size", [1, 16])
def test_fast_path_equals_reference_and_clipping_changes_the_run(kw, batch_size):
    X, y = _data()
    runs = []
    for fit, opt in ((fastgd.fit, fastgd.SGD), (reference.fit, reference.SGD),
                     (fastgd.fit, fastgd.SGD)):
        m = fastgd.MLP([5, 7, 3], dtype=np.float64, seed=1)
        extra = kw if len(runs) < 2 else {}
        h = fit(m, X, y, opt(m.parameters(), lr=0.5), epochs=2, batch_size=batch_size, seed=2,
                n_threads=1, **extra)
        runs.append((m._flat.copy(), h))
    assert runs[0][1].fast_path and not runs[1][1].fast_path
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-10, atol=1e-12)
    assert not np.allclose(runs[0][0], runs[2][0])       # the clip did something


def test_clip_norm_bounds_each_batch_update():
    """With SGD (no momentum), lr * clip_norm bounds every batch's step."""
    X, y = _data()
    m = fastgd.MLP([5, 7, 3], dtype=np.float64, seed=1)
    steps = []

    class Record:
        last = m._flat.copy()

        def on_batches_end(self, epoch, logs):
            steps.append(np.linalg.norm(m._flat - self.last))
            self.last = m._flat.copy()

    fastgd.fit(m, X, y, fastgd.SGD(m.parameters(), lr=0.5), epochs=1, batch_size=4, seed=2,
               callback_every=1, callbacks=[Record()], clip_norm=0.01)
    assert max(steps) <= 0.5 * 0.01 * (1 + 1e-9) and len(steps) == 19


def test_clip_gradients_by_hand():
    g = [np.array([3.0, 4.0]), np.array([12.0])]
    norm = clip_gradients(g, clip_norm=6.5)
    np.testing.assert_allclose(norm[0], [3.0 * 6.5 / (13 + 1e-6), 4.0 * 6.5 / (13 + 1e-6)])
    assert clip_gradients(g, clip_norm=100.0)[1][0] == 12.0
    np.testing.assert_array_equal(clip_gradients(g, clip_value=3.5)[0], [3.0, 3.5])
    assert np.isnan(clip_gradients([np.array([np.nan])], clip_value=1.0)[0][0])


@pytest.mark.parametrize("kw, exc", [(dict(clip_norm=0.0), ValueError),
                                     (dict(clip_norm=-1.0), ValueError),
                                     (dict(clip_value=-0.1), ValueError),
                                     (dict(clip_norm=True), TypeError)])
def test_bad_clip_arguments(kw, exc):
    X, y = _data()
    m = fastgd.MLP([5, 7, 3], seed=1)
    with pytest.raises(exc, match="clip"):
        fastgd.fit(m, X, y, fastgd.SGD(m.parameters()), epochs=1, batch_size=4, **kw)
