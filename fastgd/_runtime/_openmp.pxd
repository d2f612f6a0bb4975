# Shared OpenMP shim: every compiled fastgd module asks these, never omp.h directly.
cdef extern from "fg_platform.h" nogil:
    int fg_openmp_enabled()
    int fg_omp_max_threads()
    int fg_omp_num_procs()
    const char *fg_build_cflags()
    const char *fg_simd_level()
    const char *fg_clone_levels()
