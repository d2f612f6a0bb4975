/* fastgd's small-product kernel (csrc/fg_small_gemm.h) against SciPy's OpenBLAS, one
 * product at a time, one thread, in the same binary (docs/DESIGN.md, "Small products are
 * our own"). Not part of the build:
 *   SL=$(python -c "import scipy, os; print(os.path.join(os.path.dirname(scipy.__file__) + '.libs'))")
 *   cc -O3 -std=gnu99 -ffp-contract=off -Icsrc benchmarks/small_gemm_products.c \
 *      -o small_gemm_products $SL/libscipy_openblas-*.so -Wl,-rpath,$SL
 *   ./small_gemm_products
 * Column-major C (m x n) = A (m x k) op(B); each shape is a product of the engine (forward:
 * m = outputs, n = rows, k = inputs, B 'N'; weight gradient: m = outputs, n = inputs,
 * k = rows, B 'T'). Prints the best of 10 timings for each, alternating. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "fg_small_gemm.h"

void scipy_dgemm_(const char *, const char *, const int *, const int *, const int *,
                  const double *, const double *, const int *, const double *, const int *,
                  const double *, double *, const int *);
void scipy_sgemm_(const char *, const char *, const int *, const int *, const int *,
                  const float *, const float *, const int *, const float *, const int *,
                  const float *, float *, const int *);
void scipy_openblas_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void fill(int dbl, void *x, long n) {
    for (long i = 0; i < n; i++) {
        double r = rand() / (double)RAND_MAX - 0.5;
        if (dbl) ((double *)x)[i] = r; else ((float *)x)[i] = (float)r;
    }
}

static void compare(int m, int n, int k, int dbl, char tb) {
    size_t es = dbl ? 8 : 4;
    void *a = malloc(es * m * k), *b = malloc(es * n * k), *c = malloc(es * m * n);
    int ldb = tb == 'T' ? n : k;
    double one = 1, zero = 0, best[2] = {1e9, 1e9};
    float onef = 1, zerof = 0;
    long reps = 100000000L / ((long)m * n * k) + 10;
    fill(dbl, a, (long)m * k);
    fill(dbl, b, (long)n * k);
    for (int r = 0; r < 10; r++) {
        for (int who = 0; who < 2; who++) {
            double t0 = now();
            for (long i = 0; i < reps; i++) {
                if (who == 0) fg_small_gemm(dbl, 'N', tb, m, n, k, a, m, b, ldb, c, m, 0, NULL);
                else if (dbl) scipy_dgemm_("N", &tb, &m, &n, &k, &one, a, &m, b, &ldb, &zero,
                                           c, &m);
                else scipy_sgemm_("N", &tb, &m, &n, &k, &onef, a, &m, b, &ldb, &zerof, c, &m);
            }
            double t = (now() - t0) / reps;
            if (t < best[who]) best[who] = t;
        }
    }
    printf("| %d x %d x %d | %s | %c | %.2f | %.2f | %.2f |\n", m, n, k, dbl ? "float64" : "float32",
           tb, best[0] * 1e6, best[1] * 1e6, best[1] / best[0]);
    free(a); free(b); free(c);
}

int main(void) {
    static const int shapes[][4] = {
        {100, 200, 64, 'N'}, {100, 64, 200, 'T'}, {10, 200, 100, 'N'}, {10, 100, 200, 'T'},
        {256, 32, 784, 'N'}, {256, 784, 32, 'T'}, {128, 32, 256, 'N'}, {128, 256, 32, 'T'},
        {256, 128, 784, 'N'}, {256, 784, 128, 'T'}, {128, 128, 256, 'N'},
        {128, 256, 128, 'T'}, {256, 200, 784, 'N'}, {256, 784, 200, 'T'}};
    fg_small_gemm_init();
    if (!fg_small_gemm_cpu()) { puts("no AVX-512F: the engine uses BLAS"); return 0; }
    scipy_openblas_set_num_threads(1);
    puts("| m x n x k | dtype | B | own (us) | OpenBLAS (us) | OpenBLAS / own |");
    puts("|---|---|---|---:|---:|---:|");
    for (int dbl = 1; dbl >= 0; dbl--)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            compare(shapes[s][0], shapes[s][1], shapes[s][2], dbl, (char)shapes[s][3]);
    return 0;
}
