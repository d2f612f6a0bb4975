"""The training engine: whole epochs of mini-batch gradient descent in C, without the GIL.

Design: per mini-batch, two steps, each one OpenMP region (or plain serial code when one
thread is enough):
1. rows: the batch's rows are split into one block per thread; each thread gathers its rows
   (csrc/fg_gather.h: any strides and dtype, so C/F-ordered arrays and memmaps are read in
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
Small row blocks: the first layer (and any big later layer, _wide_step) runs by columns
for all the rows instead. Blocks are cut for net.n_blocks threads -- the team, or the fixed
count of fastgd.set_deterministic, which the team then shares out (_team): then the bits
do not depend on the number of threads at all.
A batch of one row has no GEMM worth the name: its weight gradient a (x) dz is made row by
row inside the optimizer's loop (never written to memory), and the first layer's update
also sums the next sample's product (the look-ahead, all in one section below).
The parts: fastgd/model/_blas.pxd (the row-major GEMM shim), csrc/fg_engine_kernels.h
(every kernel with the dtype as a flag: the engine holds bytes and one is_double, and has
no float/double branch of its own), csrc/fg_gather.h, fg_mlp.h, fg_optim.h.
GEMMs are single-threaded BLAS calls made from inside our threads, so fit limits BLAS to
one thread: one thread pool, ours, and no oversubscription (BLAS's own threads plus
OpenMP's spinning team were measured 20-70x slower on 2 cores). Nothing is allocated per
batch: every buffer is made once by Engine(). Loss partials are summed in block order.
Mirrors fastgd/reference/mlp.py and fastgd/reference/train.py.
"""
from cpython.exc cimport PyErr_CheckSignals
from cython.parallel cimport parallel, prange
from libc.math cimport isfinite, sqrt
from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset
cimport numpy as cnp
import numpy as np

from scipy.linalg.cython_blas cimport dgemm, dgemv, sgemm, sgemv
from fastgd.model._blas cimport (FG_EPI_ACT_GRAD, FG_EPI_BIAS_ACT, fg_blas_dgemm,
                                 fg_blas_dgemv, fg_blas_sgemm, fg_blas_sgemv, fg_dgemm_t,
                                 fg_dgemv_t, fg_sg_epi, fg_sgemm_t, fg_sgemv_t,
                                 fg_small_gemm, fg_small_gemm_cpu, fg_small_gemm_epilogues,
                                 fg_small_gemm_init, fg_small_gemm_macs, fg_small_gemm_takes,
                                 gemm, gemm_with)
from fastgd._runtime import engine_blas
from fastgd.optim._optim cimport Rule, fg_prepare, fg_step

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
# OpenBLAS's small-matrix kernels (SkylakeX, 0.3.30/0.3.31) take a product of at most 10^6
# multiply-adds without packing (measured: 64x100 dgemm 0.64 us a row at 156 rows, 0.85 at
# 160). A weight gradient over a batch is cut into chunks of at least MIN_CHUNK_ROWS rows
# that each fit: digits' 64x100 layer at batch 200, 80 -> 62 us; batch 1024, 554 -> 343.
DEF SMALL_GEMM = 1000000
DEF MIN_CHUNK_ROWS = 64
# With such small row blocks, a later layer of at least this many weights also runs by
# columns for all the rows (forward, and the backward product into its inputs): each
# thread then packs and reads only its share of W instead of all of it, and its GEMM
# keeps every row. Below it the extra barriers (a worksharing loop per layer) cost more
# than the traffic saved: measured at 2 threads, batch 128, 1.10x faster with 2048x2048
# layers (16 MB of float32 W each), 0.93x with 1024x1024 (see DESIGN, "Big layers split
# by columns too").
DEF WIDE_LAYER_WEIGHTS = 2097152

# How step 1 finds the first layer's inputs and product (see _rows_forward)
DEF FIRST_FRESH = 0    # gather the rows and compute the product
DEF FIRST_AHEAD = 1    # batch 1: copy x_next; the previous update summed the product
DEF FIRST_DONE = 2     # the column split gathered the rows and computed the product

# How often the epoch loop takes the GIL to look for a signal (Ctrl-C): after
# poll_seconds of work, read from a monotonic clock (~20-40 ns) every CLOCK_WORK
# multiply-adds' worth of batches -- never a GIL round trip per batch, and a clock read
# at most every ~0.2 ms of work, so the polling costs < 0.1% even for tiny models. A
# KeyboardInterrupt then reaches the user within about poll_seconds plus one batch.
DEF CLOCK_WORK = 1048576
cdef double poll_seconds = 0.025

# Big layers split by columns in step 1 (_wide_step); off only to measure against the
# split by rows (benchmarks/report_big_models.py).
cdef bint wide_layers = True


fg_small_gemm_init()


cdef str _bind_blas():
    """Point the engine's BLAS calls (csrc/fg_blas.h) at scipy-openblas32's OpenBLAS, or at
    SciPy's when it is not there; returns which (fastgd/_runtime/engine_blas.py)."""
    global fg_blas_dgemm, fg_blas_sgemm, fg_blas_dgemv, fg_blas_sgemv
    found = engine_blas.load()
    if found is None:
        fg_blas_dgemm, fg_blas_sgemm = <fg_dgemm_t>dgemm, <fg_sgemm_t>sgemm
        fg_blas_dgemv, fg_blas_sgemv = <fg_dgemv_t>dgemv, <fg_sgemv_t>sgemv
        return "scipy (scipy.linalg.cython_blas)"
    described, address = found
    fg_blas_dgemm = <fg_dgemm_t><size_t>address["dgemm"]
    fg_blas_sgemm = <fg_sgemm_t><size_t>address["sgemm"]
    fg_blas_dgemv = <fg_dgemv_t><size_t>address["dgemv"]
    fg_blas_sgemv = <fg_sgemv_t><size_t>address["sgemv"]
    return described


_blas_source = _bind_blas()


def blas():
    """Which BLAS the engine's products call (those our own kernel does not take)."""
    return _blas_source


def has_small_gemm():
    """Whether this CPU runs fastgd's own small-product kernel (AVX-512F)."""
    return bool(fg_small_gemm_cpu())


def small_gemm_limit():
    """The largest product (multiply-adds) the kernel takes; 0 when it is off."""
    return fg_small_gemm_macs


def set_small_gemm(long long max_macs):
    """Products of at most max_macs multiply-adds in fastgd's own kernel (0: all in BLAS;
    only AVX-512F CPUs have the kernel); returns the previous limit. For benchmarks."""
    global fg_small_gemm_macs
    if max_macs < 0:
        raise ValueError(f"max_macs: expected an int >= 0, got {max_macs}")
    previous, fg_small_gemm_macs = fg_small_gemm_macs, max_macs
    return previous


def set_epilogues(bint on):
    """Let the small-product kernel do the bias + activation after a hidden layer's
    product and the activation's derivative after the backward product as it stores them
    (on by default; the same bits either way); returns the previous setting. For tests
    and benchmarks."""
    global fg_small_gemm_epilogues
    previous, fg_small_gemm_epilogues = bool(fg_small_gemm_epilogues), on
    return previous


def set_wide_layers(bint on):
    """Turn the column split of big layers on or off; returns the previous setting."""
    global wide_layers
    previous, wide_layers = wide_layers, on
    return previous


# Set by fit's SIGINT handler (fastgd/training/train.py): Ctrl-C as a request that the
# loop honours after its batch, instead of an exception raised wherever Python happens
# to be (between two statements that must go together).
cdef bint stop_requested = False


def request_stop():
    """Ask the running (or next) epoch loop to stop after its batch."""
    global stop_requested
    stop_requested = True


def take_stop_request():
    """True (and cleared) if a stop was requested since the last call."""
    global stop_requested
    requested, stop_requested = stop_requested, False
    return requested


def poll_interval():
    """Seconds of work between looks for a signal (0: off)."""
    return poll_seconds


def set_poll_interval(double seconds):
    """Seconds of work between looks for a signal; 0 turns the looks off (benchmarks
    measure the polling's cost against that). Returns the previous interval."""
    global poll_seconds
    if not seconds >= 0:
        raise ValueError(f"seconds: expected a number >= 0, got {seconds!r}")
    previous, poll_seconds = poll_seconds, seconds
    return previous

MAX_LAYERS_SUPPORTED = MAX_LAYERS

cdef extern from "fg_exp.h" nogil:
    double fg_exp_nonpos(double x)


def exp_nonpos(cnp.ndarray x):
    """The float64 loss kernels' e^x (csrc/fg_exp.h) over a 1-D float64 array of values
    <= 0, as a new array: for the tests of its accuracy."""
    cdef Py_ssize_t i
    cdef cnp.ndarray out
    if x.ndim != 1 or x.dtype != np.float64:
        raise TypeError(f"x: expected a 1-D float64 array, got {x.dtype} with {x.ndim} "
                        "dimensions")
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        (<double *>cnp.PyArray_DATA(out))[i] = fg_exp_nonpos((<double *>cnp.PyArray_DATA(x))[i])
    return out


def _leading_dim(name, x):
    """BLAS's leading dimension of a column-major 2-D view (NumPy gives size-0 and size-1
    axes any stride, so only axes of two or more are checked)."""
    rows, cols = x.shape
    if x.size == 0:
        return max(rows, 1)
    if rows > 1 and x.strides[0] != x.itemsize:
        raise ValueError(f"{name}: expected a column-major view, strides {x.strides}")
    if cols <= 1:
        return max(rows, 1)
    if x.strides[1] % x.itemsize or x.strides[1] < x.itemsize * max(rows, 1):
        raise ValueError(f"{name}: expected a column-major view, strides {x.strides}")
    return x.strides[1] // x.itemsize


def small_gemm(a, b, c, bint trans_a=False, bint trans_b=False, bint accumulate=False):
    """c = op(a) @ op(b) (c += ... when accumulate) in fastgd's own small-product kernel
    (csrc/fg_small_gemm.h): column-major views, each array's first axis contiguous and its
    second strided (a Fortran array, or a transposed C array); a transposed a has at most
    FG_SG_PACK (4096) entries. For the tests; False when this CPU has no kernel (no
    AVX-512F), True after the product."""
    cdef Py_ssize_t m, k, n, isz, lda, ldb, ldc
    if not all(isinstance(x, np.ndarray) for x in (a, b, c)):
        raise TypeError("a, b, c: expected NumPy arrays")
    if a.ndim != 2 or b.ndim != 2 or c.ndim != 2:
        raise ValueError("a, b, c: expected 2-D arrays")
    if not (a.dtype == b.dtype == c.dtype) or a.dtype not in (np.float32, np.float64):
        raise TypeError(f"a, b, c: expected one dtype, float32 or float64; got {a.dtype}, "
                        f"{b.dtype}, {c.dtype}")
    isz = a.itemsize
    k, m = a.shape if trans_a else a.shape[::-1]
    if trans_a and m * k > 4096:
        raise ValueError(f"a: a transposed a has at most 4096 entries, got {a.shape}")
    n = b.shape[0] if trans_b else b.shape[1]
    if (b.shape[1] if trans_b else b.shape[0]) != k or c.shape[0] != m or c.shape[1] != n:
        raise ValueError(f"shapes: a {a.shape} (trans_a={trans_a}), b {b.shape} "
                         f"(trans_b={trans_b}), c {c.shape}")
    lda, ldb, ldc = _leading_dim("a", a), _leading_dim("b", b), _leading_dim("c", c)
    if not c.flags.writeable:
        raise ValueError("c: expected a writeable array")
    if not fg_small_gemm_cpu():
        return False
    fg_small_gemm(a.dtype == np.float64, b'T' if trans_a else b'N', b'T' if trans_b else b'N',
                  m, n, k,
                  cnp.PyArray_DATA(<cnp.ndarray>a), lda, cnp.PyArray_DATA(<cnp.ndarray>b), ldb,
                  cnp.PyArray_DATA(<cnp.ndarray>c), ldc, accumulate, NULL)
    return True


def row_major_product(a, b, out, bint trans_a=False, bint trans_b=False):
    """out = op(a) @ op(b) for C-contiguous float32/float64 arrays, through the engine's own
    GEMM shim (model/_blas.pxd: our kernel or OpenBLAS, as the engine would choose), with
    the GIL released: for benchmarks that time a step's products alone."""
    cdef int M, N, K, lda, ldb
    cdef bint dbl
    cdef char *pa
    cdef char *pb
    cdef char *pc
    for name, x in (("a", a), ("b", b), ("out", out)):
        if not isinstance(x, np.ndarray) or x.ndim != 2 or not x.flags.c_contiguous:
            raise ValueError(f"{name}: expected a C-contiguous 2-D array")
    if not (a.dtype == b.dtype == out.dtype) or a.dtype not in (np.float32, np.float64):
        raise TypeError("a, b, out: expected one dtype, float32 or float64")
    M, K = (a.shape[1], a.shape[0]) if trans_a else a.shape
    N = b.shape[0] if trans_b else b.shape[1]
    if (b.shape[1] if trans_b else b.shape[0]) != K or out.shape != (M, N):
        raise ValueError(f"shapes: a {a.shape}, b {b.shape}, out {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out: expected a writeable array")
    if K == 0:
        out[...] = 0
        return
    dbl = a.dtype == np.float64
    lda, ldb = b.shape[1], a.shape[1]
    pa = <char *>cnp.PyArray_DATA(<cnp.ndarray>b)
    pb = <char *>cnp.PyArray_DATA(<cnp.ndarray>a)
    pc = <char *>cnp.PyArray_DATA(<cnp.ndarray>out)
    with nogil:
        # row-major out (M x N) is column-major out^T = op(b)^T op(a)^T (see _blas.pxd)
        gemm(dbl, b'T' if trans_b else b'N', b'T' if trans_a else b'N', N, M, K, pa, lda,
             pb, ldb, pc, N)


cdef extern from "fg_platform.h" nogil:
    double fg_now()

cdef extern from "fg_engine_kernels.h" nogil:
    ctypedef enum fg_activation:
        FG_RELU, FG_LEAKY_RELU, FG_TANH, FG_SIGMOID, FG_IDENTITY
    ctypedef enum fg_output:
        FG_SOFTMAX, FG_SIGMOID_OUT, FG_LINEAR
    void fg_gather(int src_double, int dst_double, const char *base, Py_ssize_t row_stride,
                   Py_ssize_t col_stride, void *dst, const int64_t *rows, Py_ssize_t r0,
                   Py_ssize_t r1, Py_ssize_t width)
    void fg_bias_act(int dbl, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, void *z,
                     const void *b, fg_activation act)
    void fg_act_backward(int dbl, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, const void *a,
                         void *d, fg_activation act)
    double fg_output_loss(int dbl, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, void *z,
                          const void *b, const int64_t *labels, const void *targets,
                          fg_output out, double inv_b,
                          const double *w, double inv_wsum, double *hits)
    void fg_col_sums(int dbl, Py_ssize_t rows, Py_ssize_t n, Py_ssize_t ld, const void *d,
                     void *db)
    void fg_add_scaled(int dbl, Py_ssize_t rows, Py_ssize_t n, Py_ssize_t ld, void *dw,
                       const void *w, double alpha)
    void fg_accumulate_rows(int dbl, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n,
                            const void *x, const void *w, void *acc)
    void fg_sum_blocks(int dbl, Py_ssize_t blocks, Py_ssize_t n, const void *parts, void *out)
    void fg_apply_any(int dbl, const fg_step *s, Py_ssize_t n, void *p, const void *g,
                      void *s1, void *s2, void *s3)
    void fg_average(int dbl, Py_ssize_t n, void *avg, const void *p, double a, double b)
    double fg_sum_squares(int dbl, Py_ssize_t n, const void *g)
    double fg_penalty_squares(int dbl, Py_ssize_t n, const void *g)
    void fg_scale_clamp(int dbl, Py_ssize_t n, void *g, double scale, double limit)
    void fg_apply_outer_any(int dbl, const fg_step *s, Py_ssize_t rows, Py_ssize_t cols,
                            const void *a, Py_ssize_t inca, const void *dz, double alpha,
                            void *p, void *s1, void *s2, void *s3, const void *a_next,
                            void *acc)

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
    Py_ssize_t isz               # bytes per value: 8 or 4
    int n_threads                # the team: threads that take the blocks
    int n_blocks                 # the thread count the blocks are cut for: n_threads, or
                                 # a fixed count (deterministic: bits for any n_threads)
    Py_ssize_t batch_max
    char *params
    char *grads
    char *acts[MAX_LAYERS + 1]   # acts[0]: the batch's inputs; acts[l]: layer l's outputs
    char *dz[MAX_LAYERS + 1]     # dz[l]: dL/dZ of layer l (dz[L] is acts[L], overwritten)
    int64_t *labels              # the batch's class ids (softmax)
    char *targets                # the batch's target values (sigmoid, linear)
    double *w_buf                # batch_max float64 for w_batch
    double *w_batch              # the batch's row weights (NULL: unweighted), gathered by
    double inv_wsum              # _gather_weights with 1 / their sum
    double *hits                 # NULL, or per row of the batch its training-metric term
    double *hits_buf             # (fg_output_loss) -- batch_max float64
    # the batch-1 look-ahead (its section below): b1_blocks partial products of the
    # first layer, one per block of step 2, and the next sample's inputs
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
    const double *weights        # one per row of X (float64, contiguous), or NULL


DEF MAX_PARAMS = 2 * MAX_LAYERS

cdef struct Update:
    # the optimizer step fused into step 2 (step is NULL: gradients only); per model
    # parameter i (W_l = 2l, b_l = 2l + 1) the rule of its param group and that group's
    # state buffers, where parameter element `off` of the flat buffer has its state at
    # element off + delta[i] (the group lays its state out in its own parameter order)
    const fg_step *step
    const fg_step *pstep[MAX_PARAMS]
    char *ps1[MAX_PARAMS]
    char *ps2[MAX_PARAMS]
    char *ps3[MAX_PARAMS]
    Py_ssize_t delta[MAX_PARAMS]
    bint look_ahead              # this batch's update also sums the next sample's product
    char *avg                    # weight averaging (NULL: off): avg = a*avg + b*p per span
    double avg_a, avg_b


cdef inline char *_at(const Net *net, char *buf, Py_ssize_t index) noexcept nogil:
    """The address of value ``index`` of a buffer of the model's dtype (NULL stays NULL)."""
    return NULL if buf == NULL else buf + index * net.isz


cdef inline int _split(Py_ssize_t work, Py_ssize_t units, int n_blocks) noexcept nogil:
    """Blocks worth making for ``work`` multiply-adds over ``units`` rows/columns, for a
    team of ``n_blocks`` threads (net.n_blocks: the real team, or the fixed count of the
    deterministic mode -- never the team then, so the blocks do not depend on it)."""
    cdef Py_ssize_t t = work // MIN_WORK_PER_THREAD
    if t > n_blocks:
        t = n_blocks
    if t > units:
        t = units
    if t > MAX_BLOCKS:
        t = MAX_BLOCKS
    return <int>t if t > 1 else 1


cdef inline int _weight_blocks(const Net *net, Py_ssize_t B, bint update) noexcept nogil:
    """Blocks of weight rows in step 2; the update costs about as much as a GEMM over 16
    more rows (memory-bound, ~28 B/param)."""
    return _split((B + (16 if update else 0)) * net.n_params, net.n_blocks, net.n_blocks)


cdef inline int _team(const Net *net, int blocks) noexcept nogil:
    """Threads for a region of ``blocks`` blocks: each thread takes whole blocks, so with
    the deterministic mode's fixed blocks the team's size changes who computes a block,
    never what is computed."""
    return blocks if blocks < net.n_threads else net.n_threads


# ---------------------------------------------------------------- the batch-1 look-ahead
# A batch of one row: while step 2 updates the first layer's weight rows (block by block,
# fg_apply_outer), each block also sums x_next[i] * W_0[i, :] over its rows, with the rows'
# new values, into its own partial (z_part); summing the partials in block order then gives
# the next sample's first-layer product, so its forward skips a pass over W_0 (85% of the
# weights of 784-256-128-10). A batch-1 forward that runs on its own sums in exactly that
# order too (_first_layer_one_row), so chunked epochs, the fallback path and predicting
# one row stay bit-identical to it.

cdef void _first_layer_one_row(Net *net) noexcept nogil:
    """acts[1] = acts[0] @ W_0 for a batch of one row, in the look-ahead's order: over the
    rows of W_0 in step 2's blocks, each block row after row, then block by block."""
    cdef int j, T = net.b1_blocks, n_in = net.sizes[0], n_out = net.sizes[1]
    memset(net.z_part, 0, T * n_out * net.isz)
    for j in range(T):
        fg_accumulate_rows(net.is_double, n_in * j // T, n_in * (j + 1) // T, n_out,
                           net.acts[0], _at(net, net.params, net.w_off[0]),
                           _at(net, net.z_part, j * n_out))
    _look_ahead_finish(net)


cdef inline void _look_ahead_begin(Net *net, const Data *data, const int64_t *next_row) noexcept nogil:
    """Before step 2: gather the next sample into x_next and clear the partials."""
    fg_gather(data.x_double, net.is_double, data.X, data.x_row, data.x_col, net.x_next,
              next_row, 0, 1, net.sizes[0])
    memset(net.z_part, 0, net.b1_blocks * net.sizes[1] * net.isz)


cdef inline void _look_ahead_targets(Net *net, const Update *u, int l, Py_ssize_t r0,
                                     int block, char **a_next, char **acc) noexcept nogil:
    """The next sample's inputs and the block's partial, for weight rows from r0 of layer l
    in block ``block`` (NULL, NULL when this update does not look ahead)."""
    if l == 0 and u.look_ahead:
        a_next[0] = _at(net, net.x_next, r0)
        acc[0] = _at(net, net.z_part, block * net.sizes[1])
    else:
        a_next[0] = acc[0] = NULL


cdef inline void _look_ahead_finish(Net *net) noexcept nogil:
    """After step 2: the partials, in block order, are the next product (before the bias)."""
    fg_sum_blocks(net.is_double, net.b1_blocks, net.sizes[1], net.z_part, net.acts[1])


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
    cdef double loss = 0.0
    # the passes after a product, for the kernel to do in its stores where it can
    cdef fg_sg_epi forward_pass = fg_sg_epi(kind=FG_EPI_BIAS_ACT, act=net.act, bias=NULL,
                                            out=NULL, ld_out=0)
    cdef fg_sg_epi backward_pass = fg_sg_epi(kind=FG_EPI_ACT_GRAD, act=net.act, bias=NULL,
                                             out=NULL, ld_out=0)
    if nr <= 0:
        return 0.0
    if first == FIRST_AHEAD:
        memcpy(net.acts[0], net.x_next, net.sizes[0] * net.isz)
    elif first == FIRST_FRESH:
        fg_gather(data.x_double, net.is_double, data.X, data.x_row, data.x_col, net.acts[0],
                  rows, r0, r1, net.sizes[0])
    if backward:
        _gather_targets(net, data, rows, r0, r1)
    for l in range(L):
        n_in = net.sizes[l]
        n_out = net.sizes[l + 1]
        if l == 0 and first != FIRST_FRESH:
            pass
        elif l == 0 and B == 1:
            _first_layer_one_row(net)
        elif l < L - 1:
            # Z[r0:r1] (nr x n_out) = A[r0:r1] (nr x n_in) @ W (n_in x n_out), then
            # act(Z + b) -- in the product's stores where the kernel can
            forward_pass.bias = _at(net, net.params, net.b_off[l])
            if gemm_with(net.is_double, b'N', b'N', n_out, nr, n_in,
                         _at(net, net.params, net.w_off[l]), n_out,
                         _at(net, net.acts[l], r0 * n_in), n_in,
                         _at(net, net.acts[l + 1], r0 * n_out), n_out, &forward_pass):
                continue
        else:       # the output layer: its bias is added by the loss pass
            gemm(net.is_double, b'N', b'N', n_out, nr, n_in,
                 _at(net, net.params, net.w_off[l]), n_out,
                 _at(net, net.acts[l], r0 * n_in), n_in,
                 _at(net, net.acts[l + 1], r0 * n_out), n_out)
        if l < L - 1:
            fg_bias_act(net.is_double, r0, r1, n_out, net.acts[l + 1],
                        _at(net, net.params, net.b_off[l]), net.act)
    if not backward:
        return 0.0
    loss = fg_output_loss(net.is_double, r0, r1, net.sizes[L], net.acts[L],
                          _at(net, net.params, net.b_off[L - 1]), net.labels, net.targets,
                          net.out, 1.0 / B, net.w_batch, net.inv_wsum, net.hits)
    for l in range(L - 1, 0, -1):
        n_in = net.sizes[l]
        n_out = net.sizes[l + 1]
        # dA_l[r0:r1] (nr x n_in) = dZ_{l+1}[r0:r1] (nr x n_out) @ W_l^T, then times
        # act'(A_l) into dZ_l -- in the product's stores where the kernel can
        backward_pass.out = _at(net, net.acts[l], r0 * n_in)
        backward_pass.ld_out = n_in
        if not gemm_with(net.is_double, b'T', b'N', n_in, nr, n_out,
                         _at(net, net.params, net.w_off[l]), n_out,
                         _at(net, net.dz[l + 1], r0 * n_out), n_out,
                         _at(net, net.dz[l], r0 * n_in), n_in, &backward_pass):
            fg_act_backward(net.is_double, r0, r1, n_in, net.acts[l], net.dz[l], net.act)
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
    gemm(net.is_double, b'N', b'N', c1 - c0, <int>B, n_in,
         _at(net, net.params, net.w_off[0] + c0), n_out, net.acts[0], n_in,
         _at(net, net.acts[1], c0), n_out)


# ---------------------------------------------------------------- step 1, big layers

cdef inline int _edge(int n, int j, int nb) noexcept nogil:
    """Start of column block j of nb over n columns, on a multiple of 16 but at the end."""
    return n if j >= nb else n * j // nb // 16 * 16


cdef inline bint _wide(const Net *net, int l, int n_cols, int nb) noexcept nogil:
    """Layer l (l >= 1) is big enough for its product into ``n_cols`` columns to run by
    column blocks of >= 64 for all the rows."""
    return (l >= 1 and <Py_ssize_t>net.sizes[l] * net.sizes[l + 1] >= WIDE_LAYER_WEIGHTS
            and n_cols >= 64 * nb)


cdef bint _any_wide(const Net *net, int nb) noexcept nogil:
    cdef int l
    for l in range(1, net.n_layers):
        if _wide(net, l, net.sizes[l + 1], nb) or _wide(net, l, net.sizes[l], nb):
            return True
    return False


cdef void _forward_cols(Net *net, int l, Py_ssize_t B, int c0, int c1) noexcept nogil:
    """Z_{l+1}[:, c0:c1] = A_l @ W_l[:, c0:c1] for all B rows, then bias and activation on
    those columns (not for the logits: the loss adds their bias)."""
    cdef int n_in = net.sizes[l], n_out = net.sizes[l + 1]
    cdef Py_ssize_t r
    gemm(net.is_double, b'N', b'N', c1 - c0, <int>B, n_in,
         _at(net, net.params, net.w_off[l] + c0), n_out, net.acts[l], n_in,
         _at(net, net.acts[l + 1], c0), n_out)
    if l < net.n_layers - 1:
        for r in range(B):
            fg_bias_act(net.is_double, 0, 1, c1 - c0, _at(net, net.acts[l + 1], r * n_out + c0),
                        _at(net, net.params, net.b_off[l] + c0), net.act)


cdef void _forward_rows(Net *net, int l, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Z_{l+1}[r0:r1] = A_l[r0:r1] @ W_l, then bias and activation (as _rows_forward)."""
    cdef int n_in = net.sizes[l], n_out = net.sizes[l + 1]
    if r1 <= r0:
        return
    gemm(net.is_double, b'N', b'N', n_out, <int>(r1 - r0), n_in,
         _at(net, net.params, net.w_off[l]), n_out, _at(net, net.acts[l], r0 * n_in), n_in,
         _at(net, net.acts[l + 1], r0 * n_out), n_out)
    if l < net.n_layers - 1:
        fg_bias_act(net.is_double, r0, r1, n_out, net.acts[l + 1],
                    _at(net, net.params, net.b_off[l]), net.act)


cdef void _backward_cols(Net *net, int l, Py_ssize_t B, int c0, int c1) noexcept nogil:
    """dA_l[:, c0:c1] = dZ_{l+1} @ W_l[c0:c1, :]^T for all B rows, then act' on them."""
    cdef int n_in = net.sizes[l], n_out = net.sizes[l + 1]
    cdef Py_ssize_t r
    gemm(net.is_double, b'T', b'N', c1 - c0, <int>B, n_out,
         _at(net, net.params, net.w_off[l] + c0 * n_out), n_out, net.dz[l + 1], n_out,
         _at(net, net.dz[l], c0), n_in)
    for r in range(B):
        fg_act_backward(net.is_double, 0, 1, c1 - c0, _at(net, net.acts[l], r * n_in + c0),
                        _at(net, net.dz[l], r * n_in + c0), net.act)


cdef void _backward_rows(Net *net, int l, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """dA_l[r0:r1] = dZ_{l+1}[r0:r1] @ W_l^T, then act' (as _rows_forward)."""
    cdef int n_in = net.sizes[l], n_out = net.sizes[l + 1]
    if r1 <= r0:
        return
    gemm(net.is_double, b'T', b'N', n_in, <int>(r1 - r0), n_out,
         _at(net, net.params, net.w_off[l]), n_out, _at(net, net.dz[l + 1], r0 * n_out),
         n_out, _at(net, net.dz[l], r0 * n_in), n_in)
    fg_act_backward(net.is_double, r0, r1, n_in, net.acts[l], net.dz[l], net.act)


cdef inline void _gather_targets(Net *net, const Data *data, const int64_t *rows,
                                 Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Rows [r0, r1) of the batch's class labels or regression targets."""
    cdef Py_ssize_t r
    if data.labels != NULL:
        for r in range(r0, r1):
            net.labels[r] = data.labels[rows[r]]
    else:
        fg_gather(data.y_double, net.is_double, data.Y, data.y_row, data.y_col,
                  net.targets, rows, r0, r1, net.sizes[net.n_layers])


cdef double _rows_loss(Net *net, const Data *data, const int64_t *rows, Py_ssize_t r0,
                       Py_ssize_t r1, Py_ssize_t B) noexcept nogil:
    """The labels or targets of rows [r0, r1), their summed loss and dL/dlogits."""
    cdef int L = net.n_layers
    if r1 <= r0:
        return 0.0
    _gather_targets(net, data, rows, r0, r1)
    return fg_output_loss(net.is_double, r0, r1, net.sizes[L], net.acts[L],
                          _at(net, net.params, net.b_off[L - 1]), net.labels, net.targets,
                          net.out, 1.0 / B, net.w_batch, net.inv_wsum, net.hits)


cdef double _wide_step(Net *net, const Data *data, const int64_t *rows, Py_ssize_t B,
                       bint backward, int nb, int nt) noexcept nogil:
    """Step 1 for small row blocks and big layers: one region, a worksharing loop per
    layer (its barrier between layers), each layer by column blocks for all the rows
    (the first layer, and every big one) or by row blocks (the small ones); then the loss
    by row blocks, and back by columns or rows the same way. nb blocks, nt threads."""
    cdef int j, l = 0, L = net.n_layers, n = 0   # set: Cython makes them firstprivate
    cdef double partial[MAX_BLOCKS]
    cdef double total = 0.0
    with parallel(num_threads=nt):
        for j in prange(nb, schedule="static"):
            fg_gather(data.x_double, net.is_double, data.X, data.x_row, data.x_col,
                      net.acts[0], rows, B * j // nb, B * (j + 1) // nb, net.sizes[0])
        for l in range(L):
            n = net.sizes[l + 1]
            if l == 0 or _wide(net, l, n, nb):
                for j in prange(nb, schedule="static"):
                    _forward_cols(net, l, B, _edge(n, j, nb), _edge(n, j + 1, nb))
            else:
                for j in prange(nb, schedule="static"):
                    _forward_rows(net, l, B * j // nb, B * (j + 1) // nb)
        if backward:
            for j in prange(nb, schedule="static"):
                partial[j] = _rows_loss(net, data, rows, B * j // nb, B * (j + 1) // nb, B)
            for l in range(L - 1, 0, -1):
                n = net.sizes[l]
                if _wide(net, l, n, nb):
                    for j in prange(nb, schedule="static"):
                        _backward_cols(net, l, B, _edge(n, j, nb), _edge(n, j + 1, nb))
                else:
                    for j in prange(nb, schedule="static"):
                        _backward_rows(net, l, B * j // nb, B * (j + 1) // nb)
    if backward:
        for j in range(nb):
            total += partial[j]
    return total


cdef double _rows_step(Net *net, const Data *data, const int64_t *rows, Py_ssize_t B,
                       bint backward, int first) noexcept nogil:
    """Step 1 over the whole batch: one row block per thread; loss partials summed in order.
    With small row blocks (< COL_SPLIT_BELOW_ROWS rows) and a first layer wide enough, the
    threads first gather their rows, then each computes a block of the first layer's
    columns for all the rows (a GEMM as efficient as the whole batch's), then their rows
    go on from there: one OpenMP region, the worksharing loops' barriers between. With a
    big later layer as well, every layer gets its own loop (_wide_step)."""
    cdef int j, nb = _split(B * net.n_params, B, net.n_blocks), nt = _team(net, nb)
    cdef double partial[MAX_BLOCKS]
    cdef double total = 0.0
    if nb == 1:
        return _rows_forward(net, data, rows, 0, B, B, backward, first)
    if B < COL_SPLIT_BELOW_ROWS * nb and net.sizes[1] >= 64 * nb and wide_layers \
            and _any_wide(net, nb):
        return _wide_step(net, data, rows, B, backward, nb, nt)
    if B < COL_SPLIT_BELOW_ROWS * nb and net.sizes[1] >= 64 * nb:
        with parallel(num_threads=nt):
            for j in prange(nb, schedule="static"):
                fg_gather(data.x_double, net.is_double, data.X, data.x_row, data.x_col,
                          net.acts[0], rows, B * j // nb, B * (j + 1) // nb, net.sizes[0])
            for j in prange(nb, schedule="static"):
                _first_layer_cols(net, B, _col_edge(net, j, nb), _col_edge(net, j + 1, nb))
            for j in prange(nb, schedule="static"):
                partial[j] = _rows_forward(net, data, rows, B * j // nb, B * (j + 1) // nb, B,
                                           backward, FIRST_DONE)
    else:
        for j in prange(nb, schedule="static", num_threads=nt):
            partial[j] = _rows_forward(net, data, rows, B * j // nb, B * (j + 1) // nb, B,
                                       backward, FIRST_FRESH)
    for j in range(nb):
        total += partial[j]
    return total


# ---------------------------------------------------------------- step 2: weight rows

cdef inline void _update_span(Net *net, const Update *u, int pi, Py_ssize_t off,
                              Py_ssize_t n) noexcept nogil:
    """The optimizer's fused kernel over elements [off, off + n) of the flat buffer, all of
    model parameter pi (so one param group's rule and state)."""
    cdef Py_ssize_t so = off + u.delta[pi]
    if u.step == NULL or n <= 0:
        return
    fg_apply_any(net.is_double, u.pstep[pi], n, _at(net, net.params, off),
                 _at(net, net.grads, off), _at(net, u.ps1[pi], so), _at(net, u.ps2[pi], so),
                 _at(net, u.ps3[pi], so))
    _average_span(net, u, off, n)


cdef inline void _average_span(Net *net, const Update *u, Py_ssize_t off, Py_ssize_t n) noexcept nogil:
    """Weight averaging over parameters [off, off + n), just updated (still in cache)."""
    if u.avg != NULL:
        fg_average(net.is_double, n, _at(net, u.avg, off), _at(net, net.params, off), u.avg_a,
                   u.avg_b)


cdef inline void _weight_gradient(Net *net, int l, Py_ssize_t r0, int nr, Py_ssize_t B,
                                  Py_ssize_t off) noexcept nogil:
    """dW[r0:r0+nr] (nr x n_out) = A[:, r0:r0+nr]^T (nr x B) @ dZ (B x n_out), summed over
    chunks of the batch's rows in order when that keeps each product within OpenBLAS's
    small-matrix kernels (docs/DESIGN.md, "Small weight gradients in chunks of rows")."""
    cdef int n_out = net.sizes[l + 1], n_in = net.sizes[l], k = 1, c
    cdef Py_ssize_t per = SMALL_GEMM // (<Py_ssize_t>nr * n_out), k0, k1
    if per >= MIN_CHUNK_ROWS and B > per \
            and not fg_small_gemm_takes(net.is_double, b'N', b'T', n_out, nr, B):
        k = <int>((B + per - 1) // per)
    for c in range(k):
        k0 = B * c // k
        k1 = B * (c + 1) // k
        gemm(net.is_double, b'N', b'T', n_out, nr, <int>(k1 - k0),
             _at(net, net.dz[l + 1], k0 * n_out), n_out, _at(net, net.acts[l], k0 * n_in + r0),
             n_in, _at(net, net.grads, off), n_out, c > 0)


cdef void _rows_grad(Net *net, const Update *u, int l, Py_ssize_t r0, Py_ssize_t r1,
                     bint with_bias, Py_ssize_t B, int block) noexcept nogil:
    """Weight rows [r0, r1) of layer l: dW[r0:r1] = A[:, r0:r1]^T dZ (+ alpha W[r0:r1]),
    then the optimizer over exactly those parameters -- a contiguous span, updated while
    its fresh gradient is still in cache. (Batch 1 with an update: the weight gradient is
    made inside fg_apply_outer and never stored, so after fit the gradient buffer holds
    no complete gradient: it is the engine's scratch space.) with_bias: also db = column
    sums of dZ and its update."""
    cdef int n_out = net.sizes[l + 1], n_in = net.sizes[l], nr = <int>(r1 - r0)
    cdef Py_ssize_t off = net.w_off[l] + r0 * n_out, so = off + u.delta[2 * l]
    cdef char *a_next
    cdef char *acc
    if nr > 0 and B == 1 and u.step != NULL:
        # one row: dW is the outer product a (x) dz, made row by row inside the update
        _look_ahead_targets(net, u, l, r0, block, &a_next, &acc)
        fg_apply_outer_any(net.is_double, u.pstep[2 * l], nr, n_out, _at(net, net.acts[l], r0),
                           1, net.dz[l + 1], net.alpha, _at(net, net.params, off),
                           _at(net, u.ps1[2 * l], so), _at(net, u.ps2[2 * l], so),
                           _at(net, u.ps3[2 * l], so), a_next, acc)
        _average_span(net, u, off, <Py_ssize_t>nr * n_out)
    elif nr > 0:
        _weight_gradient(net, l, r0, nr, B, off)
        if net.alpha != 0.0:
            fg_add_scaled(net.is_double, nr, n_out, n_out, _at(net, net.grads, off),
                          _at(net, net.params, off), net.alpha)
        _update_span(net, u, 2 * l, off, <Py_ssize_t>nr * n_out)
    if with_bias:
        fg_col_sums(net.is_double, B, n_out, n_out, net.dz[l + 1],
                    _at(net, net.grads, net.b_off[l]))
        _update_span(net, u, 2 * l + 1, net.b_off[l], n_out)


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
    for j in prange(n_tasks, schedule="static", chunksize=1, num_threads=_team(net, T)):
        n_in = net.sizes[j // T]
        _rows_grad(net, u, j // T, n_in * (j % T) // T, n_in * (j % T + 1) // T,
                   j % T == T - 1, B, j % T)


cdef void _clipped_step(Net *net, Py_ssize_t B, const Update *u, double clip_norm,
                        double clip_value) noexcept nogil:
    """Step 2 with gradient clipping: every gradient first (a global norm needs them all
    before any update), then the clip, then the optimizer (and the average) over the
    whole buffer in step 2's blocks. clip_norm > 0: scale by clip_norm / (norm + 1e-6)
    when that is below 1 (torch's clip_grad_norm_); clip_value >= 0: clamp."""
    cdef Update grads_only
    cdef double scale = 1.0, norm
    cdef int j, T = _weight_blocks(net, B, True)
    cdef Py_ssize_t n = net.n_params, lo, hi
    grads_only.step = NULL
    grads_only.look_ahead = False
    grads_only.avg = NULL
    _grads_step(net, B, &grads_only)
    if clip_norm > 0:
        norm = sqrt(fg_sum_squares(net.is_double, n, net.grads))
        if clip_norm / (norm + 1e-6) < 1.0:
            scale = clip_norm / (norm + 1e-6)
    fg_scale_clamp(net.is_double, n, net.grads, scale, clip_value)
    if T == 1:
        _update_range(net, u, 0, n)
    else:
        for j in prange(T, schedule="static", num_threads=_team(net, T)):
            lo = n * j // T // 16 * 16          # blocks on 64-byte boundaries
            hi = n if j == T - 1 else n * (j + 1) // T // 16 * 16
            _update_range(net, u, lo, hi)


cdef void _update_range(Net *net, const Update *u, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """The optimizer over elements [lo, hi) of the flat buffer, parameter by parameter."""
    cdef int pi
    cdef Py_ssize_t p0, p1
    for pi in range(2 * net.n_layers):
        p0 = net.w_off[pi // 2] if pi % 2 == 0 else net.b_off[pi // 2]
        p1 = p0 + (net.sizes[pi // 2] * net.sizes[pi // 2 + 1] if pi % 2 == 0
                   else net.sizes[pi // 2 + 1])
        if p0 < lo:
            p0 = lo
        if p1 > hi:
            p1 = hi
        if p1 > p0:
            _update_span(net, u, pi, p0, p1 - p0)
cdef double _gather_weights(Net *net, const Data *data, const int64_t *rows,
                            Py_ssize_t B) noexcept nogil:
    """The batch's row weights into net.w_batch (summed in row order) and 1 / their sum;
    returns the sum. Unweighted (data.weights NULL): net.w_batch is NULL, returns B."""
    cdef Py_ssize_t r
    cdef double total = 0.0
    if data.weights == NULL:
        net.w_batch = NULL
        return <double>B
    net.w_batch = net.w_buf
    for r in range(B):
        net.w_batch[r] = data.weights[rows[r]]
        total += net.w_batch[r]
    # a batch of zero weights has zero data gradient (and loss 0, see _batch_loss)
    net.inv_wsum = 1.0 / total if total > 0 else 0.0
    return total


cdef inline double _batch_loss(double loss_sum, double wsum) noexcept nogil:
    """Mean (or weighted mean) data loss of a batch from its summed loss."""
    return loss_sum / wsum if wsum > 0 else 0.0


cdef double _forward_backward(Net *net, const Data *data, const int64_t *rows,
                              Py_ssize_t B) noexcept nogil:
    """Mean data loss of the batch ``rows``; leaves every gradient in net.grads."""
    cdef Update none
    cdef double wsum = _gather_weights(net, data, rows, B)
    cdef double loss = _batch_loss(_rows_step(net, data, rows, B, True, FIRST_FRESH), wsum)
    none.step = NULL
    none.look_ahead = False
    none.avg = NULL
    _grads_step(net, B, &none)
    return loss


# ---------------------------------------------------------------- the Python face

cdef Data _data_view(object X, object labels, object Y, object weights=None) except *:
    cdef Data d
    d.weights = NULL
    if weights is not None:
        if not (weights.dtype == np.float64 and weights.flags.c_contiguous and
                weights.shape[0] == X.shape[0]):
            raise ValueError("weights: expected float64, contiguous, one per row of X")
        d.weights = <const double *>cnp.PyArray_DATA(weights)
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


cdef inline void _average_coefficients(Update *u, int mode, double beta,
                                       long long done) noexcept nogil:
    """(a, b) of avg = a*avg + b*p for the average's update number done + 1 (mirrors
    reference.train.average_coefficients)."""
    if mode == 3:                      # Polyak: the mean of the k updates so far
        u.avg_a = 1.0 - 1.0 / (done + 1)
        u.avg_b = 1.0 / (done + 1)
    elif mode == 2 and done == 0:      # an EMA whose first value is a copy
        u.avg_a, u.avg_b = 0.0, 1.0
    else:                              # an EMA from zero (bias-corrected when read)
        u.avg_a, u.avg_b = beta, 1.0 - beta


cdef inline char *_data_or_null(object a) except? NULL:
    return NULL if a is None else <char *>cnp.PyArray_DATA(<cnp.ndarray>a)


cdef class Engine:
    """Buffers and layout for one model; made once per fit (or per predict/loss call)."""
    cdef Net net
    cdef list _keep
    cdef public object interruption   # what a signal handler raised during run_epoch
    cdef public double l2_sum         # run_epoch with alphas: sum of B * alpha_b/2 * |W|^2

    def __init__(self, cnp.ndarray params, cnp.ndarray grads, sizes, str activation,
                 str output, double alpha, Py_ssize_t batch_max, int n_threads,
                 int deterministic_blocks=0):
        """deterministic_blocks > 0: cut every batch into the blocks a team of that many
        threads would get, whatever n_threads is (fastgd.set_deterministic), so results
        are the same bits on any number of threads; 0: the blocks follow n_threads."""
        cdef int l, L = len(sizes) - 1
        cdef Py_ssize_t off = 0
        if L < 1 or L > MAX_LAYERS:
            raise ValueError(f"layer_sizes: between 2 and {MAX_LAYERS + 1} entries, got {L + 1}")
        self.net.n_layers = L
        self.net.is_double = params.dtype == np.float64
        self.net.isz = 8 if self.net.is_double else 4
        self.net.act = ACTIVATION_IDS[activation]
        self.net.out = OUTPUT_IDS[output]
        self.net.alpha = alpha
        if deterministic_blocks < 0:
            raise ValueError(f"deterministic_blocks: expected an int >= 0, got "
                             f"{deterministic_blocks}")
        self.net.n_threads = max(1, min(n_threads, MAX_BLOCKS))
        self.net.n_blocks = (min(deterministic_blocks, MAX_BLOCKS) if deterministic_blocks
                             else self.net.n_threads)
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
        self.net.w_buf = <double *>self._buffer(batch_max, np.float64)
        self.net.w_batch = NULL
        self.net.inv_wsum = 0.0
        self.net.hits_buf = <double *>self._buffer(batch_max, np.float64)
        self.net.hits = NULL
        self.net.b1_blocks = _weight_blocks(&self.net, 1, True)
        self.net.z_part = self._buffer(self.net.b1_blocks * sizes[1], params.dtype)
        self.net.x_next = self._buffer(sizes[0], params.dtype)

    def step1_split(self, Py_ssize_t B):
        """How step 1 cuts a batch of B rows, as (blocks, "rows" | "first columns" | "big
        layers by columns"): the rule of _rows_step, for tests and benchmarks."""
        cdef int nb = _split(B * self.net.n_params, B, self.net.n_blocks)
        cdef bint cols = B < COL_SPLIT_BELOW_ROWS * nb and self.net.sizes[1] >= 64 * nb
        if nb == 1 or not cols:
            return nb, "rows"
        if wide_layers and _any_wide(&self.net, nb):
            return nb, "big layers by columns"
        return nb, "first columns"

    @property
    def n_blocks(self):
        """The team size the blocks are cut for (n_threads unless deterministic)."""
        return self.net.n_blocks

    cdef char *_buffer(self, Py_ssize_t n, dtype) except NULL:
        a = np.zeros(max(n, 1), dtype=dtype)
        self._keep.append(a)
        return <char *>cnp.PyArray_DATA(a)

    def run_epoch(self, X, labels, Y, cnp.ndarray order, Py_ssize_t batch_size,
                  Py_ssize_t n_batches, list rules, list steps, list mu_products,
                  list states, list param_group, list param_delta, lrs,
                  cnp.ndarray average=None, int average_mode=0,
                  double average_beta=0.0, long long average_count=0,
                  double clip_norm=0.0, double clip_value=-1.0, weights=None,
                  alphas=None, progress=None, cnp.ndarray metric=None):
        """Train on n_batches consecutive batches of ``order``; returns (loss_sum over
        rows, rows seen, batches done, failed batch or -1, mu_products, interrupted).

        The optimizer's param groups: per group g its parsed, validated rule (the
        optimizer's cached one), the step number of its first batch, its NAdam mu_product
        and its three state buffers (None where unused); per model parameter i (W_l = 2l,
        b_l = 2l + 1) its group and the offset of its state in that group's buffers minus
        its offset in the flat parameter buffer. lrs: None, or per batch one learning rate
        per group (a per-batch schedule).

        Every poll_seconds of work the loop looks for a signal; on one (Ctrl-C) it stops
        after the batch it is on -- parameters, state and the batches counted agree -- and
        returns interrupted=True, keeping what the signal's handler raised (normally a
        KeyboardInterrupt) in ``self.interruption`` for the caller to raise.

        average: None, or the flat averaged weights (the parameters' layout), updated after
        every batch: average_mode 1 an EMA from zero, 2 an EMA that starts as a copy, 3
        Polyak's running mean; average_count the updates it has averaged so far (the
        new count is ``average_count`` + batches done).
        clip_norm > 0 / clip_value >= 0: clip each batch's gradient (its global L2 norm /
        each element) before the update; the update then runs after all gradients are made
        instead of fused into their blocks.
        weights: None, or one float64 weight per row of X (each batch's loss is then its
        weighted mean).
        alphas: None (every batch's L2 coefficient is the model's alpha), or one per batch:
        scikit-learn scales its penalty by each batch's weight sum, so the last partial
        batch and every weighted batch has its own. Then ``self.l2_sum`` holds the sum
        over the batches done of rows * alpha_b / 2 * (sum of the weights' squares before
        the batch's update), the penalty part of scikit-learn's epoch loss.
        progress: None, or ``progress(batches done, rows done, loss sum)`` called at each
        look for a signal (not per batch: every poll_seconds of work, and never with the
        polling off), after the signal handlers; what it raises stops the loop as a
        handler's exception does.
        metric: None, or a float64 array of one value to which the batches' training-metric
        terms are added (fg_output_loss's ``hits``: the running metric, from the logits
        each batch's loss is computed from, before its update)."""
        cdef Data data = _data_view(X, labels, Y, weights)
        cdef double wsum
        cdef int G = len(rules), g, pi, n_p = 2 * self.net.n_layers
        cdef fg_step group_steps[MAX_PARAMS]
        cdef long long first_step[MAX_PARAMS]
        cdef Py_ssize_t b, r0, B, n = order.shape[0], rows_done = 0, bad = -1
        cdef const int64_t *rows = <const int64_t *>cnp.PyArray_DATA(order)
        cdef double loss, loss_sum = 0.0, hit_sum = 0.0
        cdef Py_ssize_t r
        cdef const double *lr_of_batch = NULL
        cdef const double *alpha_of_batch = NULL
        cdef double model_alpha = self.net.alpha, squares, l2_sum = 0.0
        cdef int l
        cdef cnp.ndarray lr_arr, alpha_arr
        cdef Update update
        b = 0
        self.interruption = None
        # batch 1: each update also makes the next sample's first-layer product
        cdef bint clipping = clip_norm > 0 or clip_value >= 0
        cdef bint look = batch_size == 1 and not clipping, ahead = False, interrupted = False
        cdef bint polling = poll_seconds > 0
        cdef double next_poll, interval = poll_seconds
        cdef Py_ssize_t clock_every = max(1, min(1024, CLOCK_WORK // max(
            1, min(batch_size, n) * self.net.n_params)))
        if n_batches < 0 or n_batches > (n + batch_size - 1) // batch_size:
            raise ValueError(f"n_batches: {n_batches} batches of {batch_size} exceed the "
                             f"{n} rows of order")
        if min(batch_size, n) > self.net.batch_max:   # batch_size > n: one batch of n rows
            raise ValueError("batch_size larger than the engine's buffers")
        if not 1 <= G <= n_p or len(steps) != G or len(mu_products) != G or len(states) != G:
            raise ValueError(f"rules: expected 1 to {n_p} groups with a step, mu_product and "
                             f"state each, got {G}")
        if len(param_group) != n_p or len(param_delta) != n_p:
            raise ValueError(f"param_group: expected one entry per parameter ({n_p})")
        for g in range(G):
            if steps[g] < 1:
                raise ValueError(f"steps[{g}]: expected an int >= 1, got {steps[g]}")
            group_steps[g] = (<Rule?>rules[g]).base
            group_steps[g].mu_product = mu_products[g]
            first_step[g] = steps[g]
        for pi in range(n_p):
            g = param_group[pi]
            if not 0 <= g < G:
                raise ValueError(f"param_group[{pi}]: expected a group in [0, {G}), got {g}")
            update.pstep[pi] = &group_steps[g]
            update.ps1[pi] = _data_or_null(states[g][0])
            update.ps2[pi] = _data_or_null(states[g][1])
            update.ps3[pi] = _data_or_null(states[g][2])
            update.delta[pi] = param_delta[pi]
        update.step = &group_steps[0]
        update.look_ahead = False
        update.avg = NULL
        if average is not None:
            if (average.dtype != (np.float64 if self.net.is_double else np.float32)
                    or average.size != self.net.n_params or not average.flags.c_contiguous):
                raise ValueError("average: expected a flat buffer like the parameters")
            if not 1 <= average_mode <= 3:
                raise ValueError(f"average_mode: expected 1, 2 or 3, got {average_mode}")
            update.avg = <char *>cnp.PyArray_DATA(average)
        if lrs is not None:
            lr_arr = np.ascontiguousarray(lrs, dtype=np.float64).reshape(len(lrs), -1)
            if lr_arr.shape[0] < n_batches or lr_arr.shape[1] != G:
                raise ValueError("lrs: one learning rate per batch and group is needed")
            if not np.all(np.isfinite(lr_arr[:n_batches])) or np.any(lr_arr[:n_batches] < 0):
                raise ValueError("lrs: expected finite learning rates >= 0")
            lr_of_batch = <const double *>cnp.PyArray_DATA(lr_arr)
        if alphas is not None:
            alpha_arr = np.ascontiguousarray(alphas, dtype=np.float64).ravel()
            if alpha_arr.shape[0] < n_batches or not np.all(np.isfinite(alpha_arr[:n_batches])) \
                    or np.any(alpha_arr[:n_batches] < 0):
                raise ValueError("alphas: expected one finite L2 coefficient >= 0 per batch")
            alpha_of_batch = <const double *>cnp.PyArray_DATA(alpha_arr)
        self.l2_sum = 0.0
        # last, after every check: hits set means the loop below counts into metric
        if metric is not None:
            if metric.dtype != np.float64 or metric.size != 1:
                raise ValueError("metric: expected a float64 array of one value")
            self.net.hits = self.net.hits_buf
        with nogil:
            next_poll = fg_now() + interval if polling else 0.0
            for b in range(n_batches):
                r0 = b * batch_size
                B = n - r0 if n - r0 < batch_size else batch_size
                wsum = _gather_weights(&self.net, &data, rows + r0, B)
                loss = _batch_loss(_rows_step(&self.net, &data, rows + r0, B, True,
                                              FIRST_AHEAD if ahead else FIRST_FRESH), wsum)
                if not isfinite(loss):
                    bad = b
                    break
                loss_sum += loss * B
                rows_done += B
                if self.net.hits != NULL:
                    for r in range(B):
                        hit_sum += self.net.hits[r]
                if alpha_of_batch != NULL:
                    self.net.alpha = alpha_of_batch[b]
                    squares = 0.0
                    for l in range(self.net.n_layers):
                        squares += fg_penalty_squares(
                            self.net.is_double, <Py_ssize_t>self.net.sizes[l] * self.net.sizes[l + 1],
                            _at(&self.net, self.net.params, self.net.w_off[l]))
                    l2_sum += B * (0.5 * self.net.alpha) * squares
                for g in range(G):
                    group_steps[g].step = first_step[g] + b
                    if lr_of_batch != NULL:
                        group_steps[g].lr = lr_of_batch[b * G + g]
                    fg_prepare(&group_steps[g])
                if update.avg != NULL:
                    _average_coefficients(&update, average_mode, average_beta,
                                          average_count + b)
                update.look_ahead = look and b + 1 < n_batches
                if update.look_ahead:
                    _look_ahead_begin(&self.net, &data, rows + r0 + 1)
                if clipping:
                    _clipped_step(&self.net, B, &update, clip_norm, clip_value)
                else:
                    _grads_step(&self.net, B, &update)
                ahead = update.look_ahead
                if ahead:
                    _look_ahead_finish(&self.net)
                if polling and b % clock_every == clock_every - 1 and fg_now() >= next_poll:
                    with gil:   # signal handlers and a progress report run here; what
                        try:        # they raise is kept
                            PyErr_CheckSignals()
                            if progress is not None:
                                progress(b + 1, rows_done, loss_sum)
                        except BaseException as e:
                            self.interruption = e
                            interrupted = True
                        interrupted = interrupted or stop_requested
                    if interrupted:
                        break
                    next_poll = fg_now() + interval
        if self.net.hits != NULL:
            self.net.hits = NULL
            (<double *>cnp.PyArray_DATA(metric))[0] += hit_sum
        self.net.alpha = model_alpha
        self.l2_sum = l2_sum
        done = b + 1 if interrupted else (b if bad >= 0 else n_batches)
        return (loss_sum, rows_done, done, bad, [group_steps[g].mu_product for g in range(G)],
                interrupted)

    def loss_and_grads(self, X, labels, Y, weights=None, cnp.ndarray metric=None):
        """Mean (weighted mean, with float64 ``weights``) data loss over all rows of X, in
        order, in one batch; grads in the buffer. metric: as run_epoch's."""
        cdef Data data = _data_view(X, labels, Y, weights)
        cdef Py_ssize_t n = X.shape[0], r
        cdef double loss, hit_sum = 0.0
        order = np.arange(n, dtype=np.int64)
        cdef const int64_t *rows = <const int64_t *>cnp.PyArray_DATA(order)
        if n > self.net.batch_max:
            raise ValueError("loss_and_grads: more rows than the engine's buffers")
        if metric is not None:
            if metric.dtype != np.float64 or metric.size != 1:
                raise ValueError("metric: expected a float64 array of one value")
            self.net.hits = self.net.hits_buf
        with nogil:
            loss = _forward_backward(&self.net, &data, rows, n)
            if self.net.hits != NULL:
                for r in range(n):
                    hit_sum += self.net.hits[r]
        if self.net.hits != NULL:
            self.net.hits = NULL
            (<double *>cnp.PyArray_DATA(metric))[0] += hit_sum
        return loss

    def logits(self, X, cnp.ndarray out):
        """Last-layer pre-activations of every row of X into out, batch_max rows at a time."""
        cdef Data data = _data_view(X, None, None)
        cdef Py_ssize_t n = X.shape[0], r0, B, n_out = self.net.sizes[self.net.n_layers]
        cdef int L = self.net.n_layers
        order = np.arange(n, dtype=np.int64)
        cdef const int64_t *rows = <const int64_t *>cnp.PyArray_DATA(order)
        cdef char *dst = <char *>cnp.PyArray_DATA(out)
        with nogil:
            r0 = 0
            while r0 < n:
                B = n - r0 if n - r0 < self.net.batch_max else self.net.batch_max
                _rows_step(&self.net, &data, rows + r0, B, False, FIRST_FRESH)
                memcpy(dst + r0 * n_out * self.net.isz, self.net.acts[L],
                       B * n_out * self.net.isz)
                r0 += B
        b0 = self.net.b_off[L - 1]
        out += self._keep[0][b0:b0 + n_out]    # the last bias (predict is not the hot loop)
        return out
