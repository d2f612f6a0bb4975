"""Importing a source tree whose extension modules were never built names the fix."""
import shutil
import subprocess
import sys
from pathlib import Path

import fastgd


def test_unbuilt_tree_says_build_the_extension_first(tmp_path):
    package = Path(fastgd.__file__).parent
    shutil.copytree(package, tmp_path / "fastgd",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    # -S: no site-packages, so neither an installed nor an editable fastgd can answer
    result = subprocess.run([sys.executable, "-S", "-c", "import fastgd"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "build the extension first: `make build` or `pip install -e .`" in last
    assert "fastgd._runtime._openmp" in last and "fastgd.model._engine" in last
    assert "circular import" not in result.stderr
