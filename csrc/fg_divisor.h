/* fg_divisor.h: a float64 quotient x / d by a divisor fixed for a whole step, computed as
 * one product and one FMA, used only for the steps whose divisor is proven to give the
 * true division's bits for every x.
 *
 * Why: torch-form Adam divides sqrt(v) by d = sqrt(1 - beta2^t), one d per step, and a
 * second time by sqrt(v)/d + eps; the dividers bound float64's loop (float32 already
 * multiplies in double instead: fg_div_step, fg_optim_impl.h). With the reciprocal as a
 * pair, hi = RN(1/d) and lo = RN((1 - d*hi)/d),
 *     q = fma(x, hi, RN(x * lo))
 * is RN(x/d) for all x except for rare divisors (Brisebarre, Muller and Raina,
 * "Accelerating correctly rounded floating-point division when the divisor is known in
 * advance", IEEE TC 2004). fg_pair_is_exact decides, once per step, which kind d is.
 *
 * Proof. p = 53, u = 2^-p, z = 1/d, 2^-60 <= d <= 1 (Adam's d >= 2^-26.5), x normal and
 * such that x*lo does not underflow: Adam's x is sqrt(v), >= 2^-537 (so x*lo >= 2^-644),
 * or 0, inf or NaN, which fg_pair_quotient passes through as x / d = x. |hi - z| <= u z.
 * 1 - d*hi is exact (a multiple of ulp(d)*ulp(hi), fewer than 2^p of them), and
 * lo = (z - hi)(1 + e1), RN(x*lo) = x*lo (1 + e2), |e1|, |e2| <= u, so the FMA's exact
 * sum is S = x z + delta with |delta| <= (2 + u) u^2 x z. The FMA rounds S once, so q != RN(x z) only if a rounding
 * midpoint m lies between x z and S. Write x = X 2^a, d = D 2^b with 53-bit integer
 * significands. If X >= D the quotient's significand X/D is in [1, 2), the midpoints are
 * M 2^-53 with M odd in (2^53, 2^54), and |X/D - M 2^-53| <= (2 + u) u^2 X/D says
 * E = X 2^53 - M D has |E| <= 2; if X < D, the midpoints are M 2^-54 and E = X 2^54 - M D
 * has |E| <= 4. E = 0 is impossible (M odd, D < 2^53). So a misrounded x has a
 * significand X with M D = X 2^k - E, k = 53 or 54, i.e. M D = -E (mod 2^k): a linear
 * congruence with at most four odd solutions M in range for each E. fg_pair_candidates
 * lists the X they give (two on average); fg_pair_is_exact computes q for each and
 * compares it with x / d. Every candidate right means every x right.
 * tests/test_optim_pair_division.py checks the argument itself at small precisions, where
 * every x can be tried (every misrounded x is a candidate), ties these candidates to that
 * model at p = 53, and checks the quotients of real runs' divisors bit for bit. */
#ifndef FG_DIVISOR_H
#define FG_DIVISOR_H

#include <math.h>
#include <stdint.h>

#include "fg_platform.h"

/* hi = RN(1/d), lo = RN((1 - d*hi)/d); the FMA's remainder 1 - d*hi is exact. */
static inline void fg_reciprocal_pair(double d, double *hi, double *lo) {
    *hi = 1.0 / d;
    *lo = fma(-d, *hi, 1.0) / d;
}

/* (a * b + e) >> k, exact, for 0 < k < 64 and a result below 2^64; |e| small. Written
 * with 32-bit halves because MSVC has no __int128. */
static inline uint64_t fg_mul_add_shift(uint64_t a, uint64_t b, int64_t e, int k) {
    const uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    uint64_t lo = (mid << 32) | (p00 & 0xffffffffu);
    uint64_t hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    const uint64_t add = (uint64_t)e;                 /* two's complement: + e mod 2^128 */
    const uint64_t sum = lo + add;
    hi += (sum < lo) + (e < 0 ? UINT64_MAX : 0);
    lo = sum;
    return (hi << (64 - k)) | (lo >> k);
}

/* The inverse of an odd a modulo 2^64 (Newton: each step doubles the correct bits). */
static inline uint64_t fg_inverse_mod_2_64(uint64_t a) {
    uint64_t x = a;                                   /* right to 3 bits for odd a */
    for (int i = 0; i < 5; i++) x *= 2 - a * x;
    return x;
}

#define FG_PAIR_MAX_CANDIDATES 16   /* the congruences give at most 12 */

/* The significands X in [2^52, 2^53) of every x whose quotient by d the pair could
 * misround (the proof above); writes at most FG_PAIR_MAX_CANDIDATES of them to out and
 * returns how many (-1 if there were more, which the count above rules out). d's
 * significand D alone decides them. */
static inline int fg_pair_candidates(double d, uint64_t *out) {
    int exponent;
    const uint64_t D = (uint64_t)ldexp(frexp(d, &exponent), 53);
    const uint64_t two52 = (uint64_t)1 << 52, two53 = (uint64_t)1 << 53;
    int s = 0;
    while (!((D >> s) & 1)) s++;
    const uint64_t inverse = fg_inverse_mod_2_64(D >> s);
    int count = 0;
    for (int k = 53; k <= 54; k++) {
        const int64_t e_max = k == 53 ? 2 : 4;
        const uint64_t x_lo = k == 53 ? D : two52, x_hi = k == 53 ? two53 : D;
        for (int64_t e = -e_max; e <= e_max; e++) {
            if (e == 0 || (e & (((int64_t)1 << s) - 1))) continue;   /* 2^s must divide e */
            const int bits = k - s;
            const uint64_t mod = (uint64_t)1 << bits;
            const int64_t e_odd = e / ((int64_t)1 << s);
            const uint64_t r = ((uint64_t)(-e_odd) * inverse) & (mod - 1);
            /* the M = r (mod 2^bits) in [2^53, 2^54), odd */
            uint64_t M = r >= two53 ? r : r + ((two53 - r + mod - 1) >> bits) * mod;
            for (; M < 2 * two53; M += mod) {
                if (!(M & 1)) continue;
                const uint64_t X = fg_mul_add_shift(M, D, e, k);
                if (X < x_lo || X >= x_hi) continue;
                if (count == FG_PAIR_MAX_CANDIDATES) return -1;   /* not reached: <= 12 */
                out[count++] = X;
            }
        }
    }
    return count;
}

/* 1 when q = fma(x, hi, RN(x * lo)) is RN(x / d) for every x (as the proof above
 * qualifies x), d in [2^-60, 1] with hi, lo from fg_reciprocal_pair; 0 otherwise. */
static inline int fg_pair_is_exact(double d, double hi, double lo) {
    if (!(d >= 8.673617379884035e-19 && d <= 1.0)) return 0;    /* 2^-60 */
    uint64_t X[FG_PAIR_MAX_CANDIDATES];
    const int n = fg_pair_candidates(d, X);
    if (n < 0) return 0;
    for (int i = 0; i < n; i++) {
        const double x = ldexp((double)X[i], -52);    /* the significand, in [1, 2) */
        if (fma(x, hi, x * lo) != x / d) return 0;
    }
    return 1;
}

/* Whether float64 Adam's loops take the pair for the divisor d: the running kernels have
 * an FMA (fg_platform.h) and the pair rounds d's every quotient as the division does; hi
 * and lo are set either way. fg_prepare's choice, and the test helper's. */
static inline int fg_pair_chosen(double d, double *hi, double *lo) {
    fg_reciprocal_pair(d, hi, lo);
    return fg_kernels_have_fma() && fg_pair_is_exact(d, *hi, *lo);
}

/* x / d by the pair for x >= 0 (Adam's sqrt(v)): 0, inf and NaN pass through as x, which
 * is x / d for them (the pair would make inf * lo - inf a NaN); the rest by the FMA. */
static FG_INLINE double fg_pair_quotient(double x, double hi, double lo) {
    return (x > 0.0 && x < HUGE_VAL) ? fma(x, hi, x * lo) : x;
}

#endif /* FG_DIVISOR_H */
