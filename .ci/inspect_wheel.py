"""Check what a built fastgd wheel and sdist hold (run by .ci/wheel-check).

    python .ci/inspect_wheel.py WHEEL [--sdist SDIST] [--build-root DIR ...]

The wheel: every file is one we mean to ship (a list of patterns, so a stray file fails);
LICENSE and the digits data's CC BY 4.0 notice are in; a repaired Linux wheel carries its
libgomp; the extension modules have no debug sections and no file holds a build path.
The sdist: what its own `make test` needs (tests/, benchmarks/, Makefile, the C headers),
the license and notice, and nothing generated (compiled modules, Cython's C, build info).
Prints the sizes it saw. Exit status 1 with one line per problem.
"""
import argparse
import os
import io
import re
import sys
import tarfile
import zipfile

WHEEL_FILES = [
    r"fastgd/(.+/)?[A-Za-z_][A-Za-z0-9_]*\.py",
    r"fastgd/(.+/)?_[a-z_]+\.pxd",
    r"fastgd/(.+/)?_[a-z_]+\.cpython-[^/]+\.so",
    r"fastgd/(.+/)?_[a-z_]+\.cp[0-9]+-[^/]+\.pyd",
    r"fastgd/datasets/data/(digits\.csv\.gz|README\.md)",
    r"fastgd\.libs/lib(gomp|omp)[-.][^/]+",                     # vendored by auditwheel
    r"fastgd-[^/]+\.dist-info/(METADATA|WHEEL|RECORD|entry_points\.txt|top_level\.txt)",
    r"fastgd-[^/]+\.dist-info/licenses/(LICENSE|fastgd/datasets/data/README\.md)",
    r"fastgd-[^/]+\.dist-info/sboms/auditwheel\.cdx\.json",       # what auditwheel vendored
]
WHEEL_REQUIRED = [
    r"fastgd-[^/]+\.dist-info/licenses/LICENSE",
    r"fastgd/datasets/data/README\.md",
    r"fastgd/datasets/data/digits\.csv\.gz",
    r"fastgd/testing\.py",
    r"fastgd/_runtime/_build_info\.py",
] + [rf"fastgd/{m}\.(cpython-[^/]+\.so|cp[0-9]+-[^/]+\.pyd)"
     for m in ("_runtime/_openmp", "optim/_optim", "_ewa", "model/_engine")]
SDIST_REQUIRED = ["LICENSE", "README.md", "Makefile", "setup.py", "pyproject.toml",
                  "MANIFEST.in", "csrc/fg_platform.h", "fastgd/datasets/data/README.md",
                  "fastgd/datasets/data/digits.csv.gz", "tests/test_config.py",
                  "benchmarks/conftest.py", "benchmarks/_optim_cases.py"]
SDIST_FORBIDDEN = [r".*\.(so|pyd|o|pyc)", r"fastgd/(.+/)?_[a-z_]+\.c",
                   r"fastgd/_runtime/_build_info\.py", r"(.+/)?__pycache__/.*",
                   r"\.venv/.*", r"build/.*", r"demo_out/.*", r"\.benchmarks/.*"]
BUILD_PATH_MARKERS = [b"pip-build-env", b"build/temp.", b"/.venv/"]


def _matches(patterns, name):
    return any(re.fullmatch(p, name) for p in patterns)


def check_wheel(path, build_roots, problems):
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        for name in names:
            if not _matches(WHEEL_FILES, name):
                problems.append(f"wheel: unexpected file {name}")
        for pattern in WHEEL_REQUIRED:
            if not any(re.fullmatch(pattern, n) for n in names):
                problems.append(f"wheel: expected a file matching {pattern}, got none")
        if "linux" in path.rsplit("/", 1)[-1] and not any(n.startswith("fastgd.libs/libgomp")
                                                            for n in names):
            problems.append("wheel: expected libgomp vendored in fastgd.libs/, got none")
        markers = BUILD_PATH_MARKERS + [r.encode() for r in build_roots]
        total_so = 0
        for name in names:
            data = z.read(name)
            for marker in markers:
                if marker in data:
                    problems.append(f"wheel: {name} holds the build path {marker.decode()!r}")
            if name.startswith("fastgd/") and name.endswith(".so"):
                total_so += len(data)
                debug = _debug_bytes(data)
                if debug:
                    problems.append(f"wheel: {name} has {debug} bytes of debug sections")
                print(f"  {name}: {len(data):,} bytes")
        entry_points = next((z.read(n).decode() for n in names
                             if n.endswith(".dist-info/entry_points.txt")), "")
        if "[pytest11]" not in entry_points or "fastgd.testing" not in entry_points:
            problems.append("wheel: expected the pytest11 entry point fastgd.testing, got none")
    print(f"  wheel {os.path.basename(path)}: {os.path.getsize(path):,} bytes, "
          f"{len(names)} files, extension modules {total_so:,} bytes")


def _debug_bytes(elf_bytes):
    """Bytes in .debug_* sections of an ELF file (pyelftools comes with auditwheel)."""
    from elftools.elf.elffile import ELFFile
    elf = ELFFile(io.BytesIO(elf_bytes))
    return sum(s["sh_size"] for s in elf.iter_sections() if s.name.startswith(".debug"))


def check_sdist(path, problems):
    with tarfile.open(path) as t:
        names = [m.name.split("/", 1)[1] for m in t.getmembers()
                 if m.isfile() and "/" in m.name]
    for name in SDIST_REQUIRED:
        if name not in names:
            problems.append(f"sdist: expected {name}, got none")
    for name in names:
        if _matches(SDIST_FORBIDDEN, name):
            problems.append(f"sdist: unexpected file {name}")
    print(f"  sdist {os.path.basename(path)}: {os.path.getsize(path):,} bytes, "
          f"{len(names)} files")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel")
    parser.add_argument("--sdist")
    parser.add_argument("--build-root", action="append", default=[],
                        help="a folder whose path must not appear in the wheel")
    args = parser.parse_args(argv)
    problems = []
    check_wheel(args.wheel, args.build_root, problems)
    if args.sdist:
        check_sdist(args.sdist, problems)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
