"""Build fastgd's Cython/C extensions.

Design: OpenMP is found by compiling a probe program, not by guessing from the platform,
so Apple clang (no -fopenmp) and odd toolchains still build, serially, with one warning.
Flags are portable by default; FASTGD_NATIVE=1 adds -march=native for local builds only.
-ffp-contract=off keeps a*b+c as two roundings so the C kernels match NumPy bit for bit;
-fno-math-errno lets sqrt vectorise and -fno-trapping-math lets selects such as
`a > 0 ? d : 0` vectorise (GCC would not speculate a possibly trapping operation); neither
changes a computed value, only what the compiler may assume about errno and FP traps.
"""
import glob
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
BASE_FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-std=c99"]

_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


def _compiler() -> list:
    """The C compiler command as a list (CC may be e.g. "ccache gcc")."""
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


def _openmp_flags() -> list:
    """Return ["-fopenmp"] when the C compiler builds and runs an OpenMP program."""
    if os.environ.get("FASTGD_NO_OPENMP"):
        return []
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "probe.c")
        exe = os.path.join(tmp, "probe")
        with open(src, "w") as f:
            f.write(_PROBE)
        cmd = _compiler() + ["-fopenmp", src, "-o", exe]
        ok = subprocess.run(cmd, capture_output=True).returncode == 0
        ok = ok and subprocess.run([exe], capture_output=True).returncode == 0
        return ["-fopenmp"] if ok else []
    except OSError:
        return []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


OPENMP = _openmp_flags()
if not OPENMP:
    warnings.warn(
        "fastgd: the C compiler does not accept -fopenmp; building WITHOUT OpenMP "
        "(kernels run on one thread). Install an OpenMP-capable compiler (gcc, or "
        "clang with libomp) for multi-threaded kernels.",
        stacklevel=1,
    )

CFLAGS = BASE_FLAGS + OPENMP
if os.environ.get("FASTGD_NATIVE"):
    CFLAGS.append("-march=native")

MACROS = [
    ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
    # Recorded so fastgd.show_config() can report how this build was made.
    ("FG_BUILD_CFLAGS", '"' + " ".join(CFLAGS) + '"'),
]


def ext(name: str) -> Extension:
    """The extension module ``name`` (dotted, under fastgd) built from its .pyx."""
    return Extension(
        f"fastgd.{name}",
        [f"fastgd/{name.replace('.', '/')}.pyx"],
        include_dirs=[np.get_include(), os.path.join(HERE, "csrc")],
        define_macros=MACROS,
        extra_compile_args=CFLAGS,
        extra_link_args=OPENMP,
        # headers hold the kernels: a change to one must rebuild every module
        depends=sorted(glob.glob(os.path.join("csrc", "*.h"))),
    )


EXTENSIONS = [ext("_runtime._openmp"), ext("optim._optim"), ext("_ewa"), ext("model._engine")]

setup(
    ext_modules=cythonize(
        EXTENSIONS,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
