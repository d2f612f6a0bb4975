"""The built small-product kernel keeps its accumulators in registers.

A block of csrc/fg_small_gemm.h whose store loop GCC does not unroll completely keeps its
accumulators in an array on the stack, and its FMA loop then loads and stores them on
every step: the same bits, 2.4x the time (the 10 x 200 x 100 float64 product, 11 -> 27 us;
docs/DESIGN.md, "The kernel's blocks are unrolled by pragma"). No timing can say this
without a clock in a unit test, so the test reads the machine code instead
(benchmarks/inspect_codegen.py's third check)."""
import importlib.util
import os
import platform
import re
import shutil
import subprocess

import pytest

from fastgd.model import _engine

HERE = os.path.dirname(os.path.abspath(__file__))
INSPECT = os.path.join(HERE, os.pardir, "benchmarks", "inspect_codegen.py")

pytestmark = [
    pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                       reason="the kernel is x86-64 only"),
    pytest.mark.skipif(shutil.which("objdump") is None, reason="needs binutils' objdump"),
    pytest.mark.skipif(not os.path.exists(INSPECT), reason="benchmarks/ is not beside tests/"),
]


def _inspect():
    spec = importlib.util.spec_from_file_location("inspect_codegen", INSPECT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_small_product_blocks_keep_their_accumulators_in_registers():
    inspect = _inspect()
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", _engine.__file__],
                         capture_output=True, text=True, check=True).stdout
    funcs = inspect.functions(dis)
    kernels = inspect.small_gemm_kernels(funcs)
    if not kernels:
        pytest.skip("no fg_sg_* symbols: a stripped build, or one without the kernel")
    assert {k.split(".")[0] for k in kernels} == {"fg_sg_f32", "fg_sg_f64"}
    spills = {k: inspect.spilling_loops(funcs[k]) for k in kernels}
    assert all(not s for s in spills.values()), (
        f"FMA loops with vector registers on the stack (instructions, FMAs, stack "
        f"accesses): {spills}")


def test_the_check_finds_a_spilling_loop():
    # the loop shape the 2.4x slower build had: accumulators reloaded and stored per FMA
    body = """
    1000:\tvmovapd 0x88(%rsp),%zmm3
    1009:\tvfmadd231pd %zmm1,%zmm2,%zmm3
    100f:\tvmovapd %zmm3,0x88(%rsp)
    1018:\tvfmadd231pd %zmm1,%zmm2,%zmm4
    101e:\tvfmadd231pd %zmm1,%zmm2,%zmm5
    1024:\tvfmadd231pd %zmm1,%zmm2,%zmm6
    102a:\tadd    $0x8,%rax
    102e:\tcmp    %rax,%rdx
    1031:\tjne    1000 <fg_sg_f64+0x10>""".strip().splitlines()
    assert _inspect().spilling_loops(body) == [(9, 4, 2)]
    clean = [line.replace("0x88(%rsp)", "%zmm7") for line in body]
    assert _inspect().spilling_loops(clean) == []


# The only functions whose clones may hold FMA instructions: float64 Adam's loops with the
# reciprocal pair's explicit fma() (csrc/fg_divisor.h), and the helper the tests call.
PAIR_FUNCTIONS = {"fg_apply_f64", "fg_apply_outer_f64", "fg_div_step_array_f64"}
FMA_LEVELS = {"avx512f", "arch_x86_64_v3"}


def test_clones_contract_nothing_and_the_pair_loops_use_the_fma():
    """-ffp-contract=off keeps every a*b+c of the cloned kernels two roundings, as NumPy's
    (a target attribute that brought contraction back would change bits everywhere): no
    FMA instruction in any clone but float64 Adam's, and there, in the clones with an FMA,
    the pair's fma() is an instruction and never a libm call."""
    from fastgd._ewa import __file__ as ewa_file
    from fastgd.optim import _optim
    inspect = _inspect()
    clones = {}
    for path in (_optim.__file__, _engine.__file__, ewa_file):
        dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path],
                             capture_output=True, text=True, check=True).stdout
        for name, body in inspect.functions(dis).items():
            base, _, level = name.partition(".")
            if level in FMA_LEVELS | {"avx2", "default"}:
                clones[(os.path.basename(path), base, level)] = body
    if not clones:
        pytest.skip("no target clones in this build")
    for (path, base, level), body in clones.items():
        fmas = sum(bool(re.search(r"\bvf[n]?m(add|sub)", line)) for line in body)
        calls_fma = any(re.search(r"call.*<fma(@plt)?>", line) for line in body)
        if base in PAIR_FUNCTIONS and level in FMA_LEVELS:
            assert fmas and not calls_fma, (path, base, level, fmas, calls_fma)
        else:
            assert fmas == 0, f"{path}: {base}.{level} has {fmas} FMA instructions"
    assert any(level == "avx512f" for _, _, level in clones)
