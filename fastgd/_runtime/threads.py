"""How many threads fastgd's kernels use, and the policy that keeps them from fighting BLAS.

Policy: an explicit ``n_threads=`` argument wins; otherwise ``fastgd.set_num_threads(n)``;
otherwise OpenMP's current default, which follows ``OMP_NUM_THREADS`` and
``threadpoolctl.threadpool_limits`` (fastgd's OpenMP runtime is the one threadpoolctl sees
as ``openmp``). The engine parallelises a batch itself (rows, then columns) and calls BLAS
from inside its threads, so while it runs every BLAS is limited to one thread with
threadpoolctl: one pool on the cores, never two.
"""
import operator

from fastgd._runtime import _openmp

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
    return max(1, _openmp.omp_max_threads())


def _check_count(n, name):
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer or None, got {n!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return n


_controller = None


def single_threaded_blas():
    """Context manager limiting every loaded BLAS to one thread.

    The engine calls BLAS from inside its own OpenMP threads; a multi-threaded BLAS there
    would start a second pool on the same cores (measured 20-70x slower on 2 cores)."""
    global _controller
    from threadpoolctl import ThreadpoolController
    if _controller is None:
        _controller = ThreadpoolController()   # scans loaded libraries once (~ms)
    return _controller.limit(limits=1, user_api="blas")
