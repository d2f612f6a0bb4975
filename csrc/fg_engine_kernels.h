/* fg_engine_kernels.h: the engine's kernels with the dtype as a flag.
 *
 * Why: the engine (fastgd/model/_engine.pyx) keeps its buffers as bytes and one is_double
 * flag, and every kernel exists for float and double. Picking the body here, once per
 * kernel, leaves the engine without a float/double branch at each call (it had 17). The
 * branch tests one flag per call of a whole-row or whole-block pass: its cost is nil.
 * Scalars arrive in double and are rounded to REAL here, as the engine did before.
 */
#ifndef FG_ENGINE_KERNELS_H
#define FG_ENGINE_KERNELS_H
#include "fg_gather.h"
#include "fg_mlp.h"
#include "fg_optim.h"

#define FG_PICK(dbl, call64, call32) do { if (dbl) { call64; } else { call32; } } while (0)

static inline void fg_bias_act(int dbl, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t n, void *z,
                               const void *b, fg_activation act) {
    FG_PICK(dbl, fg_bias_act_f64(r0, r1, n, z, b, act), fg_bias_act_f32(r0, r1, n, z, b, act));
}

static inline void fg_act_backward(int dbl, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t n,
                                   const void *a, void *d, fg_activation act) {
    FG_PICK(dbl, fg_act_backward_f64(r0, r1, n, a, d, act),
            fg_act_backward_f32(r0, r1, n, a, d, act));
}

static inline double fg_output_loss(int dbl, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t n, void *z,
                                    const void *b, const int64_t *labels, const void *targets,
                                    fg_output out, double inv_b, const double *w,
                                    double inv_wsum, double *hits) {
    if (dbl) return fg_output_loss_f64(r0, r1, n, z, b, labels, targets, out, inv_b, w,
                                       inv_wsum, hits);
    return fg_output_loss_f32(r0, r1, n, z, b, labels, targets, out, (float)inv_b, w,
                              inv_wsum, hits);
}

static inline void fg_col_sums(int dbl, ptrdiff_t rows, ptrdiff_t n, ptrdiff_t ld,
                               const void *d, void *db) {
    FG_PICK(dbl, fg_col_sums_f64(rows, n, ld, d, db), fg_col_sums_f32(rows, n, ld, d, db));
}

static inline void fg_add_scaled(int dbl, ptrdiff_t rows, ptrdiff_t n, ptrdiff_t ld, void *dw,
                                 const void *w, double alpha) {
    FG_PICK(dbl, fg_add_scaled_f64(rows, n, ld, dw, w, alpha),
            fg_add_scaled_f32(rows, n, ld, dw, w, (float)alpha));
}

static inline void fg_outer(int dbl, ptrdiff_t m, ptrdiff_t n, const void *a, ptrdiff_t inca,
                            const void *b, ptrdiff_t incb, void *c, ptrdiff_t ldc) {
    FG_PICK(dbl, fg_outer_f64(m, n, a, inca, b, incb, c, ldc),
            fg_outer_f32(m, n, a, inca, b, incb, c, ldc));
}

static inline void fg_accumulate_rows(int dbl, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t n,
                                      const void *x, const void *w, void *acc) {
    FG_PICK(dbl, fg_accumulate_rows_f64(r0, r1, n, x, w, acc),
            fg_accumulate_rows_f32(r0, r1, n, x, w, acc));
}

static inline void fg_sum_blocks(int dbl, ptrdiff_t blocks, ptrdiff_t n, const void *parts,
                                 void *out) {
    FG_PICK(dbl, fg_sum_blocks_f64(blocks, n, parts, out), fg_sum_blocks_f32(blocks, n, parts, out));
}

/* the optimizer over [0, n) of params p with gradient g and state s1..s3 (NULL: unused) */
static inline void fg_apply_any(int dbl, const fg_step *s, ptrdiff_t n, void *p, const void *g,
                                void *s1, void *s2, void *s3) {
    FG_PICK(dbl, fg_apply_f64(s, n, p, g, s1, s2, s3), fg_apply_f32(s, n, p, g, s1, s2, s3));
}

/* the optimizer over a block of weight rows whose gradient is a (x) dz (+ alpha w) */
static inline void fg_apply_outer_any(int dbl, const fg_step *s, ptrdiff_t rows, ptrdiff_t cols,
                                      const void *a, ptrdiff_t inca, const void *dz,
                                      double alpha, void *p, void *s1, void *s2, void *s3,
                                      const void *a_next, void *acc) {
    FG_PICK(dbl, fg_apply_outer_f64(s, rows, cols, a, inca, dz, alpha, p, s1, s2, s3,
                                    a_next, acc),
            fg_apply_outer_f32(s, rows, cols, a, inca, dz, (float)alpha, p, s1, s2, s3,
                               a_next, acc));
}

/* Weight averaging over [0, n): avg = a*avg + b*p, two products and a sum in REAL, as
 * reference/train.py's `avg *= a; avg += b * p` rounds them. The driver picks (a, b) per
 * batch: an EMA (beta, 1 - beta), its copy-first start (0, 1), Polyak's running mean
 * (1 - 1/k, 1/k). Run on each span right after its update, while it is in cache. */
#define FG_AVERAGE_BODY(REAL_T)                                                          \
    do {                                                                                 \
        REAL_T *restrict e = (REAL_T *)avg;                                              \
        const REAL_T *restrict x = (const REAL_T *)p;                                    \
        const REAL_T ca = (REAL_T)a, cb = (REAL_T)b;                                     \
        for (ptrdiff_t i = 0; i < n; i++) e[i] = ca * e[i] + cb * x[i];                  \
    } while (0)

static inline void fg_average(int dbl, ptrdiff_t n, void *avg, const void *p, double a,
                              double b) {
    if (dbl) FG_AVERAGE_BODY(double);
    else FG_AVERAGE_BODY(float);
}
#undef FG_AVERAGE_BODY

/* Gradient clipping inside fit (reference/train.py's clip_gradients mirrors these): the
 * sum of squares in double, in index order; a scale by (REAL)coef; a clamp to
 * [-c, c] that keeps NaN (as np.clip does). */
#define FG_SUM_SQUARES_BODY(REAL_T)                                                      \
    do {                                                                                 \
        const REAL_T *x = (const REAL_T *)g;                                             \
        for (ptrdiff_t i = 0; i < n; i++) total += (double)x[i] * (double)x[i];          \
    } while (0)

static inline double fg_sum_squares(int dbl, ptrdiff_t n, const void *g) {
    double total = 0.0;
    if (dbl) FG_SUM_SQUARES_BODY(double);
    else FG_SUM_SQUARES_BODY(float);
    return total;
}

/* The weights' sum of squares behind scikit-learn's reported L2 penalty, once a batch
 * (Engine.run_epoch with alphas): element i goes into partial sum i % 8, the eight added
 * pairwise at the end -- a fixed order, the same in every clone and for any thread count.
 * One chain in index order (fg_sum_squares, which clipping keeps: the reference's order)
 * waits for the adder's latency at every element: the digits model's 7,400 weights took
 * ~11 us of a ~280 us batch. The penalty only enters the reported loss (scikit-learn sums
 * it with BLAS's ddot, in its own order). */
#define FG_PENALTY_SQUARES_BODY(REAL_T)                                                  \
    do {                                                                                 \
        const REAL_T *x = (const REAL_T *)g;                                             \
        ptrdiff_t i = 0;                                                                 \
        for (; i + 8 <= n; i += 8)                                                       \
            for (int l = 0; l < 8; l++) part[l] += (double)x[i + l] * (double)x[i + l];  \
        for (; i < n; i++) part[i % 8] += (double)x[i] * (double)x[i];                   \
    } while (0)

FG_CLONES static double fg_penalty_squares(int dbl, ptrdiff_t n, const void *g) {
    double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (dbl) FG_PENALTY_SQUARES_BODY(double);
    else FG_PENALTY_SQUARES_BODY(float);
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}
#undef FG_PENALTY_SQUARES_BODY

#define FG_SCALE_CLAMP_BODY(REAL_T)                                                      \
    do {                                                                                 \
        REAL_T *x = (REAL_T *)g;                                                         \
        const REAL_T s = (REAL_T)scale, hi = (REAL_T)limit, lo = -(REAL_T)limit;         \
        if (scale != 1.0)                                                                \
            for (ptrdiff_t i = 0; i < n; i++) x[i] = x[i] * s;                           \
        if (limit >= 0.0)                                                                \
            for (ptrdiff_t i = 0; i < n; i++)                                            \
                x[i] = x[i] > hi ? hi : (x[i] < lo ? lo : x[i]);                         \
    } while (0)

/* g *= scale (when scale != 1), then clamp to [-limit, limit] (when limit >= 0) */
static inline void fg_scale_clamp(int dbl, ptrdiff_t n, void *g, double scale, double limit) {
    if (dbl) FG_SCALE_CLAMP_BODY(double);
    else FG_SCALE_CLAMP_BODY(float);
}
#undef FG_SUM_SQUARES_BODY
#undef FG_SCALE_CLAMP_BODY

#undef FG_PICK
#endif /* FG_ENGINE_KERNELS_H */
