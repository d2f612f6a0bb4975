"""Which OpenBLAS the engine calls: scipy-openblas32's when it is installed, else SciPy's.

Design: SciPy bundles its own OpenBLAS (0.3.30 in SciPy 1.17) and reaches it through
``scipy.linalg.cython_blas``; scipy-openblas32 ships a newer one (0.3.34) that multiplies
the big models' forward products 1.24-1.32x as fast (docs/DESIGN.md, "The engine's
BLAS"). Nothing is linked at build time: the library is opened here with ctypes (its own
symbols, ``scipy_dgemm_`` and the rest, kept local to it) and the engine takes the four
functions' addresses once at import. The engine calls BLAS from inside its own threads,
and no one else in the process calls this copy, so it is set to one thread for good.
``FASTGD_BLAS=scipy`` keeps SciPy's (to compare the two, or to rule one out).
"""
import ctypes
import os

FUNCTIONS = ("dgemm", "sgemm", "dgemv", "sgemv")

_library = None     # the opened library, held for the process (its functions are in use)


def load():
    """``(description, {name: address})`` of scipy-openblas32's BLAS functions, or ``None``
    when it is not installed, cannot be opened, or ``FASTGD_BLAS=scipy`` asks for SciPy's.
    Raises ValueError for another value of FASTGD_BLAS."""
    global _library
    choice = os.environ.get("FASTGD_BLAS", "").strip().lower()
    if choice not in ("", "scipy", "scipy-openblas32"):
        raise ValueError(f"FASTGD_BLAS: expected 'scipy' or 'scipy-openblas32', got "
                         f"{os.environ['FASTGD_BLAS']!r}")
    if choice == "scipy":
        return None
    try:
        import scipy_openblas32
        path = os.path.join(scipy_openblas32.get_lib_dir(),
                            scipy_openblas32.get_library(fullname=True))
        lib = ctypes.CDLL(path)
        lib.scipy_openblas_set_num_threads(1)
        lib.scipy_openblas_get_config.restype = ctypes.c_char_p
        config = lib.scipy_openblas_get_config().decode("ascii", "replace")
        addresses = {name: ctypes.cast(getattr(lib, f"scipy_{name}_"), ctypes.c_void_p).value
                     for name in FUNCTIONS}
    except (ImportError, OSError, AttributeError, IndexError) as e:
        if choice:      # asked for by name: say so rather than fall back silently
            raise ImportError(f"FASTGD_BLAS=scipy-openblas32, but it cannot be used: "
                              f"{e}") from e
        return None
    _library = lib
    return f"scipy-openblas32 {scipy_openblas32.__version__} ({config})", addresses
