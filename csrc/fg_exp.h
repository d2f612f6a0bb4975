/* fg_exp.h: e^x for x <= 0 in float64, in a form the compiler vectorises, with the same
 * bits on every machine and every kernel clone.
 *
 * Why not libm: the softmax loss calls exp once per logit (2,000 calls a batch of 200 rows
 * of the digits model, ~6% of its epoch as scalar libm calls); a loop calling libm's exp
 * cannot be vectorised without -ffast-math and glibc's libmvec, which manylinux2014 wheels
 * cannot assume. Every caller needs x <= 0 only (the softmax shifted by its row maximum,
 * the sigmoid's e^-|z|), so there is no overflow to handle. Measured on the softmax loss
 * of 2,000 rows of 10 classes, one thread, alternating processes: 376-454 -> 307-342 us.
 * float32 keeps libm's expf (its bits unchanged): through this double version it measured
 * 301-357 against 236-371 us, no gain that the noise lets one see.
 *
 * Method: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2/2 (Cody-Waite: ln2_hi has
 * 11 trailing zero bits, so n * ln2_hi is exact for |n| <= 1076); e^r by its Taylor series
 * to r^13/13! (truncation < 5e-18 relative on |r| <= 0.347), evaluated by Estrin's scheme
 * (a softmax row of 10 logits is two vectors: Horner's 12-deep chain of dependent
 * products bounds it by latency); then times 2^n as two normal powers of two (n / 2 and
 * n - n / 2, each >= -538), so results in the subnormal range are rounded once. Error:
 * measured max 1.004 ulp over 2e7 random points of [-745.2, 0], correctly rounded for
 * ~92% (tests/test_exp_kernel.py holds it to 1.05). x < -745.5 is clamped there: e^x
 * rounds to 0 either way. NaN stays NaN (every comparison with it is false, and the
 * product carries it).
 *
 * No FMA: the build has -ffp-contract=off, so the round-to-integer trick (adding 1.5 * 2^52)
 * and every product round as written, in every clone.
 */
#ifndef FG_EXP_H
#define FG_EXP_H
#include <stdint.h>
#include <string.h>

static inline double fg_pow2_bits(int64_t n) {
    /* 2^n for -1022 <= n <= 1023 */
    const uint64_t bits = (uint64_t)(n + 1023) << 52;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static inline double fg_exp_nonpos(double x) {
    const double log2e = 0x1.71547652b82fep0;
    const double ln2_hi = 0x1.62e42fefa3800p-1;
    const double ln2_lo = 0x1.ef35793c7673p-45;
    const double shift = 0x1.8p52;
    const double xc = x < -745.5 ? -745.5 : x;
    const double t = xc * log2e + shift;
    const double n = t - shift;
    const double r = (xc - n * ln2_hi) - n * ln2_lo;
    /* e^r - 1 - r = r^2 q(r), q(r) = sum_k r^k / (k+2)! for k = 0..11, by Estrin's scheme:
     * pairs, then pairs of pairs, so the dependency chain is 5 products deep instead of
     * Horner's 12 (a softmax row of 10 logits is only two vectors: latency, not
     * throughput, bounds it) */
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const double c01 = 0.5 + r * 0x1.5555555555555p-3;                    /* 1/2!, 1/3!  */
    const double c23 = 0x1.5555555555555p-5 + r * 0x1.1111111111111p-7;   /* 1/4!, 1/5!  */
    const double c45 = 0x1.6c16c16c16c17p-10 + r * 0x1.a01a01a01a01ap-13; /* 1/6!, 1/7!  */
    const double c67 = 0x1.a01a01a01a01ap-16 + r * 0x1.71de3a556c734p-19; /* 1/8!, 1/9!  */
    const double c89 = 0x1.27e4fb7789f5cp-22 + r * 0x1.ae64567f544e4p-26; /* 1/10!, 1/11! */
    const double cab = 0x1.1eed8eff8d898p-29 + r * 0x1.6124613a86d09p-33; /* 1/12!, 1/13! */
    const double q = (c01 + r2 * c23) + r4 * (c45 + r2 * c67) + r8 * (c89 + r2 * cab);
    const double p = 1.0 + (r + r2 * q);
    /* n from t's bits: t = 1.5 * 2^52 + n lies in one binade of unit spacing */
    uint64_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&sb, &shift, sizeof sb);
    const int64_t ni = (int64_t)(tb - sb);
    const int64_t n1 = ni / 2;
    return p * fg_pow2_bits(n1) * fg_pow2_bits(ni - n1);
}

#endif
