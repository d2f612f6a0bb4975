"""fastgd's own kernel for small products (csrc/fg_small_gemm.h) against exact products.

The kernel sums each entry of C as one chain of FMAs in order over k, so its error bound is
that of any ordered sum: |C - exact| <= k * eps * sum |a||b| (plus one rounding when it
accumulates into C). It runs only on CPUs with AVX-512F; elsewhere the engine uses BLAS and
these tests skip.
"""
import numpy as np
import pytest

from fastgd.model import _engine

EPS = {np.float32: np.finfo(np.float32).eps, np.float64: np.finfo(np.float64).eps}


pytestmark = pytest.mark.skipif(not _engine.has_small_gemm(),
                                reason="no AVX-512F: the engine uses BLAS")

# rows (the vector axis: 1-3 vectors of 8 doubles / 16 floats, full or masked), columns
# (blocks of 8, then of 4, 2 and 1: every tail of 1-7 columns), terms
SHAPES = [(1, 2, 2), (7, 3, 5), (8, 8, 2), (23, 9, 7), (24, 8, 64), (25, 17, 3),
          (48, 16, 2), (100, 200, 64), (100, 64, 200), (10, 200, 100), (1023, 7, 3),
          (33, 1, 9), (17, 4, 5), (3, 5, 4), (30, 6, 11), (100, 10, 200), (9, 14, 33),
          (0, 5, 3), (5, 0, 3)]


def _operands(rng, m, n, k, dtype, trans_b, strided, trans_a=False):
    pad = 3 if strided else 0
    if trans_a:        # stored k x m
        a = np.asfortranarray(rng.standard_normal((k + pad, m)).astype(dtype))[:k]
    else:
        a = np.asfortranarray(rng.standard_normal((m + pad, k)).astype(dtype))[:m]
    shape_b = (n, k) if trans_b else (k, n)
    b = np.asfortranarray(rng.standard_normal((shape_b[0] + pad, shape_b[1])).astype(dtype))
    b = b[:shape_b[0]]
    c = np.asfortranarray(rng.standard_normal((m + pad, n)).astype(dtype))[:m]
    return a, b, c


def _bound(a, b, k, dtype):
    return (k + 2) * EPS[dtype] * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False)])
@pytest.mark.parametrize("strided", [False, True])
def test_product_within_an_ordered_sums_bound(dtype, m, n, k, trans_a, trans_b, strided):
    if trans_a and m * k > 4096:
        pytest.skip("a transposed A is copied only up to 4096 entries (the engine's rule)")
    rng = np.random.default_rng(m * 7919 + n * 31 + k)
    a, b, c = _operands(rng, m, n, k, dtype, trans_b, strided, trans_a)
    c0 = c.copy(order="F")
    aa = a.T if trans_a else a
    bb = b.T if trans_b else b
    exact = aa.astype(np.longdouble) @ bb.astype(np.longdouble)
    assert _engine.small_gemm(a, b, c, trans_a=trans_a, trans_b=trans_b)
    assert np.all(np.abs(c - exact) <= _bound(aa, bb, k, dtype))
    # accumulate: C += op(A) op(B), one more rounding
    c1 = c0.copy(order="F")
    assert _engine.small_gemm(a, b, c1, trans_a=trans_a, trans_b=trans_b, accumulate=True)
    assert np.all(np.abs(c1 - (c0 + exact)) <= _bound(aa, bb, k, dtype) + EPS[dtype] * (
        np.abs(c0) + np.abs(exact)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_padding_around_c_is_never_written(dtype):
    """The masked last vector stores only its rows: the rows past m keep their values."""
    rng = np.random.default_rng(1)
    a, b, _ = _operands(rng, 21, 10, 6, dtype, False, False)
    full = np.asfortranarray(np.full((32, 10), 7.0, dtype))
    assert _engine.small_gemm(a, b, full[:21])
    assert np.all(full[21:] == 7.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bits_do_not_depend_on_how_the_product_is_cut(dtype):
    """Each entry is one ordered chain of FMAs, so a block of rows or columns computed on its
    own has the same bits as in the whole product (the engine cuts products by threads)."""
    rng = np.random.default_rng(2)
    a, b, c = _operands(rng, 100, 64, 200, dtype, True, False)
    assert _engine.small_gemm(a, b, c, trans_b=True)
    rows = np.asfortranarray(np.empty((37, 64), dtype))
    assert _engine.small_gemm(a[13:50], b, rows, trans_b=True)
    cols = np.asfortranarray(np.empty((100, 11), dtype))
    assert _engine.small_gemm(a, b[5:16], cols, trans_b=True)
    np.testing.assert_array_equal(rows, c[13:50])
    np.testing.assert_array_equal(cols, c[:, 5:16])


def test_refuses_what_it_cannot_read():
    f = np.zeros((8, 4), order="F")
    with pytest.raises(TypeError, match="one dtype"):
        _engine.small_gemm(f, f.T.astype(np.float32).T, f)
    with pytest.raises(ValueError, match="shapes"):
        _engine.small_gemm(f, np.zeros((3, 2), order="F"), np.zeros((8, 2), order="F"))
    with pytest.raises(ValueError, match="4096"):
        _engine.small_gemm(np.zeros((100, 41), order="F"), np.zeros((100, 2), order="F"),
                           np.zeros((41, 2), order="F"), trans_a=True)
    with pytest.raises(ValueError, match="column-major"):
        _engine.small_gemm(np.zeros((8, 4)), np.zeros((4, 2), order="F"),
                           np.zeros((8, 2), order="F"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True)])
def test_row_major_product_goes_through_the_engines_shim(dtype, trans_a, trans_b):
    """The benchmarks' handle on the engine's own GEMM dispatch (kernel or OpenBLAS)."""
    rng = np.random.default_rng(3)
    M, N, K = 200, 100, 64
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
    out = np.empty((M, N), dtype)
    _engine.row_major_product(a, b, out, trans_a, trans_b)
    aa, bb = (a.T if trans_a else a), (b.T if trans_b else b)
    exact = aa.astype(np.longdouble) @ bb.astype(np.longdouble)
    assert np.all(np.abs(out - exact) <= _bound(aa, bb, K, dtype))
    with pytest.raises(ValueError, match="C-contiguous"):
        _engine.row_major_product(a.T, b, out)
