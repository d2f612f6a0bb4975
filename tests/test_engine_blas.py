"""The engine's BLAS: scipy-openblas32's OpenBLAS when it is installed, SciPy's otherwise
(fastgd/_runtime/engine_blas.py), one thread, and the same training either way up to
BLAS's summation order."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from fastgd._runtime import engine_blas
from fastgd._runtime.config import config
from fastgd.model import _engine

HAS_OPENBLAS32 = importlib.util.find_spec("scipy_openblas32") is not None

# a fit whose products all go to BLAS (our kernel off): prints its parameters' hash-free
# summary as numbers the parent compares
FIT = """
import sys, numpy as np, fastgd
from fastgd.model import _engine
_engine.set_small_gemm(0)
rng = np.random.default_rng(0)
X = rng.standard_normal((300, 40)); y = rng.integers(0, 5, 300)
m = fastgd.MLP([40, 64, 5], "relu", dtype=np.float64, seed=3)
fastgd.fit(m, X, y, fastgd.Adam(m.parameters(), lr=1e-2), epochs=3, batch_size=64, seed=1,
           n_threads=1)
print(_engine.blas())
np.save(sys.argv[1], m._flat)
"""


def _fit_in_child(tmp_path, blas):
    env = dict(os.environ)
    env.pop("FASTGD_BLAS", None)
    if blas is not None:
        env["FASTGD_BLAS"] = blas
    out = tmp_path / f"flat-{blas}.npy"
    done = subprocess.run([sys.executable, "-c", FIT, str(out)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), np.load(out)


@pytest.mark.skipif(not HAS_OPENBLAS32, reason="scipy-openblas32 not installed")
def test_the_engine_calls_scipy_openblas32_when_installed():
    assert _engine.blas().startswith("scipy-openblas32 ")
    assert "OpenBLAS" in _engine.blas()
    assert config()["engine_blas"] == _engine.blas()


@pytest.mark.skipif(not HAS_OPENBLAS32, reason="scipy-openblas32 not installed")
def test_its_openblas_runs_one_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ours = [p for p in threadpoolctl.threadpool_info()
            if "scipy_openblas32" in p.get("filepath", "")]
    assert len(ours) == 1 and ours[0]["num_threads"] == 1


def test_fastgd_blas_scipy_keeps_scipys_and_trains_the_same(tmp_path):
    chosen, flat = _fit_in_child(tmp_path, None)
    kept, flat_scipy = _fit_in_child(tmp_path, "scipy")
    assert kept.startswith("scipy (")
    assert chosen.startswith("scipy-openblas32 " if HAS_OPENBLAS32 else "scipy (")
    # two OpenBLAS builds may sum a product in another order: the reference's tolerance
    np.testing.assert_allclose(flat, flat_scipy, rtol=1e-12, atol=1e-13)


def test_fastgd_blas_rejects_an_unknown_value(monkeypatch):
    monkeypatch.setenv("FASTGD_BLAS", "mkl")
    with pytest.raises(ValueError, match="FASTGD_BLAS"):
        engine_blas.load()


def test_fastgd_blas_by_name_fails_loudly_without_it(monkeypatch):
    monkeypatch.setenv("FASTGD_BLAS", "scipy-openblas32")
    monkeypatch.setitem(sys.modules, "scipy_openblas32", None)   # as if not installed
    with pytest.raises(ImportError, match="FASTGD_BLAS=scipy-openblas32"):
        engine_blas.load()
    monkeypatch.delenv("FASTGD_BLAS")
    assert engine_blas.load() is None      # unasked, it falls back to SciPy's quietly
