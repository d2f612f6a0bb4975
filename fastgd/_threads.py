"""How many threads fastgd's kernels use, and the policy that keeps them from fighting BLAS.

Policy: an explicit ``n_threads=`` argument wins; otherwise ``fastgd.set_num_threads(n)``;
otherwise OpenMP's current default, which follows ``OMP_NUM_THREADS`` and
``threadpoolctl.threadpool_limits`` (fastgd's OpenMP runtime is the one threadpoolctl sees
as ``openmp``). During ``fit`` the BLAS pool that the engine calls (SciPy's OpenBLAS) is
limited to the same count with threadpoolctl, and BLAS is only ever called from serial
code, so the two pools never run at once and never oversubscribe the cores.
"""
import operator

from fastgd import _openmp_helpers

_override = None


def set_num_threads(n):
    """Use ``n`` threads in fastgd's kernels from now on; ``None`` restores the default."""
    global _override
    if n is None:
        _override = None
        return
    _override = _check_count(n, "n")


def get_num_threads():
    """The thread count a kernel started now would use."""
    return resolve(None)


def resolve(n_threads):
    """Turn a user's ``n_threads`` argument (None or a positive int) into a count."""
    if n_threads is not None:
        return _check_count(n_threads, "n_threads")
    if _override is not None:
        return _override
    return max(1, _openmp_helpers.omp_max_threads())


def _check_count(n, name):
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer or None, got {n!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return n
