/* fg_blas.h: the BLAS functions the engine calls, as pointers set once when the engine is
 * imported (fastgd/model/_engine.pyx, _bind_blas): scipy-openblas32's OpenBLAS when it is
 * installed, else SciPy's (scipy.linalg.cython_blas). Nothing is linked at build time.
 *
 * Why a second OpenBLAS: SciPy bundles an older one (0.3.30 in SciPy 1.17), and
 * scipy-openblas32 0.3.34 multiplies the big models' forward products 1.24-1.32x and a
 * 10-wide float32 weight gradient at batch 1024 1.4-1.56x as fast, the rest the same
 * (docs/DESIGN.md, "The engine's BLAS"). The signatures are Fortran BLAS's, as
 * cython_blas declares them. Only the engine module includes this header, so the
 * pointers have one copy. */
#ifndef FG_BLAS_H
#define FG_BLAS_H

typedef void (*fg_dgemm_t)(char *, char *, int *, int *, int *, double *, double *, int *,
                           double *, int *, double *, double *, int *);
typedef void (*fg_sgemm_t)(char *, char *, int *, int *, int *, float *, float *, int *,
                           float *, int *, float *, float *, int *);
typedef void (*fg_dgemv_t)(char *, int *, int *, double *, double *, int *, double *, int *,
                           double *, double *, int *);
typedef void (*fg_sgemv_t)(char *, int *, int *, float *, float *, int *, float *, int *,
                           float *, float *, int *);

static fg_dgemm_t fg_blas_dgemm = 0;
static fg_sgemm_t fg_blas_sgemm = 0;
static fg_dgemv_t fg_blas_dgemv = 0;
static fg_sgemv_t fg_blas_sgemv = 0;

#endif
