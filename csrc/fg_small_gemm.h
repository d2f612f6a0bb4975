/* fg_small_gemm.h: our own GEMM for the small products OpenBLAS multiplies slowly.
 *
 * Why: a digits-sized layer (200 rows x 64 inputs x 100 outputs, float64) is too big for
 * OpenBLAS's small-matrix kernels (M*N*K <= 10^6) and too small for its packed path to
 * pay for its packing: 83 us, 15 G multiply-adds/s on one AVX-512 core (docs/DESIGN.md,
 * "Small products are our own"). These products need no packing: every operand fits in
 * L1/L2, so a register-blocked kernel that reads them where they lie runs at ~70% of
 * the FMA ports' rate (22 of the ~32 G float64 multiply-adds/s measured on that core).
 *
 * Column-major, as BLAS: C (m x n) = op(A) (m x k) * op(B) (k x n). A's columns are the
 * vectors (a small transposed A is first copied into columns); B's entries are broadcast
 * (tb 'N': B[p + j*ldb], 'T': B[j + p*ldb]). beta 0 (C =) or 1 (C +=). Each C entry is
 * one chain of FMAs over p = 0..k-1 in order, whatever the blocking, so a product's bits
 * do not depend on how the engine cuts it into row or column blocks.
 *
 * AVX-512F only (GCC/Clang on x86-64, chosen at run time); elsewhere fg_small_gemm_cpu()
 * is 0 and the engine calls BLAS. */
#ifndef FG_SMALL_GEMM_H
#define FG_SMALL_GEMM_H
#include <stddef.h>

#include "fg_mlp.h"   /* fg_activation, FG_LEAKY_SLOPE: the passes the epilogue stands in for */

/* An element-wise pass done on each block of C as it is stored (beta 0 only), so that the
 * pass after the product does not read and write C again. Each is the operation of the
 * pass it replaces (csrc/fg_mlp_impl.h), on the same values in the same order, so the
 * bits are the pass's: FG_EPI_BIAS_ACT: c = act(c + bias[i]) (fg_bias_act, bias per row
 * i of C; ReLU, leaky ReLU and identity); FG_EPI_ACT_GRAD: c = c * act'(a) with a the
 * activation's output at C's place in a same-shaped array (fg_act_backward; ReLU, leaky
 * ReLU, tanh, sigmoid). fg_sg_epi_takes says which. */
typedef enum { FG_EPI_NONE = 0, FG_EPI_BIAS_ACT, FG_EPI_ACT_GRAD } fg_epi_kind;
typedef struct {
    fg_epi_kind kind;
    fg_activation act;
    const void *bias;    /* FG_EPI_BIAS_ACT: m values */
    const void *out;     /* FG_EPI_ACT_GRAD: the activation's output, m x n, column-major */
    ptrdiff_t ld_out;
} fg_sg_epi;

static inline int fg_sg_epi_takes(const fg_sg_epi *e) {
    if (e->kind == FG_EPI_BIAS_ACT)   /* tanh and sigmoid keep their pass: its own functions */
        return e->act == FG_RELU || e->act == FG_LEAKY_RELU || e->act == FG_IDENTITY;
    if (e->kind == FG_EPI_ACT_GRAD)   /* identity has no derivative pass at all */
        return e->act == FG_RELU || e->act == FG_LEAKY_RELU || e->act == FG_TANH
               || e->act == FG_SIGMOID;
    return 0;
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(FG_NO_CLONES)
#define FG_SMALL_GEMM 1
#include <immintrin.h>

#define FG_SG_TARGET __attribute__((target("avx512f"), always_inline)) inline
#define FG_SG_ENTRY __attribute__((target("avx512f"), noinline))

/* Columns of C per register block: NR accumulators for each of NV (1-3) vectors of rows,
 * the last vector masked (all ones when the rows fill it). Written with the counts as
 * constants so the 24 accumulators stay in registers (runtime counts spilled them to the
 * stack: 18 G multiply-adds/s against 22). The store loop is unrolled by pragma: with the
 * epilogue in it GCC stopped unrolling it, acc[v][j] became an array on the stack and the
 * FMA loop loaded and stored every accumulator (10 x 200 x 100 float64: 11 -> 27 us).
 * tests/test_codegen.py reads the built code for such loops. */
#define FG_SG_NR 8

#define FG_SG_BLOCK(NAME, NV, NR, MASKED, REAL, VEC, W, LOADU, MASKLOAD, MASKSTORE, ADD, FMA, \
                    SET1, ZERO, MASK, EPI)                                                   \
FG_SG_TARGET static void NAME(ptrdiff_t k, MASK last, const REAL *restrict a, ptrdiff_t lda, \
                              const REAL *restrict b, ptrdiff_t bp, ptrdiff_t bj,            \
                              REAL *restrict c, ptrdiff_t ldc, int beta,                     \
                              const fg_sg_epi *e, ptrdiff_t i0, ptrdiff_t j0) {              \
    VEC acc[NV][NR];                                                                         \
    for (int v = 0; v < NV; v++)                                                             \
        for (int j = 0; j < NR; j++) acc[v][j] = ZERO();                                     \
    for (ptrdiff_t p = 0; p < k; p++) {                                                      \
        const REAL *ap = a + p * lda;                                                        \
        VEC av[NV];                                                                          \
        for (int v = 0; v < NV - 1; v++) av[v] = LOADU(ap + v * W);                          \
        av[NV - 1] = MASKED ? MASKLOAD(last, ap + (NV - 1) * W) : LOADU(ap + (NV - 1) * W);  \
        const REAL *brow = b + p * bp;                                                       \
        for (int j = 0; j < NR; j++) {                                                       \
            VEC bv = SET1(brow[j * bj]);                                                     \
            for (int v = 0; v < NV; v++) acc[v][j] = FMA(av[v], bv, acc[v][j]);              \
        }                                                                                    \
    }                                                                                        \
    _Pragma("GCC unroll 8")                                                                  \
    for (int j = 0; j < NR; j++) {                                                           \
        REAL *cj = c + j * ldc;                                                              \
        _Pragma("GCC unroll 3")                                                              \
        for (int v = 0; v < NV; v++) {                                                       \
            MASK mk = MASKED && v == NV - 1 ? last : (MASK)-1;                               \
            VEC out = acc[v][j];                                                             \
            if (beta) out = ADD(MASKLOAD(mk, cj + v * W), out);                              \
            if (e != NULL) out = EPI(e, out, mk, i0 + v * W, j0 + j);                        \
            MASKSTORE(cj + v * W, mk, out);                                                  \
        }                                                                                    \
    }                                                                                        \
}

/* Blocks of 3 vectors of rows (24 doubles, 48 floats) by 8 columns; the last rows in a
 * block of 1-3 vectors (its last vector masked: only that block pays for the mask), the
 * last 1-7 columns in blocks of 4, 2 and 1 (a column alone is 3 chains of dependent FMAs,
 * latency-bound: the 2 columns left of 10 took as long as the other 8, 8.6 against 7.7 us
 * at 100 x 10 x 200). */
#define FG_SG_CALL(P, KIND, SUF, nv, ARGS)                                                   \
    do {                                                                                     \
        if (nv == 3) P##KIND##3_##SUF ARGS;                                                  \
        else if (nv == 2) P##KIND##2_##SUF ARGS;                                             \
        else P##KIND##1_##SUF ARGS;                                                          \
    } while (0)

/* The driver's call of the block for columns j0.. of rows i0.. (KIND: b, q, d or c; its
 * masked twin when the rows end inside the last vector). */
#define FG_SG_ARGS (k, last, ai, lda, bb, bp, bj, cc, ldc, beta, e, i0, j0)
#define FG_SG_COLUMNS(P, KIND, SUF, REAL)                                                    \
    do {                                                                                     \
        const REAL *bb = b + j0 * bj;                                                        \
        REAL *cc = c + i0 + j0 * ldc;                                                        \
        if (masked) FG_SG_CALL(P, KIND##m, SUF, nv, FG_SG_ARGS);                             \
        else FG_SG_CALL(P, KIND, SUF, nv, FG_SG_ARGS);                                       \
    } while (0)

/* The driver's loops over blocks of rows and columns; e is NULL or the epilogue. The
 * driver runs them in two copies, one with e a literal NULL, so that the blocks without an
 * epilogue compile with no trace of it. */
#define FG_SG_LOOPS(P, SUF, REAL, W, MASK)                                                   \
    for (ptrdiff_t i0 = 0; i0 < m; i0 += 3 * W) {                                            \
        const ptrdiff_t rows = m - i0 < 3 * W ? m - i0 : 3 * W;                              \
        const int nv = (int)((rows + W - 1) / W);                                            \
        const int tail = (int)(rows - (ptrdiff_t)(nv - 1) * W);                              \
        const MASK last = (MASK)(tail == W ? (MASK)-1 : (MASK)((1u << tail) - 1u));          \
        const int masked = tail != W;                                                        \
        const REAL *ai = a + i0;                                                             \
        ptrdiff_t j0 = 0;                                                                    \
        for (; j0 + FG_SG_NR <= n; j0 += FG_SG_NR) FG_SG_COLUMNS(P, b, SUF, REAL);          \
        if (j0 + 4 <= n) { FG_SG_COLUMNS(P, q, SUF, REAL); j0 += 4; }                        \
        if (j0 + 2 <= n) { FG_SG_COLUMNS(P, d, SUF, REAL); j0 += 2; }                        \
        if (j0 < n) FG_SG_COLUMNS(P, c, SUF, REAL);                                          \
    }

#define FG_SG_DRIVER(NAME, P, SUF, REAL, W, MASK)                                            \
FG_SG_ENTRY static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const REAL *a,           \
                             ptrdiff_t lda, const REAL *b, ptrdiff_t ldb, int tb_t, REAL *c, \
                             ptrdiff_t ldc, int beta, const fg_sg_epi *epi) {                \
    const ptrdiff_t bp = tb_t ? ldb : 1, bj = tb_t ? 1 : ldb;                                \
    if (epi == NULL) {                                                                       \
        const fg_sg_epi *const e = NULL;                                                     \
        FG_SG_LOOPS(P, SUF, REAL, W, MASK)                                                   \
    } else {                                                                                 \
        const fg_sg_epi ep = *epi, *const e = &ep;                                           \
        FG_SG_LOOPS(P, SUF, REAL, W, MASK)                                                   \
    }                                                                                        \
}

/* The blocks of 3, 2 and 1 vectors of rows for one (columns, masked) pair: fg_sg_<P><nv>_<SUF>. */
#define FG_SG_BLOCKS(P, NR, MASKED, SUF, ...)                                                \
FG_SG_BLOCK(fg_sg_##P##3_##SUF, 3, NR, MASKED, __VA_ARGS__, fg_sg_epi_##SUF)                 \
FG_SG_BLOCK(fg_sg_##P##2_##SUF, 2, NR, MASKED, __VA_ARGS__, fg_sg_epi_##SUF)                 \
FG_SG_BLOCK(fg_sg_##P##1_##SUF, 1, NR, MASKED, __VA_ARGS__, fg_sg_epi_##SUF)

/* The blocks for NR columns, unmasked (P) and masked (P##m). */
#define FG_SG_PAIR(P, NR, SUF, ...)                                                          \
FG_SG_BLOCKS(P, NR, 0, SUF, __VA_ARGS__)                                                     \
FG_SG_BLOCKS(P##m, NR, 1, SUF, __VA_ARGS__)

/* Every block (b: 8 columns, q: 4, d: 2, c: one; m: masked) and the driver for one dtype. */
#define FG_SG_KERNELS(SUF, REAL, VEC, W, LOADU, MASKLOAD, MASKSTORE, ADD, FMA, SET1, ZERO,   \
                      MASK)                                                                  \
FG_SG_PAIR(b, FG_SG_NR, SUF, REAL, VEC, W, LOADU, MASKLOAD, MASKSTORE, ADD, FMA, SET1, ZERO, \
           MASK)                                                                             \
FG_SG_PAIR(q, 4, SUF, REAL, VEC, W, LOADU, MASKLOAD, MASKSTORE, ADD, FMA, SET1, ZERO, MASK)  \
FG_SG_PAIR(d, 2, SUF, REAL, VEC, W, LOADU, MASKLOAD, MASKSTORE, ADD, FMA, SET1, ZERO, MASK)  \
FG_SG_PAIR(c, 1, SUF, REAL, VEC, W, LOADU, MASKLOAD, MASKSTORE, ADD, FMA, SET1, ZERO, MASK)  \
FG_SG_DRIVER(fg_sg_##SUF, fg_sg_, SUF, REAL, W, MASK)

/* The epilogue on one vector of C (rows i.. of column j), masked as its store is. */
#define FG_SG_EPI_FN(SUF, REAL, VEC, MASK, PS)                                               \
FG_SG_TARGET static VEC fg_sg_epi_##SUF(const fg_sg_epi *e, VEC out, MASK mk, ptrdiff_t i,   \
                                        ptrdiff_t j) {                                       \
    const VEC zero = _mm512_setzero_##PS(), one = _mm512_set1_##PS((REAL)1);                \
    const VEC slope = _mm512_set1_##PS((REAL)FG_LEAKY_SLOPE);                                \
    if (e->kind == FG_EPI_BIAS_ACT) {                                                        \
        out = _mm512_add_##PS(out, _mm512_maskz_loadu_##PS(mk, (const REAL *)e->bias + i));  \
        if (e->act == FG_RELU)               /* v <= 0 ? 0 : v (a NaN stays) */              \
            out = _mm512_mask_blend_##PS(_mm512_cmp_##PS##_mask(out, zero, _CMP_LE_OQ),     \
                                         out, zero);                                         \
        else if (e->act == FG_LEAKY_RELU)    /* v > 0 ? v : slope * v */                    \
            out = _mm512_mask_blend_##PS(_mm512_cmp_##PS##_mask(out, zero, _CMP_GT_OQ),     \
                                         _mm512_mul_##PS(slope, out), out);                  \
        return out;                                                                          \
    }                                                                                        \
    const VEC a = _mm512_maskz_loadu_##PS(mk, (const REAL *)e->out + i + j * e->ld_out);     \
    const MASK pos = _mm512_cmp_##PS##_mask(a, zero, _CMP_GT_OQ);                             \
    switch (e->act) {                                                                        \
    case FG_RELU: return _mm512_mul_##PS(out, _mm512_mask_blend_##PS(pos, zero, one));       \
    case FG_LEAKY_RELU: return _mm512_mul_##PS(out, _mm512_mask_blend_##PS(pos, slope, one)); \
    case FG_TANH:                                            /* d * (1 - a * a) */          \
        return _mm512_mul_##PS(out, _mm512_sub_##PS(one, _mm512_mul_##PS(a, a)));            \
    case FG_SIGMOID:                                         /* d * (a * (1 - a)) */        \
        return _mm512_mul_##PS(out, _mm512_mul_##PS(a, _mm512_sub_##PS(one, a)));            \
    default: return out;                                                                     \
    }                                                                                        \
}
FG_SG_EPI_FN(f64, double, __m512d, __mmask8, pd)
FG_SG_EPI_FN(f32, float, __m512, __mmask16, ps)

#define FG_SG_F64_MASKLOAD(m, p) _mm512_maskz_loadu_pd((m), (p))
FG_SG_KERNELS(f64, double, __m512d, 8, _mm512_loadu_pd, FG_SG_F64_MASKLOAD,
              _mm512_mask_storeu_pd, _mm512_add_pd, _mm512_fmadd_pd, _mm512_set1_pd,
              _mm512_setzero_pd, __mmask8)
#define FG_SG_F32_MASKLOAD(m, p) _mm512_maskz_loadu_ps((m), (p))
FG_SG_KERNELS(f32, float, __m512, 16, _mm512_loadu_ps, FG_SG_F32_MASKLOAD,
              _mm512_mask_storeu_ps, _mm512_add_ps, _mm512_fmadd_ps, _mm512_set1_ps,
              _mm512_setzero_ps, __mmask16)

/* Set once at import (fg_small_gemm_init), read by every thread after. */
static int fg_sg_cpu_ok = 0;
static inline void fg_small_gemm_init(void) {
    __builtin_cpu_init();
    fg_sg_cpu_ok = __builtin_cpu_supports("avx512f") ? 1 : 0;
}
static inline int fg_small_gemm_cpu(void) { return fg_sg_cpu_ok; }
#else
#define FG_SMALL_GEMM 0
static inline void fg_small_gemm_init(void) {}
static inline int fg_small_gemm_cpu(void) { return 0; }
#endif

/* Which products the kernel takes (the rest go to BLAS), from the per-product table in
 * docs/DESIGN.md ("Small products are our own"; SciPy's OpenBLAS 0.3.30, one AVX-512
 * core): A not transposed, or small enough to copy (FG_SG_PACK); at least two columns
 * and two terms (GEMV and outer products have their own paths); at most
 * fg_small_gemm_macs multiply-adds (above it OpenBLAS's packing pays: the 784x256 layer
 * at batch 200 ran 0.63-0.69x as fast in float64); in float64 at most 512 terms (a
 * 24-row panel of A stays near L1: at k = 784, 0.65-0.85x); with B transposed (a weight
 * gradient), two vectors of rows or more (10 rows: 0.77-0.81x) and a B of at most 256 KB
 * (it is read once per 24 or 48 rows of A: a 784 x 128 float32 B, 400 KB, ran 0.85x).
 * 0 turns the kernel off (benchmarks). */
static long long fg_small_gemm_macs = 32000000;

/* 0 keeps the element-wise passes out of the kernel's stores (tests, benchmarks). */
static int fg_small_gemm_epilogues = 1;

/* A transposed is copied into columns on the stack, if it has at most this many entries
 * (32 KB of float64: the backward product through a 10-wide output layer). */
#define FG_SG_PACK 4096

static inline int fg_small_gemm_takes(int dbl, char ta, char tb, ptrdiff_t m, ptrdiff_t n,
                                      ptrdiff_t k) {
    const ptrdiff_t isz = dbl ? 8 : 4;
    if (n < 2 || k < 2 || (long long)m * n * k > fg_small_gemm_macs) return 0;
    if (ta != 'N' && (ta != 'T' || m * k > FG_SG_PACK)) return 0;
    if (dbl && k > 512) return 0;
    if (tb == 'T' && (m < 64 / isz * 2 || (long long)n * k * isz > 262144)) return 0;
    return fg_small_gemm_cpu();
}

/* C = A op(B) (beta 0) or C += A op(B) (beta 1), column-major; dbl float64 or float32.
 * e: NULL, or an epilogue applied to each block as it is stored (only with beta 0 and
 * when fg_sg_epi_takes it: the caller asks first and runs the pass itself otherwise). */
static inline void fg_small_gemm(int dbl, char ta, char tb, ptrdiff_t m, ptrdiff_t n,
                                 ptrdiff_t k, const void *a, ptrdiff_t lda, const void *b,
                                 ptrdiff_t ldb, void *c, ptrdiff_t ldc, int beta,
                                 const fg_sg_epi *e) {
#if FG_SMALL_GEMM
    /* A transposed (stored k x m): copied into columns first, m * k <= FG_SG_PACK */
    union { double d[FG_SG_PACK]; float f[FG_SG_PACK]; } packed;
    if (ta == 'T') {
        for (ptrdiff_t i = 0; i < m; i++)
            for (ptrdiff_t p = 0; p < k; p++) {
                if (dbl) packed.d[i + p * m] = ((const double *)a)[p + i * lda];
                else packed.f[i + p * m] = ((const float *)a)[p + i * lda];
            }
        a = dbl ? (const void *)packed.d : (const void *)packed.f;
        lda = m;
    }
    if (e != NULL && (beta || !fg_sg_epi_takes(e))) e = NULL;
    if (dbl) fg_sg_f64(m, n, k, (const double *)a, lda, (const double *)b, ldb, tb == 'T',
                       (double *)c, ldc, beta, e);
    else fg_sg_f32(m, n, k, (const float *)a, lda, (const float *)b, ldb, tb == 'T',
                   (float *)c, ldc, beta, e);
#else
    (void)dbl; (void)ta; (void)tb; (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b;
    (void)ldb; (void)c; (void)ldc; (void)beta; (void)e;
#endif
}
#endif
