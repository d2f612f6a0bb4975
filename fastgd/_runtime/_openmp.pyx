"""Build facts (OpenMP, SIMD level, flags) for fastgd.show_config()."""


def openmp_enabled():
    return bool(fg_openmp_enabled())


def omp_max_threads():
    """OpenMP's current default team size (OMP_NUM_THREADS, threadpoolctl limits)."""
    return fg_omp_max_threads()


def omp_num_procs():
    return fg_omp_num_procs()


def build_cflags():
    return fg_build_cflags().decode()


def simd_level():
    return fg_simd_level().decode()


def kernel_dispatch():
    """Extra instruction sets the optimizer kernels carry, chosen when the module loads."""
    return fg_clone_levels().decode()
