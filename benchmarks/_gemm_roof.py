"""The GEMM-only time of one training step: the step's own matrix products, nothing else.

A training step of an MLP is GEMM-bound, so its floor is the time of the products it must
make. For layers ``n_0 -> n_1 -> ... -> n_L`` and a batch of ``m`` rows that is one forward
product per layer (``Z_l = A_{l-1} W_l``), one weight-gradient product per layer
(``dW_l = A_{l-1}^T dZ_l``) and one input-gradient product per layer but the first
(``dA_{l-1} = dZ_l W_l^T``): 3L - 1 products, 8 for 784-256-128-10. They are issued here
through SciPy's ``sgemm``/``dgemm`` -- the OpenBLAS the engine's ``cython_blas`` calls
reach (or, with ``engine=True``, through the engine's own GEMM shim, as a step issues
them) -- on preallocated row-major buffers in the engine's own layout (a row-major matrix
is its column-major transpose, so each product is issued transposed, as
``fastgd/model/_blas.pxd`` does), so no copy and no conversion is timed. What the step
does besides (gather, bias and activation passes, loss, the optimizer) is what the ratio
step / GEMM-only measures.
"""
import numpy as np
from scipy.linalg import blas

from fastgd.model import _engine


class GemmOnlyStep:
    """Buffers and the 3L - 1 products of one step for ``layer_sizes`` at batch ``m``."""

    def __init__(self, layer_sizes, m, dtype=np.float32, seed=0, engine=False):
        """engine: issue the products through the engine's GEMM shim (fastgd's own kernel
        for the small ones, as a step does) instead of SciPy's OpenBLAS for all."""
        rng = np.random.default_rng(seed)
        self.engine = engine
        self.gemm = blas.sgemm if np.dtype(dtype) == np.float32 else blas.dgemm
        sizes = list(layer_sizes)
        self.W = [rng.standard_normal((a, b)).astype(dtype) * 0.05
                  for a, b in zip(sizes[:-1], sizes[1:])]
        self.dW = [np.zeros_like(w) for w in self.W]
        self.A = [rng.standard_normal((m, n)).astype(dtype) for n in sizes[:-1]]
        self.Z = [np.zeros((m, n), dtype) for n in sizes[1:]]
        self.dZ = [rng.standard_normal((m, n)).astype(dtype) for n in sizes[1:]]
        self.dA = [np.zeros((m, n), dtype) for n in sizes[:-1]]
        self.n_products = 3 * len(self.W) - 1

    def _product(self, a, b, out, trans_a=False, trans_b=False):
        """``out = op(a) @ op(b)`` for row-major arrays, as column-major
        ``out^T = op(b)^T op(a)^T`` written in place (no copies)."""
        if self.engine:
            _engine.row_major_product(a, b, out, trans_a, trans_b)
            return
        self.gemm(1.0, b.T, a.T, 0.0, out.T, trans_a=trans_b, trans_b=trans_a,
                  overwrite_c=1)

    def run(self):
        for l, w in enumerate(self.W):                     # forward
            self._product(self.A[l], w, self.Z[l])
        for l in range(len(self.W) - 1, -1, -1):           # backward
            self._product(self.A[l], self.dZ[l], self.dW[l], trans_a=True)
            if l > 0:
                self._product(self.dZ[l], self.W[l], self.dA[l], trans_b=True)

    def check(self):
        """The products equal NumPy's (the harness computes what it claims to time)."""
        self.run()
        for l, w in enumerate(self.W):
            np.testing.assert_allclose(self.Z[l], self.A[l] @ w, rtol=1e-4, atol=1e-3)
            np.testing.assert_allclose(self.dW[l], self.A[l].T @ self.dZ[l], rtol=1e-4,
                                       atol=1e-3)
            if l > 0:
                np.testing.assert_allclose(self.dA[l], self.dZ[l] @ w.T, rtol=1e-4,
                                           atol=1e-3)
