"""Build fastgd's Cython/C extensions.

Design: the flags are chosen in build_ext, once the real compiler object exists (MSVC on
Windows, the CC of sysconfig elsewhere), and every capability is found by compiling a
probe with that compiler, not by guessing from the platform:

* GCC / Clang: ``-O3 -ffp-contract=off -fno-math-errno -fno-trapping-math -std=c99``.
  -ffp-contract=off keeps a*b+c as two roundings so the C kernels match NumPy bit for bit;
  -fno-math-errno lets sqrt vectorise and -fno-trapping-math lets selects such as
  ``a > 0 ? d : 0`` vectorise (GCC would not speculate a possibly trapping operation);
  neither changes a computed value. ``-g0`` drops the debug info Python's own CFLAGS ask
  for (it doubled the modules and carried build paths); FASTGD_DEBUG=1 keeps it.
* MSVC: ``/O2 /fp:precise`` (no contraction into FMA, no reassociation) and ``/openmp``
  (OpenMP 2.0 is all Cython's prange needs; its runtime, vcomp140.dll, is part of the
  Visual C++ redistributable, where /openmp:llvm's libomp140 is not). ``restrict`` is
  mapped to ``__restrict`` in csrc/fg_platform.h.
* OpenMP: ``-fopenmp``; with Apple clang, which has no OpenMP of its own,
  ``-Xpreprocessor -fopenmp -lomp`` against libomp (LIBOMP_PREFIX, else Homebrew's). If no
  candidate builds and runs the probe, fastgd builds serially and says so, here and in
  ``fastgd.show_config()``.
* Kernel clones (AVX2/AVX-512F copies chosen at load, csrc/fg_platform.h) need ifunc:
  glibc has it, musl does not, so a probe decides and FG_NO_CLONES turns them off; a
  second probe makes the AVX2 clone x86-64-v3 (with FMA) where GCC knows that level.

FASTGD_NATIVE=1 adds -march=native for local builds only; FASTGD_NO_OPENMP=1 builds
serially. What was decided is written to fastgd/_runtime/_build_info.py (generated, not in
git) for show_config().
"""
import glob
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
GCC_FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-std=c99"]
MSVC_FLAGS = ["/O2", "/fp:precise"]

_OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""

_CLONES_PROBE = r"""
__attribute__((target_clones("avx512f", "avx2", "default")))
int fg_probe(int x) { return x + 1; }
int main(void) { return fg_probe(-1); }
"""

# The AVX2 clone as x86-64-v3 (AVX2 with FMA, csrc/fg_platform.h): GCC 12 knows the level
# in target_clones and __builtin_cpu_supports; older GCC fails this probe and keeps "avx2".
_CLONES_V3_PROBE = r"""
#include <math.h>
__attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
double fg_probe(double x) { return fma(x, x, -1.0); }
int main(void) { return (int)fg_probe(1.0) + (__builtin_cpu_supports("x86-64-v3") < 0); }
"""


def _probe(compiler, source, cflags, ldflags):
    """True when ``source`` compiles, links and runs with these flags."""
    tmp = tempfile.mkdtemp(prefix="fastgd-probe-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(source)
        objects = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
        exe = os.path.join(tmp, "probe")
        compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=ldflags)
        if sys.platform == "win32":
            exe += ".exe"
        return subprocess.run([exe], capture_output=True).returncode == 0
    except Exception:   # CompileError, LinkError, OSError: this candidate does not work
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _compiler_name(compiler):
    """The compiler's own description of itself (first line of --version), or its type."""
    if compiler.compiler_type == "msvc":
        return "MSVC " + os.path.basename(getattr(compiler, "cc", "cl.exe"))
    command = [c for c in compiler.compiler_so if c != "ccache"][:1]
    try:
        out = subprocess.run(command + ["--version"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    return out.splitlines()[0].strip() if out.strip() else " ".join(command)


def _libomp_prefixes():
    """Where Apple clang may find libomp: LIBOMP_PREFIX, then Homebrew's two prefixes."""
    prefixes = [os.environ.get("LIBOMP_PREFIX", "")]
    try:
        brew = subprocess.run(["brew", "--prefix", "libomp"], capture_output=True, text=True)
        prefixes.append(brew.stdout.strip())
    except OSError:
        pass
    prefixes += ["/opt/homebrew/opt/libomp", "/usr/local/opt/libomp"]
    return [p for p in dict.fromkeys(prefixes) if p and os.path.isdir(p)]


def _openmp_candidates(compiler):
    """(compile flags, link flags) to try, best first."""
    if compiler.compiler_type == "msvc":
        return [(["/openmp"], [])]
    candidates = [(["-fopenmp"], ["-fopenmp"])]
    if sys.platform == "darwin":
        candidates += [(["-Xpreprocessor", "-fopenmp", f"-I{p}/include"], [f"-L{p}/lib", "-lomp"])
                       for p in _libomp_prefixes()]
    return candidates


class BuildPlan:
    """The flags for this compiler and what the probes found, for setup and show_config."""

    def __init__(self, compiler):
        msvc = compiler.compiler_type == "msvc"
        self.compiler = _compiler_name(compiler)
        self.cflags = list(MSVC_FLAGS if msvc else GCC_FLAGS)
        self.ldflags = []
        self.macros = []
        if not msvc and not os.environ.get("FASTGD_DEBUG"):
            self.cflags.append("-g0")
        if os.environ.get("FASTGD_NATIVE") and not msvc:
            self.cflags.append("-march=native")
        self.openmp, self.openmp_note = self._find_openmp(compiler)
        self.clones_note = self._check_clones(compiler, msvc or "clang" in self.compiler)

    def _find_openmp(self, compiler):
        if os.environ.get("FASTGD_NO_OPENMP"):
            return False, "off (FASTGD_NO_OPENMP set at build)"
        for cflags, ldflags in _openmp_candidates(compiler):
            if _probe(compiler, _OPENMP_PROBE, self.cflags + cflags, ldflags):
                self.cflags += cflags
                self.ldflags += ldflags
                return True, " ".join(cflags)
        warnings.warn(
            "fastgd: no OpenMP found for this C compiler; building WITHOUT OpenMP (kernels "
            "run on one thread). gcc has it; with Apple clang install libomp "
            "(`brew install libomp`, or set LIBOMP_PREFIX).",
            stacklevel=1,
        )
        return False, "off: the compiler built no OpenMP probe (serial fallback)"

    def _check_clones(self, compiler, not_gcc):
        if not_gcc or platform.machine().lower() not in ("x86_64", "amd64"):
            return "not applicable (fg_platform.h clones with GCC on x86-64 Linux only)"
        if os.environ.get("FG_NO_CLONES") or not _probe(compiler, _CLONES_PROBE, self.cflags, []):
            self.macros.append(("FG_NO_CLONES", "1"))
            return "off: target_clones/ifunc unavailable (e.g. musl) or FG_NO_CLONES set"
        if _probe(compiler, _CLONES_V3_PROBE, self.cflags, ["-lm"]):
            self.macros.append(("FG_CLONES_V3", "1"))
            return "ifunc probe ok (AVX2 clone as x86-64-v3, with FMA)"
        return "ifunc probe ok (AVX2 clone without FMA: no x86-64-v3 in this compiler)"

    def record(self):
        return {"compiler": self.compiler, "openmp_flags": self.openmp_note,
                "clone_probe": self.clones_note, "ldflags": " ".join(self.ldflags)}


class BuildExt(build_ext):
    """build_ext that sets each extension's flags from a BuildPlan of the real compiler."""

    def run(self):
        # setuptools compiles `--inplace` builds into build_lib and copies the modules back
        # afterwards (inplace reads 0 inside), so note here where the package is imported
        # from: the source tree for --inplace and editable installs (pip install -e)
        self._in_source = bool(self.inplace) or getattr(self, "editable_mode", False)
        super().run()

    def build_extensions(self):
        plan = BuildPlan(self.compiler)
        # Recorded so fastgd.show_config() can report how this build was made.
        cflags_macro = ("FG_BUILD_CFLAGS", '"' + " ".join(plan.cflags) + '"')
        for extension in self.extensions:
            extension.extra_compile_args = plan.cflags
            extension.extra_link_args = plan.ldflags
            extension.define_macros = extension.define_macros + plan.macros + [cflags_macro]
        self._write_build_info(plan.record())
        super().build_extensions()

    def _write_build_info(self, record):
        root = HERE if getattr(self, "_in_source", False) else self.build_lib
        path = os.path.join(root, "fastgd", "_runtime", "_build_info.py")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write('"""How this build was made: written by setup.py, not kept in git."""\n')
            f.write(f"BUILD = {record!r}\n")


def ext(name: str) -> Extension:
    """The extension module ``name`` (dotted, under fastgd) built from its .pyx."""
    return Extension(
        f"fastgd.{name}",
        [f"fastgd/{name.replace('.', '/')}.pyx"],
        include_dirs=[np.get_include(), os.path.join(HERE, "csrc")],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # headers hold the kernels: a change to one must rebuild every module
        depends=sorted(glob.glob(os.path.join("csrc", "*.h"))),
    )


EXTENSIONS = [ext("_runtime._openmp"), ext("optim._optim"), ext("_ewa"), ext("model._engine")]

setup(
    cmdclass={"build_ext": BuildExt},
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
