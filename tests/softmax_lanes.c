/* The softmax loss with rows as lanes (csrc/fg_mlp_impl.h, fg_softmax_lanes) against the
 * row loop it stands in for: fg_output_loss over a batch's rows at once (whole groups of
 * lanes, then the last rows one by one) and over one row per call (always the row loop)
 * must give the same loss sum, dL/dZ and metric terms, bit for bit (a NaN equal to any
 * NaN: which operand's NaN an instruction passes on, and so its sign, is the compiler's
 * choice in either loop). Built and run by tests/test_softmax_lanes.py. Prints
 * "mismatches=N" and exits 1 if N > 0. */
#define _POSIX_C_SOURCE 199309L   /* fg_platform.h's clock_gettime under -std=c99 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_mlp.h"

static unsigned long long state = 88172645463325252ULL;
static double uniform(void) {       /* xorshift64: the same cases on every machine */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}

/* a logit: mostly spread values, sometimes ties with the previous one, huge, inf or NaN */
static double logit(const double *prev) {
    const double u = uniform();
    if (prev != NULL && u < 0.08) return *prev;
    if (u < 0.10) return 700.0 * (uniform() - 0.5);
    if (u < 0.105) return uniform() < 0.5 ? 1.0 / 0.0 : -1.0 / 0.0;
    if (u < 0.108) return 0.0 / 0.0;
    return 30.0 * (uniform() - 0.5);
}

/* the same bits, or both NaN */
static int same_f64(double a, double b) { return a != a ? b != b : memcmp(&a, &b, sizeof a) == 0; }
static int same_f32(float a, float b) { return a != a ? b != b : memcmp(&a, &b, sizeof a) == 0; }

#define CASE(REAL, SUF)                                                                   \
static int case_##SUF(ptrdiff_t rows, ptrdiff_t n, int weighted, int with_hits) {         \
    REAL *z = malloc(sizeof(REAL) * (rows * n + 1)), *zr = malloc(sizeof(REAL) * (rows * n + 1)); \
    REAL *b = malloc(sizeof(REAL) * n);                                                   \
    int64_t *labels = malloc(sizeof(int64_t) * (rows + 1));                               \
    double *w = malloc(sizeof(double) * (rows + 1)), *h = malloc(sizeof(double) * (rows + 1)); \
    double *hr = malloc(sizeof(double) * (rows + 1));                                     \
    for (ptrdiff_t i = 0; i < rows * n; i++) {                                            \
        double prev = i > 0 ? (double)z[i - 1] : 0.0;                                     \
        z[i] = (REAL)logit(i > 0 ? &prev : NULL);                                         \
    }                                                                                     \
    for (ptrdiff_t k = 0; k < n; k++) b[k] = (REAL)(uniform() - 0.5);                     \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                \
        labels[r] = (int64_t)(uniform() * n);                                             \
        w[r] = uniform() < 0.1 ? 0.0 : 2.0 * uniform();                                   \
    }                                                                                     \
    memcpy(zr, z, sizeof(REAL) * rows * n);                                               \
    const REAL inv_b = (REAL)1 / (REAL)(rows > 0 ? rows : 1);                             \
    const double *wp = weighted ? w : NULL;                                               \
    double loss = fg_output_loss_##SUF(0, rows, n, z, b, labels, NULL, FG_SOFTMAX, inv_b, \
                                       wp, 0.37, with_hits ? h : NULL);                   \
    double loss_rows = 0.0;                                                               \
    for (ptrdiff_t r = 0; r < rows; r++)                                                  \
        loss_rows += fg_output_loss_##SUF(r, r + 1, n, zr, b, labels, NULL, FG_SOFTMAX,   \
                                          inv_b, wp, 0.37, with_hits ? hr : NULL);        \
    int bad = !same_f64(loss, loss_rows);                                                 \
    for (ptrdiff_t i = 0; i < rows * n; i++) bad |= !same_##SUF(z[i], zr[i]);             \
    for (ptrdiff_t r = 0; with_hits && r < rows; r++) bad |= !same_f64(h[r], hr[r]);      \
    if (bad)                                                                              \
        printf("mismatch: %s rows=%ld n=%ld weighted=%d hits=%d loss %.17g vs %.17g\n",   \
               #REAL, (long)rows, (long)n, weighted, with_hits, loss, loss_rows);         \
    free(z); free(zr); free(b); free(labels); free(w); free(h); free(hr);                 \
    return bad;                                                                           \
}
CASE(double, f64)
CASE(float, f32)

int main(void) {
    int mismatches = 0, cases = 0;
    for (int rep = 0; rep < 4; rep++)
        for (ptrdiff_t rows = 0; rows <= 41; rows++)
            for (ptrdiff_t n = 1; n <= 19; n++)
                for (int opt = 0; opt < 4; opt++) {
                    mismatches += case_f64(rows, n, opt & 1, opt >> 1);
                    mismatches += case_f32(rows, n, opt & 1, opt >> 1);
                    cases += 2;
                }
    printf("cases=%d mismatches=%d\n", cases, mismatches);
    return mismatches != 0;
}
