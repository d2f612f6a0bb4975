"""The training engine: whole epochs of mini-batch gradient descent in C, without the GIL.

Design: per mini-batch, two steps, each one OpenMP region (or plain serial code when one
thread is enough):
1. rows: the batch's rows are split into one block per thread; each thread gathers its rows
   (converting dtype, from any strides, so C/F-ordered arrays and memmaps are read in
   place), runs them forward through every layer (a GEMM on its rows, then bias and
   activation fused into one pass), computes their loss and dL/dlogits in one pass, and
   back-propagates dL/dZ through every layer -- all row-local, so no thread waits;
2. weights: each layer's weight gradient dW = A^T dZ is split by blocks of weight rows
   (a contiguous span of the flat parameter buffer), each followed at once by the
   optimizer's fused kernel over exactly that span while its gradient is still in cache;
   the last block of a layer also does the bias. Every parameter has one writer: no
   reduction, no per-thread gradient copies. A block's GEMM is one BLAS call, but BLAS may
   round a block of a product differently from the whole product, so parameters can differ
   in the last bits between thread counts; the same thread count is bit-identical.
A batch of one row has no GEMM worth the name: its weight gradient a (x) dz is made row by
row inside the optimizer's loop (never written to memory), and the first layer's update
also sums the next sample's product x_next @ W_0 while each updated row is in L1, so the
next forward skips its pass over the largest weight matrix (see _first_layer_one_row for
the summation order that keeps both ways bit-identical).
GEMMs are single-threaded BLAS calls (scipy.linalg.cython_blas: nothing linked at build
time, the route scikit-learn's Cython takes) made from inside our threads, so fit limits
BLAS to one thread: one thread pool, ours, and no oversubscription (BLAS's own threads
plus OpenMP's spinning team were measured 20-70x slower on 2 cores). Nothing is allocated
per batch: every buffer is made once by Engine(). Loss partials are summed in block order.
Mirrors fastgd/reference/mlp.py and fastgd/reference/train.py.
"""
from cython.parallel cimport parallel, prange
from libc.math cimport isfinite
from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, dgemv, sgemm, sgemv
cimport numpy as cnp
import numpy as np

from fastgd.optim._optim cimport (fg_apply_f32, fg_apply_f64, fg_apply_outer_f32, fg_apply_outer_f64,
                            fg_prepare, fg_step, fill_step)

cnp.import_array()

DEF MAX_LAYERS = 128
DEF MAX_BLOCKS = 256
# A thread joins a batch's row or column step only if it gets at least this many
# multiply-adds (~20-40 us of GEMM at one core's speed). Below it the step stays serial:
# an OpenMP region costs ~1 us on an idle machine, but on a loaded 2-vCPU VM a region
# whose second thread is descheduled costs milliseconds (measured: a 2-thread fit of the
# digits MLP, 20 us of work per region, took 5 s instead of 0.02 s under load).
DEF MIN_WORK_PER_THREAD = 1048576
# Row blocks of fewer rows than this make the first layer's GEMM inefficient (OpenBLAS's
# AVX-512 sgemm on 784x256: ~126 GFLOP/s with 64 rows, ~170 with 128); below it, step 1
# computes the first layer's product for all rows, split by columns instead.
DEF COL_SPLIT_BELOW_ROWS = 256

# How step 1 finds the first layer's inputs and product (see _rows_forward)
DEF FIRST_FRESH = 0    # gather the rows and compute the product
DEF FIRST_AHEAD = 1    # batch 1: copy x_next; the previous update summed the product
DEF FIRST_DONE = 2     # the column split gathered the rows and computed the product

MAX_LAYERS_SUPPORTED = MAX_LAYERS

cdef extern from "fg_mlp.h" nogil:
    ctypedef enum fg_activation:
        FG_RELU, FG_LEAKY_RELU, FG_TANH, FG_SIGMOID, FG_IDENTITY
    ctypedef enum fg_output:
        FG_SOFTMAX, FG_SIGMOID_OUT, FG_LINEAR
    void fg_bias_act_f32(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, float *z, const float *b, fg_activation act)
    void fg_bias_act_f64(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, double *z, const double *b, fg_activation act)
    void fg_act_backward_f32(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, const float *a, float *d, fg_activation act)
    void fg_act_backward_f64(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, const double *a, double *d, fg_activation act)
    double fg_output_loss_f32(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, float *z, const float *b,
                              const int64_t *labels, const float *targets, fg_output out, float inv_b)
    double fg_output_loss_f64(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, double *z, const double *b,
                              const int64_t *labels, const double *targets, fg_output out, double inv_b)
    void fg_col_sums_f32(Py_ssize_t rows, Py_ssize_t n, Py_ssize_t ld, const float *d, float *db)
    void fg_col_sums_f64(Py_ssize_t rows, Py_ssize_t n, Py_ssize_t ld, const double *d, double *db)
    void fg_add_scaled_f32(Py_ssize_t rows, Py_ssize_t n, Py_ssize_t ld, float *dw, const float *w, float alpha)
    void fg_add_scaled_f64(Py_ssize_t rows, Py_ssize_t n, Py_ssize_t ld, double *dw, const double *w, double alpha)
    void fg_outer_f32(Py_ssize_t m, Py_ssize_t n, const float *a, Py_ssize_t inca, const float *b, Py_ssize_t incb, float *c, Py_ssize_t ldc)
    void fg_outer_f64(Py_ssize_t m, Py_ssize_t n, const double *a, Py_ssize_t inca, const double *b, Py_ssize_t incb, double *c, Py_ssize_t ldc)
    void fg_accumulate_rows_f32(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, const float *x, const float *w, float *acc)
    void fg_accumulate_rows_f64(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, const double *x, const double *w, double *acc)
    void fg_sum_blocks_f32(Py_ssize_t blocks, Py_ssize_t n, const float *parts, float *out)
    void fg_sum_blocks_f64(Py_ssize_t blocks, Py_ssize_t n, const double *parts, double *out)

ACTIVATION_IDS = {"relu": FG_RELU, "leaky_relu": FG_LEAKY_RELU, "tanh": FG_TANH,
                  "sigmoid": FG_SIGMOID, "identity": FG_IDENTITY}
OUTPUT_IDS = {"softmax": FG_SOFTMAX, "sigmoid": FG_SIGMOID_OUT, "linear": FG_LINEAR}


cdef struct Net:
    int n_layers
    int sizes[MAX_LAYERS + 1]
    Py_ssize_t w_off[MAX_LAYERS]
    Py_ssize_t b_off[MAX_LAYERS]
    Py_ssize_t n_params
    fg_activation act
    fg_output out
    double alpha
    bint is_double
    int n_threads
    Py_ssize_t batch_max
    char *params
    char *grads
    char *acts[MAX_LAYERS + 1]   # acts[0]: the batch's inputs; acts[l]: layer l's outputs
    char *dz[MAX_LAYERS + 1]     # dz[l]: dL/dZ of layer l (dz[L] is acts[L], overwritten)
    int64_t *labels              # the batch's class ids (softmax)
    char *targets                # the batch's target values (sigmoid, linear)
    # batch 1 (see _first_layer_one_row): the first layer's rows are summed in b1_blocks
    # blocks, the blocks of step 2; z_part holds one partial product per block and x_next
    # the next sample's inputs, gathered before step 2 so the update can sum its product
    int b1_blocks
    char *z_part
    char *x_next


cdef struct Data:
    char *X
    Py_ssize_t x_row, x_col      # strides in bytes
    bint x_double
    const int64_t *labels
    char *Y
    Py_ssize_t y_row, y_col
    bint y_double


# ---------------------------------------------------------------- BLAS, row-major
# BLAS is column-major: a row-major (r x c) matrix is its column-major transpose, so each
# product below is written for the transposes (see docs/DESIGN.md, "GEMM layout").

cdef inline void _gemm(bint is_double, char ta, char tb, int m, int n, int k,
                       char *a, int lda, char *b, int ldb, char *c, int ldc) noexcept nogil:
    """C (m x n) = op(A) (m x k) @ op(B) (k x n), column-major, alpha 1, beta 0.

    A product with one column (a batch of one row) is a GEMV and one with k = 1 an outer
    product: BLAS's GEMM would pack a whole weight matrix for each (19% of a batch-1 epoch)."""
    cdef double one_d = 1.0, zero_d = 0.0
    cdef float one_f = 1.0, zero_f = 0.0
    cdef int inc = 1, rows, cols
    if m == 0 or n == 0:
        return
    if k == 1:
        if is_double:
            fg_outer_f64(m, n, <double *>a, 1 if ta == b'N' else lda, <double *>b,
                         ldb if tb == b'N' else 1, <double *>c, ldc)
        else:
            fg_outer_f32(m, n, <float *>a, 1 if ta == b'N' else lda, <float *>b,
                         ldb if tb == b'N' else 1, <float *>c, ldc)
        return
    if n == 1 and tb == b'N':
        rows = m if ta == b'N' else k      # A as stored
        cols = k if ta == b'N' else m
        if is_double:
            dgemv(&ta, &rows, &cols, &one_d, <double *>a, &lda, <double *>b, &inc, &zero_d,
                  <double *>c, &inc)
        else:
            sgemv(&ta, &rows, &cols, &one_f, <float *>a, &lda, <float *>b, &inc, &zero_f,
                  <float *>c, &inc)
        return
    if is_double:
        dgemm(&ta, &tb, &m, &n, &k, &one_d, <double *>a, &lda, <double *>b, &ldb, &zero_d,
              <double *>c, &ldc)
    else:
        sgemm(&ta, &tb, &m, &n, &k, &one_f, <float *>a, &lda, <float *>b, &ldb, &zero_f,
              <float *>c, &ldc)


cdef inline Py_ssize_t _isz(const Net *net) noexcept nogil:
    return 8 if net.is_double else 4


cdef inline char *_row(const Net *net, char *buf, int width, Py_ssize_t r) noexcept nogil:
    return buf + r * width * _isz(net)


cdef inline int _split(Py_ssize_t work, Py_ssize_t units, int n_threads) noexcept nogil:
    """Blocks worth making for ``work`` multiply-adds over ``units`` rows/columns."""
    cdef Py_ssize_t t = work // MIN_WORK_PER_THREAD
    if t > n_threads:
        t = n_threads
    if t > units:
        t = units
    if t > MAX_BLOCKS:
        t = MAX_BLOCKS
    return <int>t if t > 1 else 1


cdef inline int _weight_blocks(const Net *net, Py_ssize_t B, bint update) noexcept nogil:
    """Blocks of weight rows in step 2; the update costs about as much as a GEMM over 16
    more rows (memory-bound, ~28 B/param)."""
    return _split((B + (16 if update else 0)) * net.n_params, net.n_threads, net.n_threads)


cdef void _first_layer_one_row(Net *net) noexcept nogil:
    """acts[1] = acts[0] @ W_0 for a batch of one row, summed over the rows of W_0 in the
    blocks of step 2, each block row after row, then block by block: the order in which the
    fused update (fg_apply_outer) sums the next sample's product, so a batch-1 forward has
    the same bits whether it runs here or inside the previous sample's update."""
    cdef int j, T = net.b1_blocks, n_in = net.sizes[0], n_out = net.sizes[1]
    cdef Py_ssize_t isz = _isz(net)
    memset(net.z_part, 0, T * n_out * isz)
    for j in range(T):
        if net.is_double:
            fg_accumulate_rows_f64(n_in * j // T, n_in * (j + 1) // T, n_out,
                                   <double *>net.acts[0], <double *>(net.params + net.w_off[0] * isz),
                                   <double *>(net.z_part + j * n_out * isz))
        else:
            fg_accumulate_rows_f32(n_in * j // T, n_in * (j + 1) // T, n_out,
                                   <float *>net.acts[0], <float *>(net.params + net.w_off[0] * isz),
                                   <float *>(net.z_part + j * n_out * isz))
    _sum_blocks(net)


cdef inline void _sum_blocks(Net *net) noexcept nogil:
    if net.is_double:
        fg_sum_blocks_f64(net.b1_blocks, net.sizes[1], <double *>net.z_part, <double *>net.acts[1])
    else:
        fg_sum_blocks_f32(net.b1_blocks, net.sizes[1], <float *>net.z_part, <float *>net.acts[1])


# ---------------------------------------------------------------- step 1: rows

cdef double _rows_forward(Net *net, const Data *data, const int64_t *rows, Py_ssize_t r0,
                          Py_ssize_t r1, Py_ssize_t B, bint backward, int first) noexcept nogil:
    """Gather rows [r0, r1) of the batch and run them forward (and backward: dL/dZ of every
    layer for these rows). Returns the rows' summed data loss (0 when not backward).
    first: FIRST_FRESH, or the first layer's inputs and product (before the bias) are
    already there -- FIRST_AHEAD: a batch of one row whose inputs wait in x_next and whose
    product the previous sample's update made; FIRST_DONE: the column split made both."""
    cdef int l, L = net.n_layers, n_in, n_out
    cdef int nr = <int>(r1 - r0)
    cdef Py_ssize_t r
    cdef double loss = 0.0
    cdef char *bias
    if nr <= 0:
        return 0.0
    if first == FIRST_AHEAD:
        memcpy(net.acts[0], net.x_next, net.sizes[0] * _isz(net))
    elif first == FIRST_FRESH:
        _gather_block(data.X, data.x_row, data.x_col, data.x_double,
                      net.acts[0], net.is_double, rows, r0, r1, net.sizes[0])
    if backward:
        if data.labels != NULL:
            for r in range(r0, r1):
                net.labels[r] = data.labels[rows[r]]
        else:
            _gather_block(data.Y, data.y_row, data.y_col, data.y_double, net.targets,
                          net.is_double, rows, r0, r1, net.sizes[L])
    for l in range(L):
        n_in = net.sizes[l]
        n_out = net.sizes[l + 1]
        if l == 0 and first != FIRST_FRESH:
            pass
        elif l == 0 and B == 1:
            _first_layer_one_row(net)
        else:
            # Z[r0:r1] (nr x n_out) = A[r0:r1] (nr x n_in) @ W (n_in x n_out)
            _gemm(net.is_double, b'N', b'N', n_out, nr, n_in,
                  net.params + net.w_off[l] * _isz(net), n_out,
                  _row(net, net.acts[l], n_in, r0), n_in,
                  _row(net, net.acts[l + 1], n_out, r0), n_out)
        if l < L - 1:
            bias = net.params + net.b_off[l] * _isz(net)
            if net.is_double:
                fg_bias_act_f64(r0, r1, n_out, <double *>net.acts[l + 1], <double *>bias, net.act)
            else:
                fg_bias_act_f32(r0, r1, n_out, <float *>net.acts[l + 1], <float *>bias, net.act)
    if not backward:
        return 0.0
    bias = net.params + net.b_off[L - 1] * _isz(net)
    if net.is_double:
        loss = fg_output_loss_f64(r0, r1, net.sizes[L], <double *>net.acts[L], <double *>bias,
                                  net.labels, <double *>net.targets, net.out, 1.0 / B)
    else:
        loss = fg_output_loss_f32(r0, r1, net.sizes[L], <float *>net.acts[L], <float *>bias,
                                  net.labels, <float *>net.targets, net.out, <float>(1.0 / B))
    for l in range(L - 1, 0, -1):
        n_in = net.sizes[l]
        n_out = net.sizes[l + 1]
        # dA_l[r0:r1] (nr x n_in) = dZ_{l+1}[r0:r1] (nr x n_out) @ W_l^T
        _gemm(net.is_double, b'T', b'N', n_in, nr, n_out, net.params + net.w_off[l] * _isz(net),
              n_out, _row(net, net.dz[l + 1], n_out, r0), n_out,
              _row(net, net.dz[l], n_in, r0), n_in)
        if net.is_double:
            fg_act_backward_f64(r0, r1, n_in, <double *>net.acts[l], <double *>net.dz[l], net.act)
        else:
            fg_act_backward_f32(r0, r1, n_in, <float *>net.acts[l], <float *>net.dz[l], net.act)
    return loss


cdef inline int _col_edge(const Net *net, int j, int nb) noexcept nogil:
    """Start of column block j of nb over the first layer's outputs, on a multiple of 16
    (a whole AVX-512 vector of float32) except at the end."""
    if j >= nb:
        return net.sizes[1]
    return net.sizes[1] * j // nb // 16 * 16


cdef void _first_layer_cols(Net *net, Py_ssize_t B, int c0, int c1) noexcept nogil:
    """Z_1[:, c0:c1] (B x (c1 - c0)) = A (B x n_in) @ W_0[:, c0:c1], before the bias."""
    cdef int n_in = net.sizes[0], n_out = net.sizes[1]
    cdef Py_ssize_t isz = _isz(net)
    _gemm(net.is_double, b'N', b'N', c1 - c0, <int>B, n_in,
          net.params + (net.w_off[0] + c0) * isz, n_out, net.acts[0], n_in,
          net.acts[1] + c0 * isz, n_out)


cdef double _rows_step(Net *net, const Data *data, const int64_t *rows, Py_ssize_t B,
                       bint backward, int first) noexcept nogil:
    """Step 1 over the whole batch: one row block per thread; loss partials summed in order.
    With small row blocks (< COL_SPLIT_BELOW_ROWS rows) and a first layer wide enough, the
    threads first gather their rows, then each computes a block of the first layer's
    columns for all the rows (a GEMM as efficient as the whole batch's), then their rows
    go on from there: one OpenMP region, the worksharing loops' barriers between."""
    cdef int j, nb = _split(B * net.n_params, B, net.n_threads)
    cdef double partial[MAX_BLOCKS]
    cdef double total = 0.0
    if nb == 1:
        return _rows_forward(net, data, rows, 0, B, B, backward, first)
    if B < COL_SPLIT_BELOW_ROWS * nb and net.sizes[1] >= 64 * nb:
        with parallel(num_threads=nb):
            for j in prange(nb, schedule="static"):
                _gather_block(data.X, data.x_row, data.x_col, data.x_double, net.acts[0],
                              net.is_double, rows, B * j // nb, B * (j + 1) // nb,
                              net.sizes[0])
            for j in prange(nb, schedule="static"):
                _first_layer_cols(net, B, _col_edge(net, j, nb), _col_edge(net, j + 1, nb))
            for j in prange(nb, schedule="static"):
                partial[j] = _rows_forward(net, data, rows, B * j // nb, B * (j + 1) // nb, B,
                                           backward, FIRST_DONE)
    else:
        for j in prange(nb, schedule="static", num_threads=nb):
            partial[j] = _rows_forward(net, data, rows, B * j // nb, B * (j + 1) // nb, B,
                                       backward, FIRST_FRESH)
    for j in range(nb):
        total += partial[j]
    return total


# ---------------------------------------------------------------- step 2: weight rows

cdef struct Update:
    # the optimizer step fused into step 2 (step is NULL: gradients only)
    const fg_step *step
    char *s1
    char *s2
    char *s3
    # batch 1: the first layer's update also sums the next sample's product (its inputs
    # in net.x_next, one partial per block into net.z_part)
    bint look_ahead


cdef inline void _update_span(Net *net, const Update *u, Py_ssize_t off, Py_ssize_t n) noexcept nogil:
    """The optimizer's fused kernel over parameters [off, off + n) of the flat buffer."""
    cdef Py_ssize_t o = off * _isz(net)
    if u.step == NULL or n <= 0:
        return
    if net.is_double:
        fg_apply_f64(u.step, n, <double *>(net.params + o), <const double *>(net.grads + o),
                     NULL if u.s1 == NULL else <double *>(u.s1 + o),
                     NULL if u.s2 == NULL else <double *>(u.s2 + o),
                     NULL if u.s3 == NULL else <double *>(u.s3 + o))
    else:
        fg_apply_f32(u.step, n, <float *>(net.params + o), <const float *>(net.grads + o),
                     NULL if u.s1 == NULL else <float *>(u.s1 + o),
                     NULL if u.s2 == NULL else <float *>(u.s2 + o),
                     NULL if u.s3 == NULL else <float *>(u.s3 + o))


cdef inline void *_state(char *s, Py_ssize_t off, Py_ssize_t isz) noexcept nogil:
    return NULL if s == NULL else <void *>(s + off * isz)


cdef void _rows_grad(Net *net, const Update *u, int l, Py_ssize_t r0, Py_ssize_t r1,
                     bint with_bias, Py_ssize_t B, int block) noexcept nogil:
    """Weight rows [r0, r1) of layer l: dW[r0:r1] = A[:, r0:r1]^T dZ (+ alpha W[r0:r1]),
    then the optimizer over exactly those parameters -- a contiguous span, updated while
    its fresh gradient is still in cache. (Batch 1 with an update: the weight gradient is
    made inside fg_apply_outer and never stored, so after fit the gradient buffer holds
    no complete gradient: it is the engine's scratch space.) with_bias: also db = column sums of dZ and its
    update."""
    cdef int n_out = net.sizes[l + 1], n_in = net.sizes[l], nr = <int>(r1 - r0)
    cdef Py_ssize_t isz = _isz(net), off = net.w_off[l] + r0 * n_out
    cdef char *dw = net.grads + off * isz
    cdef char *w = net.params + off * isz
    cdef char *db = net.grads + net.b_off[l] * isz
    cdef char *a_next = NULL
    cdef char *acc = NULL
    if nr > 0 and B == 1 and u.step != NULL:
        # one row: dW is the outer product a (x) dz, made row by row inside the update,
        # which for the first layer also sums the next sample's product (block's partial)
        if l == 0 and u.look_ahead:
            a_next = net.x_next + r0 * isz
            acc = net.z_part + block * n_out * isz
        if net.is_double:
            fg_apply_outer_f64(u.step, nr, n_out, <double *>(net.acts[l] + r0 * isz), 1,
                               <double *>net.dz[l + 1], net.alpha, <double *>w,
                               <double *>_state(u.s1, off, isz), <double *>_state(u.s2, off, isz),
                               <double *>_state(u.s3, off, isz), <double *>a_next, <double *>acc)
        else:
            fg_apply_outer_f32(u.step, nr, n_out, <float *>(net.acts[l] + r0 * isz), 1,
                               <float *>net.dz[l + 1], <float>net.alpha, <float *>w,
                               <float *>_state(u.s1, off, isz), <float *>_state(u.s2, off, isz),
                               <float *>_state(u.s3, off, isz), <float *>a_next, <float *>acc)
    elif nr > 0:
        # dW[r0:r1] (nr x n_out) = A[:, r0:r1]^T (nr x B) @ dZ (B x n_out)
        _gemm(net.is_double, b'N', b'T', n_out, nr, <int>B, net.dz[l + 1], n_out,
              net.acts[l] + r0 * isz, n_in, dw, n_out)
        if net.alpha != 0.0:
            if net.is_double:
                fg_add_scaled_f64(nr, n_out, n_out, <double *>dw, <double *>w, net.alpha)
            else:
                fg_add_scaled_f32(nr, n_out, n_out, <float *>dw, <float *>w, <float>net.alpha)
        _update_span(net, u, off, <Py_ssize_t>nr * n_out)
    if with_bias:
        if net.is_double:
            fg_col_sums_f64(B, n_out, n_out, <double *>net.dz[l + 1], <double *>db)
        else:
            fg_col_sums_f32(B, n_out, n_out, <float *>net.dz[l + 1], <float *>db)
        _update_span(net, u, net.b_off[l], n_out)


cdef void _grads_step(Net *net, Py_ssize_t B, const Update *u) noexcept nogil:
    """Step 2 (and 3): every layer's gradient, split by blocks of weight rows (task j:
    block j % T of layer j // T, so each thread gets a share of every layer; the last
    block of a layer also does its bias), each block followed by its optimizer update.
    Every parameter has one writer: no reduction, no per-thread gradient copies."""
    cdef int l, j, T = _weight_blocks(net, B, u.step != NULL)
    cdef int n_tasks
    cdef Py_ssize_t n_in
    if T == 1:
        for l in range(net.n_layers):
            _rows_grad(net, u, l, 0, net.sizes[l], True, B, 0)
        return
    n_tasks = net.n_layers * T
    for j in prange(n_tasks, schedule="static", chunksize=1, num_threads=T):
        n_in = net.sizes[j // T]
        _rows_grad(net, u, j // T, n_in * (j % T) // T, n_in * (j % T + 1) // T,
                   j % T == T - 1, B, j % T)


# ---------------------------------------------------------------- gather

ctypedef fused src_t:
    float
    double

ctypedef fused dst_t:
    float
    double


cdef extern from "fg_platform.h":
    void FG_PREFETCH(const void *addr) noexcept nogil

# Rows are read in shuffled order, so each one starts as a cache miss that the hardware
# prefetcher cannot foresee; the gather asks for the row this many rows ahead while it
# copies the current one (a contiguous row only: a strided one is one line per element).
DEF PREFETCH_ROWS_AHEAD = 4


cdef inline void _gather_rows(src_t *src_kind, dst_t *dst, char *base, Py_ssize_t row_stride,
                              Py_ssize_t col_stride, const int64_t *rows, Py_ssize_t r0,
                              Py_ssize_t r1, Py_ssize_t width) noexcept nogil:
    cdef Py_ssize_t r, k
    cdef char *row
    cdef char *ahead
    for r in range(r0, r1):
        row = base + rows[r] * row_stride
        if col_stride == sizeof(src_t) and r + PREFETCH_ROWS_AHEAD < r1:
            ahead = base + rows[r + PREFETCH_ROWS_AHEAD] * row_stride
            for k in range(0, width * <Py_ssize_t>sizeof(src_t), 64):
                FG_PREFETCH(ahead + k)
        if col_stride == sizeof(src_t):
            for k in range(width):
                dst[r * width + k] = <dst_t>(<src_t *>row)[k]
        else:
            for k in range(width):
                dst[r * width + k] = <dst_t>(<src_t *>(row + k * col_stride))[0]


cdef void _gather_block(char *base, Py_ssize_t row_stride, Py_ssize_t col_stride,
                        bint src_double, char *dst, bint dst_double, const int64_t *rows,
                        Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t width) noexcept nogil:
    if src_double:
        if dst_double:
            _gather_rows(<double *>NULL, <double *>dst, base, row_stride, col_stride, rows, r0, r1, width)
        else:
            _gather_rows(<double *>NULL, <float *>dst, base, row_stride, col_stride, rows, r0, r1, width)
    else:
        if dst_double:
            _gather_rows(<float *>NULL, <double *>dst, base, row_stride, col_stride, rows, r0, r1, width)
        else:
            _gather_rows(<float *>NULL, <float *>dst, base, row_stride, col_stride, rows, r0, r1, width)


cdef double _forward_backward(Net *net, const Data *data, const int64_t *rows,
                              Py_ssize_t B) noexcept nogil:
    """Mean data loss of the batch ``rows``; leaves every gradient in net.grads."""
    cdef Update none
    cdef double loss = _rows_step(net, data, rows, B, True, FIRST_FRESH) / B
    none.step = NULL
    none.look_ahead = False
    _grads_step(net, B, &none)
    return loss


# ---------------------------------------------------------------- the Python face

cdef Data _data_view(object X, object labels, object Y) except *:
    cdef Data d
    d.X = <char *>cnp.PyArray_DATA(X)
    d.x_row = X.strides[0]
    d.x_col = X.strides[1]
    d.x_double = X.dtype == np.float64
    d.labels = NULL
    d.Y = NULL
    d.y_row = d.y_col = 0
    d.y_double = False
    if labels is not None:
        d.labels = <const int64_t *>cnp.PyArray_DATA(labels)
    elif Y is not None:
        d.Y = <char *>cnp.PyArray_DATA(Y)
        d.y_row = Y.strides[0]
        d.y_col = Y.strides[1]
        d.y_double = Y.dtype == np.float64
    return d


cdef class Engine:
    """Buffers and layout for one model; made once per fit (or per predict/loss call)."""
    cdef Net net
    cdef list _keep

    def __init__(self, cnp.ndarray params, cnp.ndarray grads, sizes, str activation,
                 str output, double alpha, Py_ssize_t batch_max, int n_threads):
        cdef int l, L = len(sizes) - 1
        cdef Py_ssize_t off = 0
        if L < 1 or L > MAX_LAYERS:
            raise ValueError(f"layer_sizes: between 2 and {MAX_LAYERS + 1} entries, got {L + 1}")
        self.net.n_layers = L
        self.net.is_double = params.dtype == np.float64
        self.net.act = ACTIVATION_IDS[activation]
        self.net.out = OUTPUT_IDS[output]
        self.net.alpha = alpha
        self.net.n_threads = max(1, min(n_threads, MAX_BLOCKS))
        self.net.batch_max = batch_max
        for l in range(L + 1):
            self.net.sizes[l] = sizes[l]
        for l in range(L):
            self.net.w_off[l] = off
            off += sizes[l] * sizes[l + 1]
            self.net.b_off[l] = off
            off += sizes[l + 1]
        if off != params.size or grads.size != params.size:
            raise ValueError("Engine: parameter buffer does not match the layer sizes")
        self.net.n_params = off
        self.net.params = <char *>cnp.PyArray_DATA(params)
        self.net.grads = <char *>cnp.PyArray_DATA(grads)
        self._keep = [params, grads]
        for l in range(L + 1):
            self.net.acts[l] = self._buffer(batch_max * sizes[l], params.dtype)
            # hidden layers keep dL/dZ apart from their outputs (both feed the weight
            # gradients); the logits are overwritten by their gradient in place
            self.net.dz[l] = (self._buffer(batch_max * sizes[l], params.dtype)
                              if 0 < l < L else self.net.acts[l])
        self.net.labels = <int64_t *>self._buffer(batch_max, np.int64)
        self.net.targets = self._buffer(batch_max * sizes[L], params.dtype)
        self.net.b1_blocks = _weight_blocks(&self.net, 1, True)
        self.net.z_part = self._buffer(self.net.b1_blocks * sizes[1], params.dtype)
        self.net.x_next = self._buffer(sizes[0], params.dtype)

    cdef char *_buffer(self, Py_ssize_t n, dtype) except NULL:
        a = np.zeros(max(n, 1), dtype=dtype)
        self._keep.append(a)
        return <char *>cnp.PyArray_DATA(a)

    def run_epoch(self, X, labels, Y, cnp.ndarray order, Py_ssize_t batch_size,
                  Py_ssize_t n_batches, dict hyper, list state, lrs):
        """Train on n_batches consecutive batches of ``order``; returns
        (loss_sum over rows, rows seen, batches done, failed batch or -1, mu_product).

        hyper: the optimizer's fg_step fields with "step" = the first batch's step number;
        lrs: None, or one learning rate per batch (a per-batch schedule)."""
        cdef Data data = _data_view(X, labels, Y)
        cdef fg_step s
        cdef Py_ssize_t b, r0, B, n = order.shape[0], rows_done = 0, bad = -1
        cdef const int64_t *rows = <const int64_t *>cnp.PyArray_DATA(order)
        cdef double loss, loss_sum = 0.0, mu0 = hyper.get("mu_product", 1.0)
        cdef char *s1 = NULL
        cdef char *s2 = NULL
        cdef char *s3 = NULL
        cdef const double *lr_of_batch = NULL
        cdef long long t0 = hyper["step"]
        cdef int n_threads = self.net.n_threads
        cdef cnp.ndarray lr_arr
        cdef Update update
        # batch 1: each update also makes the next sample's first-layer product
        cdef bint look = batch_size == 1, ahead = False
        cdef int first
        if n_batches < 0 or n_batches > (n + batch_size - 1) // batch_size:
            raise ValueError(f"n_batches: {n_batches} batches of {batch_size} exceed the "
                             f"{n} rows of order")
        if min(batch_size, n) > self.net.batch_max:   # batch_size > n: one batch of n rows
            raise ValueError("batch_size larger than the engine's buffers")
        fill_step(&s, hyper)            # validates; per-batch scalars are re-derived below
        s.mu_product = mu0
        update.step = &s
        if state[0] is not None:
            s1 = <char *>cnp.PyArray_DATA(state[0])
        if state[1] is not None:
            s2 = <char *>cnp.PyArray_DATA(state[1])
        if state[2] is not None:
            s3 = <char *>cnp.PyArray_DATA(state[2])
        update.s1, update.s2, update.s3 = s1, s2, s3
        update.look_ahead = False
        if lrs is not None:
            lr_arr = np.ascontiguousarray(lrs, dtype=np.float64)
            if lr_arr.shape[0] < n_batches:
                raise ValueError("lrs: one learning rate per batch is needed")
            lr_of_batch = <const double *>cnp.PyArray_DATA(lr_arr)
        with nogil:
            for b in range(n_batches):
                r0 = b * batch_size
                B = n - r0 if n - r0 < batch_size else batch_size
                first = FIRST_AHEAD if ahead else FIRST_FRESH
                loss = _rows_step(&self.net, &data, rows + r0, B, True, first) / B
                if not isfinite(loss):
                    bad = b
                    break
                loss_sum += loss * B
                rows_done += B
                s.step = t0 + b
                if lr_of_batch != NULL:
                    s.lr = lr_of_batch[b]
                fg_prepare(&s)
                update.look_ahead = look and b + 1 < n_batches
                if update.look_ahead:
                    _gather_block(data.X, data.x_row, data.x_col, data.x_double,
                                  self.net.x_next, self.net.is_double, rows + r0 + 1, 0, 1,
                                  self.net.sizes[0])
                    memset(self.net.z_part, 0,
                           self.net.b1_blocks * self.net.sizes[1] * _isz(&self.net))
                _grads_step(&self.net, B, &update)
                ahead = update.look_ahead
                if ahead:
                    _sum_blocks(&self.net)
        return loss_sum, rows_done, (b if bad >= 0 else n_batches), bad, s.mu_product

    def loss_and_grads(self, X, labels, Y):
        """Mean data loss over all rows of X, in order, in one batch; grads in the buffer."""
        cdef Data data = _data_view(X, labels, Y)
        cdef Py_ssize_t n = X.shape[0]
        cdef double loss
        order = np.arange(n, dtype=np.int64)
        cdef const int64_t *rows = <const int64_t *>cnp.PyArray_DATA(order)
        if n > self.net.batch_max:
            raise ValueError("loss_and_grads: more rows than the engine's buffers")
        with nogil:
            loss = _forward_backward(&self.net, &data, rows, n)
        return loss

    def logits(self, X, cnp.ndarray out):
        """Last-layer pre-activations of every row of X into out, batch_max rows at a time."""
        cdef Data data = _data_view(X, None, None)
        cdef Py_ssize_t n = X.shape[0], r0, B, k, n_out = self.net.sizes[self.net.n_layers]
        cdef Py_ssize_t isz = 8 if self.net.is_double else 4
        cdef int L = self.net.n_layers
        order = np.arange(n, dtype=np.int64)
        cdef const int64_t *rows = <const int64_t *>cnp.PyArray_DATA(order)
        cdef char *dst = <char *>cnp.PyArray_DATA(out)
        cdef char *bias = self.net.params + self.net.b_off[L - 1] * isz
        with nogil:
            r0 = 0
            while r0 < n:
                B = n - r0 if n - r0 < self.net.batch_max else self.net.batch_max
                _rows_step(&self.net, &data, rows + r0, B, False, FIRST_FRESH)
                memcpy(dst + r0 * n_out * isz, self.net.acts[L], B * n_out * isz)
                r0 += B
        b0 = self.net.b_off[L - 1]
        out += self._keep[0][b0:b0 + n_out]    # the last bias (predict is not the hot loop)
        return out
