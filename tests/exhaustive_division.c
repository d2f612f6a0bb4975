/* The float32 quotient by Adam's and NAdam's per-step divisor (fg_div_step_f32 in
 * csrc/fg_optim_impl.h) against the true division, bit for bit, over every significand:
 * for each step t until both divisors round to 1, all 2^23 x in [1, 2) (a quotient's
 * rounding depends only on the significands while the result is normal); for the first
 * `edge_steps` divisors also every subnormal x and every x of the top binade (quotients
 * that overflow to inf). Exit status 1 on the first mismatch.
 *
 * Build and run (tests/test_optim_division.py does this, with a few steps by default):
 *   cc -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math -std=c99 -Icsrc \
 *      tests/exhaustive_division.c -o exhaustive_division -lm
 *   ./exhaustive_division BETA2 MAX_STEPS EDGE_STEPS [FIRST_STEP]
 * MAX_STEPS 0: until both divisors are 1; FIRST_STEP splits a sweep over processes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_optim.h"

static float from_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t to_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

#define N_SIGNIFICANDS (1u << 23)

/* same clones as the kernels, so the vector code of this machine is what is checked */
FG_CLONES static void true_quotients(const float *restrict x, float d, float *restrict out) {
    for (uint32_t k = 0; k < N_SIGNIFICANDS; k++) out[k] = x[k] / d;
}

static long check_binade(const float *x, float d, float *fast, float *exact) {
    fg_div_step_array_f32(N_SIGNIFICANDS, x, d, 0, fast);
    true_quotients(x, d, exact);
    if (memcmp(fast, exact, sizeof(float) * N_SIGNIFICANDS) == 0) return 0;
    long bad = 0;
    for (uint32_t k = 0; k < N_SIGNIFICANDS; k++)
        if (to_bits(exact[k]) != to_bits(fast[k])) {
            if (!bad) fprintf(stderr, "x=%a d=%a: %a instead of %a\n", x[k], d, fast[k], exact[k]);
            bad++;
        }
    return bad;
}

/* binades[0]: [1, 2); [1]: 0 and every subnormal; [2]: [2^127, 2^128) */
static long check(float d, int edges, float *const binades[3], float *fast, float *exact) {
    long bad = check_binade(binades[0], d, fast, exact);
    if (edges) bad += check_binade(binades[1], d, fast, exact) + check_binade(binades[2], d, fast, exact);
    return bad;
}

int main(int argc, char **argv) {
    const double beta2 = argc > 1 ? atof(argv[1]) : 0.999;
    const long max_steps = argc > 2 ? atol(argv[2]) : 0;
    const long edge_steps = argc > 3 ? atol(argv[3]) : 16;
    const long first_step = argc > 4 ? atol(argv[4]) : 1;
    static const uint32_t exponent_bits[3] = {127u << 23, 0u, 254u << 23};
    float *binades[3], *fast = malloc(sizeof(float) * N_SIGNIFICANDS);
    float *exact = malloc(sizeof(float) * N_SIGNIFICANDS);
    if (!fast || !exact) return 2;
    for (int b = 0; b < 3; b++) {
        if (!(binades[b] = malloc(sizeof(float) * N_SIGNIFICANDS))) return 2;
        for (uint32_t k = 0; k < N_SIGNIFICANDS; k++) binades[b][k] = from_bits(exponent_bits[b] | k);
    }
    long divisors = 0, bad = 0, t;
    float last_adam = 0, last_nadam = 0;
    for (t = first_step; max_steps == 0 || t <= max_steps; t++) {
        const double bc2 = 1.0 - pow(beta2, (double)t);   /* as fg_adam/nadam_prepare */
        const float adam = (float)sqrt(bc2), nadam = (float)bc2;
        if (adam == 1.0f && nadam == 1.0f) break;
        const int edges = t <= edge_steps;
        if (adam != last_adam) { bad += check(adam, edges, binades, fast, exact); divisors++; }
        if (nadam != last_nadam && nadam != adam) { bad += check(nadam, edges, binades, fast, exact); divisors++; }
        last_adam = adam;
        last_nadam = nadam;
        if (bad) break;
    }
    printf("beta2=%.17g steps=%ld-%ld divisors=%ld mismatches=%ld\n", beta2, first_step, t - 1,
           divisors, bad);
    for (int b = 0; b < 3; b++) free(binades[b]);
    free(fast);
    free(exact);
    return bad != 0;
}
