"""Exponentially weighted average of a 1-D series, in C (mirrors reference.ewa.ewa)."""
cimport numpy as cnp
import numpy as np

cnp.import_array()

cdef extern from "fg_ewa.h" nogil:
    void fg_ewa_f32(Py_ssize_t n, const float *x, Py_ssize_t stride, double beta,
                    int bias_correction, int start_first, float *out)
    void fg_ewa_f64(Py_ssize_t n, const double *x, Py_ssize_t stride, double beta,
                    int bias_correction, int start_first, double *out)


def ewa_into(cnp.ndarray x, double beta, bint bias_correction, bint start_first,
             cnp.ndarray out):
    """x: 1-D float array, any stride; out: C-contiguous, same dtype and length."""
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t stride = x.strides[0] // x.itemsize
    if x.dtype == np.float64:
        with nogil:
            fg_ewa_f64(n, <const double *>cnp.PyArray_DATA(x), stride, beta,
                       bias_correction, start_first, <double *>cnp.PyArray_DATA(out))
    else:
        with nogil:
            fg_ewa_f32(n, <const float *>cnp.PyArray_DATA(x), stride, beta,
                       bias_correction, start_first, <float *>cnp.PyArray_DATA(out))
    return out
