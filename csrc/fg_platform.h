/* fg_platform.h: what this build can do, hidden behind plain functions.
 *
 * Why: Cython's own `openmp` module includes <omp.h>, which does not exist on compilers
 * without OpenMP (Apple clang). Everything in fastgd asks these helpers instead, so a
 * serial build compiles from the same sources and reports itself honestly.
 */
#ifndef FG_PLATFORM_H
#define FG_PLATFORM_H

#ifdef _OPENMP
#include <omp.h>
static inline int fg_openmp_enabled(void) { return 1; }
static inline int fg_omp_max_threads(void) { return omp_get_max_threads(); }
static inline int fg_omp_num_procs(void) { return omp_get_num_procs(); }
#else
static inline int fg_openmp_enabled(void) { return 0; }
static inline int fg_omp_max_threads(void) { return 1; }
static inline int fg_omp_num_procs(void) { return 1; }
#endif

#ifndef FG_BUILD_CFLAGS
#define FG_BUILD_CFLAGS "unknown"
#endif

static inline const char *fg_build_cflags(void) { return FG_BUILD_CFLAGS; }

/* The widest vector instruction set the compiler was allowed to use for our kernels. */
static inline const char *fg_simd_level(void) {
#if defined(__AVX512F__)
    return "AVX512F";
#elif defined(__AVX2__)
    return "AVX2";
#elif defined(__AVX__)
    return "AVX";
#elif defined(__SSE4_2__)
    return "SSE4.2";
#elif defined(__SSE2__)
    return "SSE2";
#elif defined(__ARM_NEON) || defined(__aarch64__)
    return "NEON";
#else
    return "scalar";
#endif
}

#endif /* FG_PLATFORM_H */
