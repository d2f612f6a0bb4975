"""fastgd.reference is the specification, so it must not lean on what it specifies: its
modules import NumPy, the standard library, each other and the neutral modules both sides
share — and those neutral modules import nothing of the fast path either. Checked on the
source (every import statement, at any depth), not by importing."""
import ast
import pathlib
import sys

import pytest

import fastgd

# the package as imported (a source tree, or an installed wheel: both ship the .py files)
ROOT = pathlib.Path(fastgd.__file__).resolve().parent
# shared by both sides, pure: validation, the epoch order, the validated fit call, History
NEUTRAL = {"fastgd._checks", "fastgd.batching", "fastgd.training.fitcall",
           "fastgd.training.history"}
# matplotlib: imported only inside History.plot (an optional extra, never the fast path)
EXTERNAL = {"numpy", "matplotlib"}


def _path(module):
    p = ROOT.parent / (module.replace(".", "/") + ".py")
    return p if p.exists() else ROOT.parent / module.replace(".", "/") / "__init__.py"


def _imports(path):
    """Every module an import statement in ``path`` names (``from fastgd import x``
    names ``fastgd.x``)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            if node.module == "fastgd":
                yield from (f"fastgd.{a.name}" for a in node.names)
            else:
                yield node.module


def _allowed(module, own_prefix):
    top = module.split(".")[0]
    return (module.startswith(own_prefix) or module in NEUTRAL or top in EXTERNAL
            or top in sys.stdlib_module_names)


REFERENCE = sorted((ROOT / "reference").glob("*.py"))


def test_the_reference_modules_are_found():
    # an empty list would turn the test below into none at all
    assert {p.name for p in REFERENCE} >= {"optim.py", "optimizers.py", "mlp.py", "train.py"}


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: p.name)
def test_reference_imports_only_numpy_stdlib_and_neutral_modules(path):
    bad = [m for m in _imports(path) if not _allowed(m, "fastgd.reference")]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("module", sorted(NEUTRAL))
def test_neutral_modules_import_nothing_of_the_fast_path(module):
    bad = [m for m in _imports(_path(module)) if not _allowed(m, "fastgd._checks")
           and m not in NEUTRAL]
    assert not bad, f"{module} imports {bad}"


def test_the_check_sees_a_forbidden_import(tmp_path):
    p = tmp_path / "bad.py"
    p.write_text("import numpy\nfrom fastgd import _checks, optim\n")
    assert [m for m in _imports(p) if not _allowed(m, "fastgd.reference")] == ["fastgd.optim"]
