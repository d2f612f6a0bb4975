"""Check the built kernels' machine code for three silent performance bugs.

Usage: ``python benchmarks/inspect_codegen.py [path/to/fastgd/optim/_optim*.so]`` (needs binutils'
objdump; x86-64). Exit status 1 when a problem is found. ``tests/test_codegen.py`` runs
the third check on every build.

1. **Clones that call the baseline code.** ``fg_apply_f32/f64`` are built as
   ``target_clones`` (default / AVX2 / AVX-512F). A clone only runs wide code for the
   rule functions that were *inlined* into it; a rule function that stays a separate
   symbol (``fg_adam_f32`` without a clone suffix) is compiled once, for the portable
   baseline, and every clone just jumps to it -- the dispatch then buys nothing for
   that rule. Listed per clone: the fg_* symbols it calls or jumps to.
2. **A probe that is not one pass.** ``fg_probe_*`` must read p, g, m, v and write
   p, m, v in a single loop to stand for Adam's traffic. GCC's loop distribution turns
   a plain copy statement (``m[i] = g[i]``) into a separate ``memmove``, i.e. a
   second pass over memory. Listed: memmove/memcpy calls inside the probe.
3. **A small-product block whose accumulators live on the stack.** The register blocks of
   ``csrc/fg_small_gemm.h`` keep up to 24 accumulators in zmm registers; when GCC does not
   unroll a block's store loop completely (the epilogue made it too big to unroll on its
   own) the accumulators become an array in memory and the FMA loop loads and stores
   them: the 10 x 200 x 100 float64 product ran 2.4x slower. Listed: FMA loops of the
   kernel (``fg_sg_f64``/``fg_sg_f32``) that move vector registers to or from the stack.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def functions(disassembly):
    """{symbol: [instruction lines]} from ``objdump -d`` output."""
    out, name = {}, None
    for line in disassembly.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            name = m.group(1)
            out[name] = []
        elif name and line.strip():
            out[name].append(line)
    return out


def spilling_loops(body):
    """Loops in one function's instructions (a backward branch and what it jumps over, at
    most 100 instructions with at least 4 FMAs) that move vector registers to or from the
    stack: ``[(instructions, fmas, vector stack accesses)]``."""
    code = []
    for line in body:
        m = re.match(r"\s*([0-9a-f]+):\s*(.*)", line)
        if m:
            code.append((int(m.group(1), 16), m.group(2)))
    at = {addr: i for i, (addr, _) in enumerate(code)}
    found = []
    for i, (addr, text) in enumerate(code):
        m = re.match(r"j\w+\s+([0-9a-f]+)\b", text)
        start = at.get(int(m.group(1), 16)) if m else None
        if start is None or start > i or i + 1 - start > 100:
            continue
        loop = [t for _, t in code[start:i + 1]]
        fmas = sum("vfmadd" in t for t in loop)
        spills = sum(bool(re.search(r"[xyz]mm", t)) and bool(re.search(r"\(%r[sb]p\)", t))
                     for t in loop)
        if fmas >= 4 and spills:
            found.append((len(loop), fmas, spills))
    return found


def small_gemm_kernels(funcs):
    """The small-product kernel's entry points in a disassembly (suffixes such as
    ``.constprop.0`` included)."""
    return sorted(f for f in funcs if re.fullmatch(r"fg_sg_f(32|64)(\.\w+)*", f))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        lib = argv[0]
    else:
        found = glob.glob(os.path.join(os.path.dirname(HERE), "fastgd", "optim", "_optim*.so"))
        if not found:
            sys.exit("no fastgd/optim/_optim*.so: build first or pass the path")
        lib = found[0]
    if not shutil.which("objdump"):
        sys.exit("objdump not found (binutils)")
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", lib], capture_output=True,
                         text=True, check=True).stdout
    funcs = functions(dis)
    problems = 0
    print(f"{lib}")
    for dtype in ("f32", "f64"):
        clones = sorted(f for f in funcs if re.fullmatch(rf"fg_apply_{dtype}\.\w+", f)
                        and not f.endswith("resolver"))
        if not clones:
            print(f"fg_apply_{dtype}: no target clones in this build")
        for clone in clones:
            body = funcs[clone]
            calls = r"(?:call|jmp)\s+[0-9a-f]+ <(fg_\w+?)(?:\+0x[0-9a-f]+)?>"
            targets = sorted({m.group(1) for line in body for m in [re.search(calls, line)]
                              if m and not m.group(1).startswith(clone)})
            wide = sum(("zmm" in line) or ("ymm" in line) for line in body)
            bad = [t for t in targets if "." not in t]
            problems += bool(bad) and not clone.endswith("default")
            print(f"  {clone}: {len(body)} instructions, {wide} using ymm/zmm; "
                  f"calls/jumps to {', '.join(targets) or 'nothing'}"
                  + (" <- baseline code reached from a wide clone"
                     if bad and not clone.endswith("default") else ""))
        probes = [f for f in funcs if f.startswith(f"fg_probe_{dtype}")
                  and not f.endswith("resolver") and ".cold" not in f]
        for probe in sorted(probes):
            copies = sum(bool(re.search(r"call.*<(memmove|memcpy)", line))
                         or bool(re.search(r"jmp.*<(memmove|memcpy)", line))
                         for line in funcs[probe])
            problems += copies > 0
            print(f"  {probe}: {copies} memmove/memcpy call(s)"
                  + (" <- the probe is two passes, not Adam's one" if copies else ""))
    engines = glob.glob(os.path.join(os.path.dirname(lib), os.pardir, "model", "_engine*.so"))
    for engine in engines[:1]:
        funcs = functions(subprocess.run(["objdump", "-d", "--no-show-raw-insn", engine],
                                         capture_output=True, text=True, check=True).stdout)
        print(os.path.normpath(engine))
        for kernel in small_gemm_kernels(funcs) or ["(no small-product kernel in this build)"]:
            spills = spilling_loops(funcs.get(kernel, []))
            problems += bool(spills)
            print(f"  {kernel}: {len(spills)} FMA loop(s) with accumulators on the stack"
                  + (f" <- {spills}" if spills else ""))
    print("problems found:", problems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
