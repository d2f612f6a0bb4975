"""Adam's division by its per-step constant: the multiplication that replaces it gives the
true quotient's bits (csrc/fg_optim_impl.h, fg_div_step; docs/DESIGN.md, "Adam divides
once").

float32: x * (1/d) in double, rounded to float, equals RN(x / d) for every float x and
d > 0 (proof beside fg_div_step). Checked here over every significand of [1, 2) -- a
quotient's rounding depends only on the significands while it is normal -- for the
divisors of Adam's and NAdam's first steps, and over every subnormal x and every x of the
top binade (quotients that round to inf) for a few; tests/exhaustive_division.c runs the
same check for every step's divisor until it rounds to 1 (built and run briefly here).
float64 divides by the reciprocal pair where that is proven exact (csrc/fg_divisor.h,
tests/test_optim_pair_division.py), checked here on random square roots."""
import math
import os
import shutil
import subprocess

import numpy as np
import pytest

from fastgd.optim import _optim

SIGNIFICANDS = np.arange(2 ** 23, dtype=np.uint32)


def binade(exponent_bits):
    return (SIGNIFICANDS | np.uint32(exponent_bits << 23)).view(np.float32)


def divisors(beta2, steps):
    """The float32 divisors of steps 1..steps: Adam's sqrt(1 - beta2^t), NAdam's
    1 - beta2^t, computed in double as fg_prepare does and rounded as the kernel does."""
    out = []
    for t in range(1, steps + 1):
        bc2 = 1.0 - beta2 ** t
        out += [np.float32(math.sqrt(bc2)), np.float32(bc2)]
    return out


def assert_bits(x, d):
    fast = _optim.divide_by_step_constant(x, d)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        exact = x / np.float32(d)
    bad = np.flatnonzero(fast.view(np.uint32) != exact.view(np.uint32))
    assert bad.size == 0, (f"d={float(d)!r}: {bad.size} quotients differ, first x="
                           f"{float(x[bad[0]])!r}: {float(fast[bad[0]])!r} vs "
                           f"{float(exact[bad[0]])!r}")


@pytest.mark.parametrize("beta2, steps", [(0.999, 6), (0.95, 3), (0.5, 2)])
def test_every_significand_of_the_first_steps_divisors(beta2, steps):
    x = binade(127)
    for d in divisors(beta2, steps):
        assert_bits(x, d)


@pytest.mark.parametrize("d", divisors(0.999, 1) + [np.float32(0.7)])
def test_every_subnormal_and_the_overflowing_binade(d):
    assert_bits(binade(0), d)      # 0 and every subnormal x
    assert_bits(binade(254), d)    # [2^127, 2^128): quotients that round to inf


def test_special_values_and_other_divisors():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.5, 3.4e38, 1e-45, -1e-45],
                 dtype=np.float32)
    for d in (1.0, 0.5, 0.031622775, 1e-3, 1e-30, 1e-40, 3.0, 1e30):
        fast = _optim.divide_by_step_constant(x, d)
        with np.errstate(over="ignore", invalid="ignore"):
            exact = x / np.float32(d)
        np.testing.assert_array_equal(fast, exact)
        assert np.array_equal(np.signbit(fast), np.signbit(exact))


def test_float64_quotients_of_square_roots():
    """float64's helper divides Adam's sqrt(v), by the reciprocal pair where the step's
    divisor allows it (tests/test_optim_pair_division.py): every double's square root,
    random over the whole range, and the special values, against the true division."""
    rng = np.random.default_rng(0)
    v = np.abs(rng.standard_normal(10000)) * 10.0 ** rng.uniform(-320, 308, 10000)
    x = np.concatenate([np.sqrt(v), [0.0, -0.0, np.inf, np.nan, np.sqrt(5e-324),
                                     np.sqrt(np.finfo(np.float64).max)]])
    for t in (1, 3, 10, 1000):
        d = math.sqrt(1.0 - 0.999 ** t)
        fast = _optim.divide_by_step_constant(x, d)
        np.testing.assert_array_equal(fast, x / d)
        assert np.array_equal(np.signbit(fast), np.signbit(x / d))


def _csrc():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(os.path.dirname(here), "csrc")
    return path if os.path.exists(os.path.join(path, "fg_optim.h")) else None


@pytest.mark.skipif(shutil.which("cc") is None or _csrc() is None,
                    reason="needs a C compiler and the csrc/ sources")
def test_the_exhaustive_checker_runs(tmp_path):
    """tests/exhaustive_division.c, as it is run for the full sweep, over a few steps."""
    here = os.path.dirname(os.path.abspath(__file__))
    exe = tmp_path / "exhaustive_division"
    subprocess.run(["cc", "-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math",
                    "-std=c99", "-I", _csrc(), os.path.join(here, "exhaustive_division.c"),
                    "-o", str(exe), "-lm"], check=True, capture_output=True)
    out = subprocess.run([str(exe), "0.999", "3", "1"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "mismatches=0" in out.stdout
