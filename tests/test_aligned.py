"""The flat buffers fastgd allocates start on a 64-byte boundary (see fastgd._runtime.aligned)."""
import numpy as np
import pytest

import fastgd
from fastgd._runtime.aligned import CACHE_LINE, aligned_full


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 1023, 100003])
def test_aligned_full(dtype, n):
    a = aligned_full(n, 0.25, dtype)
    assert a.shape == (n,) and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
    assert n == 0 or a.ctypes.data % CACHE_LINE == 0    # (an empty view has no data)
    assert np.all(a == 0.25)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_model_and_optimizer_buffers_are_aligned(dtype):
    m = fastgd.MLP([7, 5, 3], dtype=dtype, seed=0)
    assert m._flat.ctypes.data % CACHE_LINE == 0
    assert m._grad_flat.ctypes.data % CACHE_LINE == 0
    o = fastgd.Adagrad(m.parameters(), initial_accumulator_value=0.5)
    o.step(m._grads)
    (buf,) = o._group_state[0]["buffers"].values()
    assert buf.ctypes.data % CACHE_LINE == 0 and buf.dtype == dtype
    # the state still starts at its initial value (the gradients were zero)
    np.testing.assert_array_equal(buf, 0.5)
    flat, views = fastgd.optim.flat_parameters([(3, 4), 0, 5], dtype)
    assert flat.ctypes.data % CACHE_LINE == 0 and not flat.any()
    assert [v.shape for v in views] == [(3, 4), (0,), (5,)]
