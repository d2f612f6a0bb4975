"""fastgd.testing, the pytest plugin users run on their own models (pytester runs it)."""
import importlib
import json

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", autouse=True)
def _import_what_the_inner_runs_import():
    """pytester's in-process runs drop the modules each run imported, and a compiled module
    imported twice in one process can break; imported here, they stay. (torch does not
    survive even that, so the runs that reach torch or scikit-learn are subprocesses.)"""
    for name in ("numpy", "fastgd", "threadpoolctl"):
        importlib.import_module(name)

USER_TESTS = '''
import numpy as np
import fastgd


def test_fit(fastgd_fit_benchmark):
    X, y = fastgd.datasets.make_classification(96, 8, 3, seed=0)
    model = fastgd.MLP([8, 16, 3], seed=0)
    before = model.parameters()[0].copy()
    loss = fastgd_fit_benchmark(model, X, y, batch_size=16, rounds=2, lr=1e-2)
    assert np.isfinite(loss)
    np.testing.assert_array_equal(model.parameters()[0], before)   # trains a copy


def test_step(fastgd_step_benchmark):
    p = [np.ones(40, np.float32)]
    g = [np.full(40, 0.5, np.float32)]
    fastgd_step_benchmark(p, g, optimizer="SGD", rounds=3, lr=0.1)
    np.testing.assert_array_equal(p[0], 1.0)                          # steps a copy
'''


def _outcomes(result):
    counts = result.parseoutcomes()
    return counts.get("passed", 0), counts.get("skipped", 0)


def test_plugin_is_registered_by_its_entry_point(pytestconfig):
    assert pytestconfig.pluginmanager.hasplugin("fastgd"), \
        "fastgd.testing: expected the pytest11 entry point 'fastgd', got none (reinstall?)"


def test_every_implementation_in_one_group_with_ratios(pytester):
    pytester.makepyfile(USER_TESTS)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider",
                                           "--benchmark-json=bench.json",
                                           "--benchmark-columns=median")
    passed, skipped = _outcomes(result)
    assert result.ret == 0
    assert passed >= 4 and passed + skipped == 7     # 4 fit and 3 step implementations
    result.stdout.fnmatch_lines(["*fastgd ratios*", "test_fit: fastgd 1.00x, reference *x*",
                                 "test_step: fastgd 1.00x, reference *x*"])
    runs = json.loads((pytester.path / "bench.json").read_text())["benchmarks"]
    groups = {(b["group"], b["extra_info"]["impl"]) for b in runs}
    assert {("test_fit", "fastgd"), ("test_fit", "reference"), ("test_step", "fastgd"),
            ("test_step", "reference")} <= groups
    ratio = {(b["group"], b["extra_info"]["impl"]): b["extra_info"].get("x_fastgd")
             for b in runs}
    assert ratio[("test_fit", "fastgd")] == 1.0 and ratio[("test_fit", "reference")] > 0


def test_disabled_benchmarks_still_run_each_implementation_once(pytester):
    pytester.makepyfile(USER_TESTS)
    result = pytester.runpytest("-W", "error", "-p", "no:cacheprovider", "--benchmark-disable",
                                "-k", "not torch and not sklearn")
    passed, skipped = _outcomes(result)
    assert result.ret == 0 and passed == 4
    assert "fastgd ratios" not in result.stdout.str()


def test_the_group_keeps_the_users_own_parameters(pytester):
    pytester.makepyfile('''
import numpy as np
import pytest


@pytest.mark.parametrize("n", [8, 16])
def test_sizes(fastgd_step_benchmark, n):
    fastgd_step_benchmark([np.ones(n)], [np.ones(n)], optimizer="Momentum", rounds=1)
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "not torch")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_sizes?n=8?: fastgd 1.00x, reference*",
                                 "*test_sizes?n=16?: fastgd 1.00x, reference*"])


@pytest.mark.parametrize("call, message", [
    ("fastgd_step_benchmark([np.ones(3)], [], rounds=1)", "grads: expected 1 arrays"),
    ("fastgd_step_benchmark([np.ones(3)], [np.ones(3)], optimizer='Nope')",
     "optimizer: expected one of"),
    ("fastgd_step_benchmark([np.ones(3)], [np.ones(3)], rounds=0)", "rounds: expected an integer"),
])
def test_bad_arguments_name_the_argument(pytester, call, message):
    pytester.makepyfile(f'''
import numpy as np


def test_bad(fastgd_step_benchmark):
    {call}
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "--benchmark-disable", "-k", "not torch")
    result.stdout.fnmatch_lines([f"*{message}*"])
    assert result.ret == 1
