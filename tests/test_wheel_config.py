"""The wheel matrix in pyproject.toml's [tool.cibuildwheel], as cibuildwheel reads it.

cibuildwheel only runs on the release workflow (.github/workflows/wheels.yml); this keeps
its configuration valid here: ``--print-build-identifiers`` for each platform must list
exactly CPython 3.10-3.14 on the platforms the README promises. Skipped where cibuildwheel
is not installed (``FASTGD_PEERS=1 make test`` installs it) or the source tree's
pyproject.toml is not beside the tests (a wheel's test run)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = [f"cp3{minor}" for minor in range(10, 15)]
EXPECTED = {
    "linux": {f"{py}-{plat}" for py in PYTHONS
              for plat in ("manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64")},
    "macos": {f"{py}-macosx_{arch}" for py in PYTHONS for arch in ("x86_64", "arm64")},
    "windows": {f"{py}-win_amd64" for py in PYTHONS},
}


@pytest.mark.parametrize("platform", sorted(EXPECTED))
def test_cibuildwheel_builds_the_promised_matrix(platform):
    if importlib.util.find_spec("cibuildwheel") is None:
        pytest.skip("cibuildwheel is not installed (FASTGD_PEERS=1 make test installs it)")
    if not (ROOT / "pyproject.toml").is_file() or not (ROOT / "setup.py").is_file():
        pytest.skip("needs the source tree's pyproject.toml beside tests/")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
    result = subprocess.run(
        [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
         "--platform", platform], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    got = set(result.stdout.split())
    assert got == EXPECTED[platform], (f"{platform}: missing {sorted(EXPECTED[platform] - got)}, "
                                       f"unexpected {sorted(got - EXPECTED[platform])}")
