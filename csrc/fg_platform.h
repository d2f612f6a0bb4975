/* fg_platform.h: what this build can do, hidden behind plain functions.
 *
 * Why: Cython's own `openmp` module includes <omp.h>, which does not exist on compilers
 * without OpenMP (Apple clang). Everything in fastgd asks these helpers instead, so a
 * serial build compiles from the same sources and reports itself honestly.
 */
#ifndef FG_PLATFORM_H
#define FG_PLATFORM_H

/* MSVC's C mode has no C99 `restrict` keyword; its spelling is __restrict (same meaning). */
#if defined(_MSC_VER) && !defined(__cplusplus) && !defined(restrict)
#define restrict __restrict
#endif

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

/* Kernels are built for the portable baseline and, where the toolchain can dispatch at load
 * time (GCC ifunc on x86-64 Linux), also for AVX2 and AVX-512F: the wheel stays portable and
 * a modern CPU runs the wide loops. Every clone computes the same IEEE results (no FMA
 * contraction: -ffp-contract=off; only the vector width changes, and the one explicit
 * fma() of fg_divisor.h is proven to round as the division it replaces). The AVX2 clone
 * is x86-64-v3 (AVX2 with FMA) where the compiler knows that level (setup.py's probe sets
 * FG_CLONES_V3; GCC 12 does), so that fma() is an instruction there too; older GCC gets
 * plain "avx2". FG_NO_CLONES=1 at build disables clones. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(FG_NO_CLONES)
#if defined(FG_CLONES_V3)
#define FG_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#define FG_CLONE_LEVELS "SSE2 + runtime x86-64-v3 (AVX2, FMA)/AVX512F clones"
#else
#define FG_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define FG_CLONE_LEVELS "SSE2 + runtime AVX2/AVX512F clones"
#endif
#define FG_HAS_CLONES 1
#else
#define FG_CLONES
#define FG_CLONE_LEVELS "none"
#define FG_HAS_CLONES 0
#endif

/* Whether the kernel code that runs on this CPU has a hardware fused multiply-add, so an
 * fma() in a loop is one vector instruction and not a libm call per element: the whole
 * build where the compiler was told so (__FP_FAST_FMA: -mfma, -march=native, aarch64),
 * else the clone the ifunc picks -- the avx512f one exactly when the CPU has AVX-512F, the
 * x86-64-v3 one (FMA) when it has that level; a plain "avx2" clone and SSE2 have none. */
static inline int fg_kernels_have_fma(void) {
#if defined(__FP_FAST_FMA)
    return 1;
#elif FG_HAS_CLONES && defined(FG_CLONES_V3)
    return __builtin_cpu_supports("avx512f") || __builtin_cpu_supports("x86-64-v3");
#elif FG_HAS_CLONES
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

#if defined(__GNUC__)
#define FG_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define FG_INLINE __forceinline
#else
#define FG_INLINE inline
#endif

static inline const char *fg_clone_levels(void) { return FG_CLONE_LEVELS; }

/* A hint to fetch the cache line at p (the gather reads shuffled rows ahead); nothing where
 * the compiler has no such builtin. */
#if defined(__GNUC__) || defined(__clang__)
#define FG_PREFETCH(p) __builtin_prefetch(p)
#else
#define FG_PREFETCH(p) ((void)(p))
#endif

/* A monotonic clock in seconds, cheap enough to read once per batch (a vDSO call, ~20 ns):
 * the epoch loop uses it to look for Ctrl-C at a bounded interval, not per batch. */
#if defined(_WIN32)
#include <windows.h>
static inline double fg_now(void) {
    LARGE_INTEGER t, f;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);
    return (double)t.QuadPart / (double)f.QuadPart;
}
#else
#include <time.h>
static inline double fg_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
#endif

#endif /* FG_PLATFORM_H */
