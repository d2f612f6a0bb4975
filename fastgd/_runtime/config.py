"""fastgd.show_config(): how this build was made and what it will do at run time."""
import sys

from fastgd._runtime import _openmp

from fastgd._runtime import threads as _threads


def config():
    """The facts show_config prints, as a dict."""
    build = _build_record()
    info = {
        "fastgd": _version(),
        "python": sys.version.split()[0],
        "numpy": _module_version("numpy"),
        "scipy": _module_version("scipy"),
        "compiler": build["compiler"],
        "openmp": _openmp.openmp_enabled(),
        "openmp_build": build["openmp_flags"],
        "simd": _openmp.simd_level(),
        "kernel_dispatch": _openmp.kernel_dispatch(),
        "clone_probe": build["clone_probe"],
        "cflags": _openmp.build_cflags(),
        "ldflags": build["ldflags"],
        "cpus": _openmp.omp_num_procs(),
        "default_threads": _threads.get_num_threads(),
        "thread_policy": ("kernels: n_threads= > fastgd.set_num_threads > OMP_NUM_THREADS > "
                          "automatic (min of OpenMP's, CPU affinity, cgroup quota, CPUs other "
                          "processes leave free); "
                          "the engine splits batches over its own threads and runs "
                          "single-threaded BLAS inside them (BLAS limited to 1 while it runs)"),
        "blas": _blas_info(),
        "engine_blas": _engine_blas(),
        "float64_adam_quotient": _adam_quotient(),
    }
    return info


def show_config(file=None):
    """Print the build and thread configuration."""
    info = config()
    width = max(len(k) for k in info)
    lines = [f"{k:<{width}} : {v}" for k, v in info.items()]
    print("\n".join(lines), file=file or sys.stdout)


def _build_record():
    """What setup.py decided (compiler, OpenMP flags, clone probe); the flags the modules
    were really compiled with come from the modules themselves (``cflags``)."""
    try:
        from fastgd._runtime._build_info import BUILD
    except ImportError:   # built by something other than setup.py's build_ext
        return dict.fromkeys(("compiler", "openmp_flags", "clone_probe", "ldflags"), "unknown")
    return BUILD


def _version():
    from fastgd import __version__
    return __version__


def _module_version(name):
    try:
        return __import__(name).__version__
    except ImportError:
        return "not installed"


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    import scipy.linalg  # noqa: F401  (load SciPy's BLAS so it is listed)
    pools = [f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads, "
             f"{p.get('prefix')})" for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(pools) or "none found"


def _adam_quotient():
    """How float64 Adam divides sqrt(v) by its step's divisor (csrc/fg_divisor.h)."""
    from fastgd.optim import _optim
    if _optim.kernels_have_fma():
        return ("reciprocal pair (one FMA) on the steps whose divisor it rounds exactly, "
                "else division")
    return "division (the kernels that run here have no FMA)"


def _engine_blas():
    """The BLAS the engine's products call (fastgd/_runtime/engine_blas.py)."""
    from fastgd.model import _engine
    return _engine.blas()
