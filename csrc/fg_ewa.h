/* fg_ewa.h: exponentially weighted average of a series (a serial recurrence).
 * mirrors reference.ewa.ewa: v_t = beta*v_{t-1} + (1-beta)*x_t from v_0 = 0 (or v_1 = x_1
 * when start_first), divided by 1 - beta^t when bias_correction. beta^t is kept as a running
 * product in double, as the reference does, so both round identically. */
#ifndef FG_EWA_H
#define FG_EWA_H
#include <stddef.h>

#define FG_EWA_BODY(REAL)                                                          \
    const REAL b = (REAL)beta, c = (REAL)(1.0 - beta);                             \
    double beta_power = 1.0;                                                       \
    REAL v = 0;                                                                    \
    for (ptrdiff_t i = 0; i < n; i++) {                                            \
        const REAL xi = x[i * stride];                                             \
        v = (start_first && i == 0) ? xi : b * v + c * xi;                         \
        beta_power *= beta;                                                        \
        out[i] = bias_correction ? v / (REAL)(1.0 - beta_power) : v;               \
    }

static void fg_ewa_f32(ptrdiff_t n, const float *x, ptrdiff_t stride, double beta,
                       int bias_correction, int start_first, float *out) {
    FG_EWA_BODY(float)
}

static void fg_ewa_f64(ptrdiff_t n, const double *x, ptrdiff_t stride, double beta,
                       int bias_correction, int start_first, double *out) {
    FG_EWA_BODY(double)
}
#undef FG_EWA_BODY
#endif
