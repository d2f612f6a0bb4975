# C-level optimizer interface shared by _optim (opt.step) and _engine (the epoch loop).
from libc.stdint cimport int64_t, uint64_t

cdef extern from "fg_optim.h" nogil:
    # cpdef: the enum is also a Python class of _optim (fastgd.optim.table reads it)
    cpdef enum fg_rule:
        FG_SGD, FG_MOMENTUM, FG_ADAM, FG_RMSPROP, FG_ADAGRAD, FG_ADADELTA, FG_ADAMAX,
        FG_NADAM, FG_RADAM

    ctypedef struct fg_step:
        fg_rule rule
        double lr, momentum, dampening, weight_decay
        double beta1, beta2, eps
        double lr_decay, momentum_decay
        int nesterov, maximize, amsgrad, centered, decoupled_weight_decay
        int eps_inside_sqrt, epsilon_hat, lr_in_momentum, bias_correction, buffer_init_grad
        int flush_subnormal_state
        int64_t step
        double mu_product
        int first_step, rectified
        double step_size, step_size2, denom_scale, decay_factor

    ctypedef struct fg_span:
        void *p
        const void *g
        void *s1
        void *s2
        void *s3
        Py_ssize_t n

    void fg_prepare(fg_step *s)
    void fg_apply_f32(const fg_step *s, Py_ssize_t n, float *p, const float *g,
                      float *s1, float *s2, float *s3)
    void fg_apply_f64(const fg_step *s, Py_ssize_t n, double *p, const double *g,
                      double *s1, double *s2, double *s3)
    void fg_apply_outer_f32(const fg_step *s, Py_ssize_t rows, Py_ssize_t cols, const float *a,
                            Py_ssize_t inca, const float *dz, float alpha, float *p,
                            float *s1, float *s2, float *s3, const float *a_next, float *acc)
    void fg_apply_outer_f64(const fg_step *s, Py_ssize_t rows, Py_ssize_t cols, const double *a,
                            Py_ssize_t inca, const double *dz, double alpha, double *p,
                            double *s1, double *s2, double *s3, const double *a_next,
                            double *acc)
    void fg_div_step_array_f32(Py_ssize_t n, const float *x, float d, int force_pair,
                               float *out)
    void fg_div_step_array_f64(Py_ssize_t n, const double *x, double d, int force_pair,
                               double *out)
    # fg_divisor.h: float64 Adam's quotient by a step's divisor
    enum: FG_PAIR_MAX_CANDIDATES
    void fg_reciprocal_pair(double d, double *hi, double *lo)
    int fg_pair_candidates(double d, uint64_t *out)
    int fg_pair_is_exact(double d, double hi, double lo)
    int fg_kernels_have_fma()
    void fg_probe_f32(Py_ssize_t n, float *p, const float *g, float *m, float *v)
    void fg_probe_f64(Py_ssize_t n, double *p, const double *g, double *m, double *v)


cdef int fill_step(fg_step *s, dict hyper) except -1
cdef Py_ssize_t split_spans(const fg_span *spans, Py_ssize_t n_spans, fg_span *out,
                            Py_ssize_t max_out, int itemsize, int n_threads) noexcept nogil
cdef void run_spans(const fg_step *s, const fg_span *spans, Py_ssize_t n_spans,
                    bint is_double, int n_threads) noexcept nogil


cdef class Rule:
    cdef fg_step base      # the group's fields, validated; step and scalars set per step
