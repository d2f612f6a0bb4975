"""show_config() and the thread-count policy."""
import io
import os

import pytest

import fastgd
from fastgd._runtime import _openmp


def test_show_config_reports_build_and_threads():
    buf = io.StringIO()
    fastgd.show_config(file=buf)
    text = buf.getvalue()
    for key in ("compiler", "openmp", "openmp_build", "simd", "kernel_dispatch",
                "clone_probe", "cflags", "ldflags", "default_threads", "thread_policy", "blas",
                "float64_adam_quotient"):
        assert key in text
    cfg = fastgd.config()
    assert cfg["openmp"] == _openmp.openmp_enabled()
    assert "-ffp-contract=off" in cfg["cflags"]
    if "-march=native" in cfg["cflags"]:        # only an opt-in local build may have it
        assert os.environ.get("FASTGD_NATIVE"), "portable builds must not use -march=native"
    # the automatic default follows the machine's load, so it may move between two reads
    assert 1 <= cfg["default_threads"] <= max(1, _openmp.omp_max_threads())


def test_thread_override_precedence():
    from fastgd._runtime import threads as _threads
    fastgd.set_num_threads(2)
    try:
        assert _threads.resolve(None) == 2
        assert _threads.resolve(3) == 3           # an explicit argument wins
        assert fastgd.config()["default_threads"] == 2
    finally:
        fastgd.set_num_threads(None)


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_thread_counts_rejected(bad):
    with pytest.raises(ValueError, match="n_threads"):
        fastgd.Adam([__import__("numpy").zeros(3)], n_threads=bad)


def test_non_integer_thread_count_rejected():
    with pytest.raises(TypeError, match="n"):
        fastgd.set_num_threads(1.5)


def test_openmp_default_follows_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not fastgd.config()["openmp"]:
        pytest.skip("built without OpenMP")
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastgd.get_num_threads() == 1


def test_show_config_reports_what_setup_py_built():
    cfg = fastgd.config()
    assert cfg["compiler"] != "unknown", "expected fastgd/_runtime/_build_info.py from setup.py"
    if cfg["openmp"]:
        assert cfg["openmp_build"] != "unknown" and not cfg["openmp_build"].startswith("off")
    else:
        assert cfg["openmp_build"].startswith("off")    # the serial fallback says why
    gcc_like = cfg["cflags"].startswith("-")         # MSVC keeps debug info out anyway
    if gcc_like and "-g0" not in cfg["cflags"]:      # shipped builds carry no debug info
        assert os.environ.get("FASTGD_DEBUG"), "only FASTGD_DEBUG=1 builds keep -g"
