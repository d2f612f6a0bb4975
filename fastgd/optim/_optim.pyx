"""Cython driver for the fused optimizer kernels of csrc/fg_optim.h.

Design: a param group is turned into a list of spans (param, grad and state pointers over a
contiguous run); neighbouring parameters that are adjacent in memory, with gradients that
are adjacent too, merge into one span, so a model whose parameters are views into one
buffer costs one kernel call. Large runs are cut into one chunk per thread, aligned to 64
bytes, and run under prange; below PARALLEL_MIN elements the whole step stays on the
calling thread, because an OpenMP region costs more than it saves there. Every element is
independent, so results do not depend on the thread count.
"""
from cython.parallel cimport prange
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.math cimport isfinite
cimport numpy as cnp
import numpy as np

cnp.import_array()

# Below this many elements a step runs on one thread (see docs/DESIGN.md, "thread crossover").
DEF PARALLEL_MIN = 32768
# Chunks are a multiple of 16 elements: 64 bytes of float32, so threads never share a line.
DEF ALIGN = 16
DEF MAX_THREADS = 512
DEF SMALL_SPANS = 64

PARALLEL_MIN_ELEMENTS = PARALLEL_MIN

# The fg_step fields a hyper dict may set (fastgd.optim.table maps options onto them).
STEP_FIELDS = frozenset((
    "rule", "step", "mu_product", "lr", "momentum", "dampening", "weight_decay", "beta1",
    "beta2", "eps", "lr_decay", "momentum_decay", "nesterov", "maximize", "amsgrad",
    "centered", "decoupled_weight_decay", "eps_inside_sqrt", "epsilon_hat", "lr_in_momentum",
    "bias_correction", "buffer_init_grad", "flush_subnormal_state"))


cdef int fill_step(fg_step *s, dict hyper) except -1:
    """Copy a dict of fg_step field values into s (missing fields are 0) and prepare it.
    A key that is no field is refused: a misspelt mapping must not be dropped silently."""
    unknown = hyper.keys() - STEP_FIELDS
    if unknown:
        raise ValueError(f"hyper: expected fg_step fields, got unknown {sorted(unknown)}")
    s.rule = <fg_rule><int>hyper["rule"]
    s.lr = hyper.get("lr", 0.0)
    s.momentum = hyper.get("momentum", 0.0)
    s.dampening = hyper.get("dampening", 0.0)
    s.weight_decay = hyper.get("weight_decay", 0.0)
    s.beta1 = hyper.get("beta1", 0.0)
    s.beta2 = hyper.get("beta2", 0.0)
    s.eps = hyper.get("eps", 0.0)
    s.lr_decay = hyper.get("lr_decay", 0.0)
    s.momentum_decay = hyper.get("momentum_decay", 0.0)
    s.nesterov = hyper.get("nesterov", False)
    s.maximize = hyper.get("maximize", False)
    s.amsgrad = hyper.get("amsgrad", False)
    s.centered = hyper.get("centered", False)
    s.decoupled_weight_decay = hyper.get("decoupled_weight_decay", False)
    s.eps_inside_sqrt = hyper.get("eps_inside_sqrt", False)
    s.epsilon_hat = hyper.get("epsilon_hat", False)
    s.lr_in_momentum = hyper.get("lr_in_momentum", False)
    s.bias_correction = hyper.get("bias_correction", False)
    s.buffer_init_grad = hyper.get("buffer_init_grad", False)
    s.flush_subnormal_state = hyper.get("flush_subnormal_state", False)
    s.step = hyper["step"]
    s.mu_product = hyper.get("mu_product", 1.0)
    if s.step < 1:
        raise ValueError(f"step: expected an int >= 1, got {s.step}")
    if not isfinite(s.lr) or s.lr < 0.0:
        raise ValueError(f"lr: expected a finite number >= 0, got {s.lr!r}")
    fg_prepare(s)
    return 0


cdef Py_ssize_t split_spans(const fg_span *spans, Py_ssize_t n_spans, fg_span *out,
                            Py_ssize_t max_out, int itemsize, int n_threads) noexcept nogil:
    """Cut spans into at most one piece per thread (plus the span boundaries) into out."""
    cdef Py_ssize_t total = 0, i, k = 0, chunk, off, take
    cdef int threads
    for i in range(n_spans):
        total += spans[i].n
    threads = n_threads
    if total // PARALLEL_MIN < threads:
        threads = <int>(total // PARALLEL_MIN)
    if threads < 1:
        threads = 1
    chunk = (total + threads - 1) // threads
    chunk = ((chunk + ALIGN - 1) // ALIGN) * ALIGN
    if chunk < 1:
        chunk = 1
    for i in range(n_spans):
        off = 0
        while off < spans[i].n and k < max_out:
            take = spans[i].n - off
            if take > chunk and k < max_out - 1:
                take = chunk
            out[k].p = <char *>spans[i].p + off * itemsize
            out[k].g = <const char *>spans[i].g + off * itemsize
            out[k].s1 = NULL if spans[i].s1 == NULL else <char *>spans[i].s1 + off * itemsize
            out[k].s2 = NULL if spans[i].s2 == NULL else <char *>spans[i].s2 + off * itemsize
            out[k].s3 = NULL if spans[i].s3 == NULL else <char *>spans[i].s3 + off * itemsize
            out[k].n = take
            off += take
            k += 1
    return k


cdef inline void _run_one(const fg_step *s, const fg_span *sp, bint is_double) noexcept nogil:
    if is_double:
        fg_apply_f64(s, sp.n, <double *>sp.p, <const double *>sp.g,
                     <double *>sp.s1, <double *>sp.s2, <double *>sp.s3)
    else:
        fg_apply_f32(s, sp.n, <float *>sp.p, <const float *>sp.g,
                     <float *>sp.s1, <float *>sp.s2, <float *>sp.s3)


cdef void run_spans(const fg_step *s, const fg_span *spans, Py_ssize_t n_spans,
                    bint is_double, int n_threads) noexcept nogil:
    cdef Py_ssize_t i, total = 0
    cdef int team
    for i in range(n_spans):
        total += spans[i].n
    # as many threads as the work pays for (split_spans cut it for that many), never more
    team = <int>min(n_threads, total // PARALLEL_MIN, n_spans, MAX_THREADS)
    if team <= 1:
        for i in range(n_spans):
            _run_one(s, &spans[i], is_double)
    else:
        for i in prange(n_spans, schedule="static", num_threads=team):
            _run_one(s, &spans[i], is_double)


cdef inline char *_data(object a):
    return <char *>cnp.PyArray_DATA(<cnp.ndarray>a)


def check_grads(list params, grads, Py_ssize_t offset=0):
    """Validate a step's gradients against their parameters; return them as a list.

    Raises before anything is updated. A non-contiguous gradient is copied: gradients are
    only read, so the copy cannot hide an update (parameters are never copied). The list
    itself (its type, one entry per parameter) is checked once, by Optimizer.step."""
    cdef Py_ssize_t n_params = len(params), i
    out = list(grads)
    for i in range(n_params):
        g = out[i]
        p = params[i]   # a Python object here: shape and dtype compare as tuples/dtypes
        # checked when added, but flags can change later (p.flags.writeable = False)
        if not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>p):
            raise ValueError(f"params[{offset + i}]: expected a writable array, got a "
                             "read-only one (made read-only after the optimizer was built); "
                             "parameters are updated in place")
        if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>p):
            raise ValueError(f"params[{offset + i}]: expected a C-contiguous array, got one "
                             "whose strides changed after the optimizer was built")
        if not isinstance(g, np.ndarray) or (type(g) is not np.ndarray
                                             and isinstance(g, np.ma.MaskedArray)):
            # a masked array's mask would be ignored: the kernel reads every element
            raise TypeError(f"grads[{offset + i}]: expected a numpy.ndarray, got {type(g).__name__}")
        if g.dtype != p.dtype:
            raise TypeError(f"grads[{offset + i}]: dtype {g.dtype} does not match its "
                            f"parameter's {p.dtype}")
        if g.shape != p.shape:
            raise ValueError(f"grads[{offset + i}]: shape {g.shape} does not match its "
                             f"parameter's {p.shape}")
        if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>g):
            out[i] = np.ascontiguousarray(g)
    return out


cdef inline bint _extent(object a, char **lo, char **hi):
    """The bytes a C-contiguous array spans, [lo, hi); False for an empty array."""
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef Py_ssize_t nbytes = cnp.PyArray_NBYTES(arr)
    if nbytes == 0:
        return False
    lo[0] = <char *>cnp.PyArray_DATA(arr)
    hi[0] = lo[0] + nbytes
    return True


cdef bint _hull(list arrays, char **lo, char **hi):
    """The smallest byte range [lo, hi) holding every array's memory; False if all empty."""
    cdef char *a
    cdef char *b
    cdef bint any = False
    for arr in arrays:
        if _extent(arr, &a, &b):
            if not any or a < lo[0]:
                lo[0] = a
            if not any or b > hi[0]:
                hi[0] = b
            any = True
    return any


def check_no_overlap(list written, list grads, Py_ssize_t n_params):
    """Refuse a gradient that shares memory with an array the step writes.

    written: the parameters (the first ``n_params`` entries, in order) followed by the
    state buffers; grads: as returned by check_grads (all C-contiguous, so an array's
    memory is exactly the bytes between its first and last element, and two arrays share
    memory exactly when those ranges meet). The kernels declare their pointers
    ``restrict``: an overlap would give results that depend on the compiler's loop order
    and the thread count. The usual case (parameters and gradients in separate buffers)
    costs one pass over each list; otherwise every pair is compared."""
    cdef Py_ssize_t i, j, nw = len(written), ng = len(grads)
    cdef char *lo
    cdef char *hi
    cdef char *wlo
    cdef char *whi
    cdef char *glo
    cdef char *ghi
    cdef char *a
    cdef char *b
    if not (_hull(written, &wlo, &whi) and _hull(grads, &glo, &ghi)) \
            or ghi <= wlo or whi <= glo:
        return
    if nw * ng > 4096:
        return _check_no_overlap_sorted(written, grads, n_params)
    for i in range(ng):
        if not _extent(grads[i], &lo, &hi):
            continue
        for j in range(nw):
            if _extent(written[j], &a, &b) and lo < b and a < hi:
                raise ValueError(_overlap_message(i, j, n_params))


def _overlap_message(i, j, n_params):
    what = (f"params[{j}], which this step updates in place" if j < n_params
            else "the optimizer's state buffers")
    return (f"grads[{i}]: expected memory of its own, got an array that shares memory with "
            f"{what}; pass a copy (g.copy())")


def _check_no_overlap_sorted(list written, list grads, Py_ssize_t n_params):
    """check_no_overlap for many arrays: the written arrays are disjoint (parameters are
    checked when added, state buffers are the optimizer's own), so after sorting them by
    start the only candidate for a gradient [lo, hi) is the last one starting before hi."""
    spans = [(a.ctypes.data, a.ctypes.data + a.nbytes, j) for j, a in enumerate(written)
             if a.nbytes]
    spans.sort()
    starts = np.array([s[0] for s in spans], dtype=np.uint64)
    for i, g in enumerate(grads):
        if not g.nbytes:
            continue
        lo, hi = g.ctypes.data, g.ctypes.data + g.nbytes
        k = int(np.searchsorted(starts, np.uint64(hi))) - 1
        if k >= 0 and spans[k][1] > lo:
            raise ValueError(_overlap_message(i, spans[k][2], n_params))


def step_group(dict hyper, list params, list grads, list state, int n_threads):
    """Apply one step of ``hyper["rule"]`` to a param group, in place.

    params: the group's arrays (C-contiguous, writable, one dtype; checked when added);
    grads: as returned by check_grads; state: three flat arrays (or None) holding the
    group's state in parameter order. Returns the NAdam mu_product after the step.
    """
    cdef fg_step s
    fill_step(&s, hyper)
    return _run_group(&s, params, grads, state, n_threads)


cdef double _run_group(const fg_step *s, list params, list grads, list state,
                       int n_threads) except? -1.0:
    cdef Py_ssize_t n_params = len(params), i, k, n_spans = 0, off = 0, n_i, cap, total
    cdef int itemsize
    cdef bint is_double
    cdef fg_span *spans = NULL
    cdef fg_span *pieces = NULL
    cdef char *sp[3]
    cdef char *p_i
    cdef char *g_i
    cdef fg_span stack_spans[SMALL_SPANS]
    cdef fg_span stack_pieces[SMALL_SPANS]
    if n_params == 0:
        return s.mu_product
    total = 0
    for i in range(n_params):
        total += cnp.PyArray_SIZE(<cnp.ndarray>params[i])
    for k in range(3):   # the C loop trusts the state's length: check it once here
        # exactly: a parameter resized in place (ndarray.resize) must not shift the others'
        # state or run past the buffer
        if state[k] is not None and cnp.PyArray_SIZE(<cnp.ndarray>state[k]) != total:
            raise ValueError(f"params: expected {cnp.PyArray_SIZE(<cnp.ndarray>state[k])} "
                             f"elements in all (the state's layout), got {total}; a "
                             "parameter's size cannot change after it is added")
    is_double = (<cnp.ndarray>params[0]).dtype.num == cnp.NPY_DOUBLE
    itemsize = 8 if is_double else 4
    for k in range(3):
        sp[k] = NULL if state[k] is None else _data(state[k])
    cap = n_params + n_threads + 1
    if cap <= SMALL_SPANS:      # the usual case: no allocation per step
        spans, pieces = stack_spans, stack_pieces
    else:
        spans = <fg_span *>PyMem_Malloc(n_params * sizeof(fg_span))
        pieces = <fg_span *>PyMem_Malloc(cap * sizeof(fg_span))
        if spans == NULL or pieces == NULL:
            PyMem_Free(spans)
            PyMem_Free(pieces)
            raise MemoryError()
    for i in range(n_params):
        n_i = cnp.PyArray_SIZE(<cnp.ndarray>params[i])
        if n_i == 0:
            continue
        p_i = _data(params[i])
        g_i = _data(grads[i])
        if (n_spans > 0
                and p_i == <char *>spans[n_spans - 1].p + spans[n_spans - 1].n * itemsize
                and g_i == <const char *>spans[n_spans - 1].g + spans[n_spans - 1].n * itemsize):
            spans[n_spans - 1].n += n_i   # adjacent in memory: one longer run
        else:
            spans[n_spans].p = p_i
            spans[n_spans].g = g_i
            spans[n_spans].s1 = NULL if sp[0] == NULL else sp[0] + off * itemsize
            spans[n_spans].s2 = NULL if sp[1] == NULL else sp[1] + off * itemsize
            spans[n_spans].s3 = NULL if sp[2] == NULL else sp[2] + off * itemsize
            spans[n_spans].n = n_i
            n_spans += 1
        off += n_i
    with nogil:
        k = split_spans(spans, n_spans, pieces, cap, itemsize, n_threads)
        run_spans(s, pieces, k, is_double, n_threads)
    if spans != stack_spans:
        PyMem_Free(spans)
        PyMem_Free(pieces)
    return s.mu_product


cdef class Rule:
    """A param group's hyper-parameters parsed once into an fg_step (rebuilt by the
    optimizer only when the group changes), so neither a step nor the engine's epoch
    re-reads a dict."""

    def __init__(self, dict hyper):
        fill_step(&self.base, dict(hyper, step=1))   # validates

    def step_group(self, list params, list grads, dict gstate, int n_threads):
        """The group's next step: reads its state buffers, step count and mu_product from
        ``gstate`` and writes the new count and mu_product back. Written in C with no
        Python bytecode in between, so no signal (Ctrl-C) can land between the update and
        its count: a step is applied and counted, or neither."""
        cdef fg_step s = self.base
        s.step = gstate["step"] + 1
        s.mu_product = gstate["mu_product"]
        fg_prepare(&s)
        mu = _run_group(&s, params, grads, gstate["state"], n_threads)
        gstate["step"] = s.step
        gstate["mu_product"] = mu
        return mu


def bandwidth_probe(cnp.ndarray p, cnp.ndarray g, cnp.ndarray m, cnp.ndarray v, int n_threads=1):
    """Adam's memory traffic (read 4 arrays, write 3) with no math: the practical roof.

    Split into the same per-thread chunks as an optimizer step."""
    cdef Py_ssize_t n = p.size, k, i
    cdef bint is_double = p.dtype == np.float64
    cdef fg_span whole
    cdef fg_span pieces[MAX_THREADS + 1]
    for a in (p, g, m, v):
        if a.size != n or a.dtype != p.dtype or not a.flags.c_contiguous:
            raise ValueError("bandwidth_probe: four C-contiguous arrays of one size and dtype")
    whole.p = _data(p)
    whole.g = _data(g)
    whole.s1 = _data(m)
    whole.s2 = _data(v)
    whole.s3 = NULL
    whole.n = n
    if n_threads > MAX_THREADS:
        n_threads = MAX_THREADS
    with nogil:
        k = split_spans(&whole, 1, pieces, MAX_THREADS + 1, 8 if is_double else 4, n_threads)
        if n_threads <= 1 or k <= 1:
            for i in range(k):
                _probe_one(&pieces[i], is_double)
        else:
            for i in prange(k, schedule="static", num_threads=n_threads):
                _probe_one(&pieces[i], is_double)


cdef inline void _probe_one(const fg_span *sp, bint is_double) noexcept nogil:
    if is_double:
        fg_probe_f64(sp.n, <double *>sp.p, <const double *>sp.g, <double *>sp.s1, <double *>sp.s2)
    else:
        fg_probe_f32(sp.n, <float *>sp.p, <const float *>sp.g, <float *>sp.s1, <float *>sp.s2)


def divide_by_step_constant(cnp.ndarray x, d, force_pair=False):
    """x / d through the kernels' helper for a divisor fixed for the step (fg_div_step in
    csrc/fg_optim_impl.h: a multiplication by the reciprocal in float32; in float64 the
    reciprocal pair of csrc/fg_divisor.h where the kernels would take it, or always with
    force_pair), for the tests that compare it with the true division. The pair is
    proven for Adam's dividends, x = sqrt(v): 0, inf, NaN or x >= 2^-537; any other x
    divides (force_pair applies the pair to every x). Returns a new array."""
    if x.dtype not in (np.float32, np.float64) or not x.flags.c_contiguous:
        raise TypeError("x: expected a C-contiguous float32 or float64 array")
    cdef cnp.ndarray out = np.empty_like(x)
    cdef Py_ssize_t n = x.size
    cdef float df = d
    cdef double dd = d
    cdef int force = bool(force_pair)
    if x.dtype == np.float32:
        with nogil:
            fg_div_step_array_f32(n, <const float *>cnp.PyArray_DATA(x), df, force,
                                  <float *>cnp.PyArray_DATA(out))
    else:
        with nogil:
            fg_div_step_array_f64(n, <const double *>cnp.PyArray_DATA(x), dd, force,
                                  <double *>cnp.PyArray_DATA(out))
    return out


def reciprocal_pair(double d):
    """What csrc/fg_divisor.h decides for the float64 divisor d, for the tests: (hi, lo,
    candidates, exact) -- the reciprocal pair, the significands the pair could misround
    and whether it rounds every one of them as x / d does."""
    cdef double hi, lo
    cdef uint64_t found[FG_PAIR_MAX_CANDIDATES]
    if not (0.0 < d <= 1.0):
        raise ValueError(f"d: expected a divisor in (0, 1], got {d!r}")
    fg_reciprocal_pair(d, &hi, &lo)
    cdef int n = fg_pair_candidates(d, found)
    return hi, lo, [int(found[i]) for i in range(max(n, 0))], bool(fg_pair_is_exact(d, hi, lo))


def kernels_have_fma():
    """Whether the kernels that run here have a hardware FMA (fg_platform.h), i.e. whether
    float64 Adam can take the reciprocal pair at all."""
    return bool(fg_kernels_have_fma())
