# The row-major BLAS shim of the engine: single-threaded GEMM/GEMV calls through the
# pointers of csrc/fg_blas.h, which the engine sets at import to scipy-openblas32's
# OpenBLAS or SciPy's (fastgd/_runtime/engine_blas.py; nothing linked at build time).
#
# BLAS is column-major: a row-major (r x c) matrix is its column-major transpose, so the
# engine writes each product for the transposes (docs/DESIGN.md, "GEMM layout").

cdef extern from "fg_blas.h" nogil:
    ctypedef void (*fg_dgemm_t)(char *, char *, int *, int *, int *, double *, double *,
                                int *, double *, int *, double *, double *,
                                int *) noexcept nogil
    ctypedef void (*fg_sgemm_t)(char *, char *, int *, int *, int *, float *, float *, int *,
                                float *, int *, float *, float *, int *) noexcept nogil
    ctypedef void (*fg_dgemv_t)(char *, int *, int *, double *, double *, int *, double *,
                                int *, double *, double *, int *) noexcept nogil
    ctypedef void (*fg_sgemv_t)(char *, int *, int *, float *, float *, int *, float *, int *,
                                float *, float *, int *) noexcept nogil
    fg_dgemm_t fg_blas_dgemm
    fg_sgemm_t fg_blas_sgemm
    fg_dgemv_t fg_blas_dgemv
    fg_sgemv_t fg_blas_sgemv

cdef extern from "fg_engine_kernels.h" nogil:
    void fg_outer(int dbl, Py_ssize_t m, Py_ssize_t n, const void *a, Py_ssize_t inca,
                  const void *b, Py_ssize_t incb, void *c, Py_ssize_t ldc)

cdef extern from "fg_small_gemm.h" nogil:
    ctypedef enum fg_epi_kind:
        FG_EPI_NONE, FG_EPI_BIAS_ACT, FG_EPI_ACT_GRAD
    ctypedef struct fg_sg_epi:
        fg_epi_kind kind
        int act                 # an fg_activation (fg_mlp.h)
        const void *bias
        const void *out
        Py_ssize_t ld_out
    bint fg_sg_epi_takes(const fg_sg_epi *e)
    long long fg_small_gemm_macs
    int fg_small_gemm_epilogues
    void fg_small_gemm_init()
    int fg_small_gemm_cpu()
    bint fg_small_gemm_takes(int dbl, char ta, char tb, Py_ssize_t m, Py_ssize_t n,
                            Py_ssize_t k)
    void fg_small_gemm(int dbl, char ta, char tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                       const void *a, Py_ssize_t lda, const void *b, Py_ssize_t ldb,
                       void *c, Py_ssize_t ldc, int beta, const fg_sg_epi *e)


cdef inline void gemm(bint is_double, char ta, char tb, int m, int n, int k,
                      char *a, int lda, char *b, int ldb, char *c, int ldc,
                      bint accumulate=False) noexcept nogil:
    """C (m x n) = op(A) (m x k) @ op(B) (k x n), column-major, alpha 1, beta 0 (beta 1,
    C += ..., when accumulate).

    Small products (fg_small_gemm_takes) run in our own kernel (csrc/fg_small_gemm.h).
    A product with one column (a batch of one row) is a GEMV and one with k = 1 an outer
    product: BLAS's GEMM would pack a whole weight matrix for each (19% of a batch-1
    epoch)."""
    cdef double one_d = 1.0, zero_d = 0.0
    cdef float one_f = 1.0, zero_f = 0.0
    cdef int inc = 1, rows, cols
    if m == 0 or n == 0:
        return
    if fg_small_gemm_takes(is_double, ta, tb, m, n, k):
        fg_small_gemm(is_double, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate, NULL)
        return
    if accumulate:
        if is_double:
            fg_blas_dgemm(&ta, &tb, &m, &n, &k, &one_d, <double *>a, &lda, <double *>b,
                          &ldb, &one_d, <double *>c, &ldc)
        else:
            fg_blas_sgemm(&ta, &tb, &m, &n, &k, &one_f, <float *>a, &lda, <float *>b,
                          &ldb, &one_f, <float *>c, &ldc)
        return
    if k == 1:
        fg_outer(is_double, m, n, a, 1 if ta == b'N' else lda, b, ldb if tb == b'N' else 1,
                 c, ldc)
        return
    if n == 1 and tb == b'N':
        rows = m if ta == b'N' else k      # A as stored
        cols = k if ta == b'N' else m
        if is_double:
            fg_blas_dgemv(&ta, &rows, &cols, &one_d, <double *>a, &lda, <double *>b, &inc,
                          &zero_d, <double *>c, &inc)
        else:
            fg_blas_sgemv(&ta, &rows, &cols, &one_f, <float *>a, &lda, <float *>b, &inc,
                          &zero_f, <float *>c, &inc)
        return
    if is_double:
        fg_blas_dgemm(&ta, &tb, &m, &n, &k, &one_d, <double *>a, &lda, <double *>b, &ldb,
                      &zero_d, <double *>c, &ldc)
    else:
        fg_blas_sgemm(&ta, &tb, &m, &n, &k, &one_f, <float *>a, &lda, <float *>b, &ldb,
                      &zero_f, <float *>c, &ldc)


cdef inline bint gemm_with(bint is_double, char ta, char tb, int m, int n, int k,
                           char *a, int lda, char *b, int ldb, char *c, int ldc,
                           const fg_sg_epi *e) noexcept nogil:
    """C = op(A) @ op(B) as gemm (beta 0), and the element-wise pass ``e`` on C when our
    kernel takes the product (it applies it to each block as it stores it: the pass's
    bits, one read and write of C fewer). Returns whether it did; if not, C holds the
    product and the caller runs the pass."""
    if fg_small_gemm_epilogues and fg_sg_epi_takes(e) and m > 0 and n > 0 \
            and fg_small_gemm_takes(is_double, ta, tb, m, n, k):
        fg_small_gemm(is_double, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, 0, e)
        return True
    gemm(is_double, ta, tb, m, n, k, a, lda, b, ldb, c, ldc)
    return False
