"""float64 Adam's quotient by its step's divisor as fma(x, hi, x * lo) (csrc/fg_divisor.h;
docs/DESIGN.md, "float64 Adam divides by a reciprocal pair").

The argument: the pair can misround x / d only for an x whose significand solves one of a
few linear congruences in d's significand, so trying those candidates decides the divisor
for every x. Three layers of checks:
- the argument itself, by exact arithmetic at small precisions where every dividend can be
  tried: every misrounded quotient is among the candidates (tests/_division_model.py);
- the C code against that model at p = 53: the same candidates, the same verdict;
- the kernels' quotients and Adam's states bit for bit against the true division and the
  reference, on divisors of real runs -- including the rare divisors the pair misrounds,
  where the kernels must fall back to the division.
"""
import math
import platform
import sys

import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.optim import _optim
import _division_model as model

# As tests/test_optim_parity.py: bit for bit against the reference on x86-64, where the
# shipped flags make every C expression the reference's; elsewhere another libm may round
# pow or sqrt differently, so the stated float64 tolerance.
BITWISE = platform.machine().lower() in ("x86_64", "amd64")
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def assert_same(a, b, msg):
    if BITWISE:
        np.testing.assert_array_equal(a, b, err_msg=msg)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13, err_msg=msg)

def step_divisors(beta2, steps):
    """Adam's sqrt(1 - beta2^t) for t = 1..steps, as fg_adam_prepare computes it."""
    return [math.sqrt(1.0 - beta2 ** t) for t in range(1, steps + 1)
            if 1.0 - beta2 ** t != 1.0]


def significand(d):
    mantissa, _ = math.frexp(d)
    return int(mantissa * 2 ** 53)


@pytest.mark.parametrize("p", [6, 7, 8, 9])
def test_every_misrounded_quotient_is_a_candidate(p):
    """At precision p every divisor and every dividend: the pair's misrounded quotients
    are all among the congruences' candidates, so the verdict from the candidates alone
    is the truth. The argument is the same at every p (its bounds |E| <= 2 and <= 4 hold
    for any p); at p = 8 and 9 some divisors do misround, so the check has work to do."""
    failing = 0
    for D in range(1 << (p - 1), 1 << p):
        wrong = model.misrounded(D, p)
        assert set(wrong) <= set(model.candidates(D, p)), (p, D, wrong)
        assert model.pair_is_exact(D, p) == (not wrong), (p, D)
        failing += bool(wrong)
    assert failing > 0 or p < 8


DIVISORS = (step_divisors(0.999, 400) + step_divisors(0.9, 200) + step_divisors(0.5, 60)
            + list(np.random.default_rng(0).uniform(2.0 ** -26, 1.0, 200)) + [1.0, 0.5, 0.75])


def test_the_c_candidates_and_verdicts_are_the_models():
    """csrc/fg_divisor.h (Newton inverse mod 2^64, 32-bit-limb products) finds the same
    candidates as the model's Python integers at p = 53 and gives the same verdict."""
    exact = 0
    for d in DIVISORS:
        hi, lo, found, verdict = _optim.reciprocal_pair(d)
        D = significand(d)
        assert sorted(found) == sorted(model.candidates(D, 53)), d
        mhi, mlo = model.reciprocal_pair(D, 53)
        scale = 2.0 ** (math.frexp(d)[1] - 53)    # the model's D is d's significand
        assert hi == float(mhi) / scale and lo == float(mlo) / scale, d
        assert verdict == model.pair_is_exact(D, 53), d
        assert len(found) <= 12
        exact += verdict
    rejected = len(DIVISORS) - exact
    assert 0 < rejected < len(DIVISORS) / 10, "most divisors exact (~97.5%), some not"


def _dividends(found):
    """Each candidate significand, its neighbours and a few binades, as doubles; plus
    square roots over the whole range and Adam's special values."""
    x = [math.ldexp(X + k, e) for X in found for k in (-2, -1, 0, 1, 2)
         for e in (-52, -300, 200)]
    rng = np.random.default_rng(1)
    roots = np.sqrt(np.abs(rng.standard_normal(2000)) * 10.0 ** rng.uniform(-320, 308, 2000))
    return np.concatenate([np.array(x), roots, [0.0, -0.0, np.inf, np.nan,
                                                np.sqrt(5e-324), np.sqrt(1.7e308)]])


def test_kernel_quotients_are_the_division_for_every_divisor():
    for d in DIVISORS:
        x = _dividends(_optim.reciprocal_pair(d)[2])
        fast = _optim.divide_by_step_constant(x, d)
        np.testing.assert_array_equal(fast, x / d, err_msg=repr(d))
        assert np.array_equal(np.signbit(fast), np.signbit(x / d))


def test_the_divisors_the_check_rejects_do_misround():
    """Not a cautious check: for each rejected divisor of Adam's first steps the pair
    itself (forced) misrounds a candidate, while the kernels' choice (the division) does
    not. beta2 = 0.9 rejects step 34's divisor, 0.999 step 50's."""
    rejected = [d for d in DIVISORS if not _optim.reciprocal_pair(d)[3]]
    assert rejected
    for d in rejected:
        x = np.array([math.ldexp(X, -52) for X in _optim.reciprocal_pair(d)[2]])
        forced = _optim.divide_by_step_constant(x, d, force_pair=True)
        assert np.any(forced != x / d), d
        np.testing.assert_array_equal(_optim.divide_by_step_constant(x, d), x / d)


def test_reciprocal_pair_names_a_bad_divisor():
    for d in (0.0, -0.5, 1.5, math.inf, math.nan):
        with pytest.raises(ValueError, match="d: expected a divisor in"):
            _optim.reciprocal_pair(d)


@pytest.mark.skipif(not GLIBC, reason="the divisors are pow()'s: glibc's are the ones quoted")
def test_the_first_rejected_steps():
    """The step numbers the docs quote, so a change to the check shows up here."""
    def rejected(beta2, steps):
        return [t for t in range(1, steps + 1)
                if not _optim.reciprocal_pair(math.sqrt(1.0 - beta2 ** t))[3]]
    assert rejected(0.999, 300) == [50, 226, 268]
    assert rejected(0.9, 100) == [34, 70, 96]


@pytest.mark.parametrize("options", [{}, dict(amsgrad=True), dict(weight_decay=0.1),
                                     dict(weight_decay=0.1, decoupled_weight_decay=True)],
                         ids=["plain", "amsgrad", "l2", "adamw"])
def test_adam_float64_across_pair_and_division_steps(options):
    """beta2 = 0.9: steps 1-33 divide by the pair, step 34 by the division, 35-40 by the
    pair again; every step's parameters and state equal the reference's bit for bit (on
    x86-64; elsewhere to the float64 tolerance)."""
    rng = np.random.default_rng(5)
    fast_params = [rng.standard_normal(1023), rng.standard_normal(7)]
    ref_params = [p.copy() for p in fast_params]
    kw = dict(lr=0.01, betas=(0.9, 0.9), **options)
    fast = fastgd.Adam(fast_params, **kw)
    ref = reference.Adam(ref_params, **kw)
    for step in range(1, 41):
        grads = [rng.standard_normal(p.shape) * 10.0 ** rng.uniform(-6, 2) for p in fast_params]
        fast.step(grads)
        ref.step(grads)
        for a, b in zip(fast_params, ref_params):
            assert_same(a, b, f"step {step} {options}")
        for i in fast.state:
            for k, v in fast.state[i].items():
                if isinstance(v, np.ndarray):
                    assert_same(v, ref.state[i][k], f"{k} {step}")


def test_batch_one_fused_adam_across_pair_and_division_steps():
    """The batch-1 update (fg_apply_outer's fused Adam loop) takes the same per-step
    choice: 40 samples cross beta2 = 0.9's rejected step 34, bit for bit the per-batch
    Python path (whole gradient, then opt.step, itself the reference's bits above)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 5))
    y = rng.integers(0, 3, 40)
    sides = []
    for python_path in (False, True):
        m = fastgd.MLP([5, 600, 3], "tanh", dtype=np.float64, seed=2)
        cls = fastgd.Adam
        if python_path:
            cls = type("PythonAdam", (fastgd.Adam,),
                       {"step": lambda self, grads: fastgd.Adam.step(self, grads)})
        h = fastgd.fit(m, X, y, cls(m.parameters(), lr=0.01, betas=(0.9, 0.9)), epochs=1,
                       batch_size=1, seed=5)
        assert h.fast_path is not python_path
        sides.append(m._flat.copy())
    np.testing.assert_array_equal(sides[0], sides[1])


def test_the_helper_divides_what_the_proof_does_not_cover():
    """Outside Adam's dividends (negative x, 0 < x < 2^-537) the pair can misround (a
    reviewer's search: 399 of 3.95M such quotients); the helper divides those, while the
    forced pair shows one such misrounding."""
    d = float.fromhex("0x1.f292caf77890bp-1")
    x = np.array([float.fromhex("0x1.df25c8c9499efp-1021"), -1.5, -0.0, 5e-324, 2.0 ** -600])
    np.testing.assert_array_equal(_optim.divide_by_step_constant(x, d), x / d)
    assert np.array_equal(np.signbit(_optim.divide_by_step_constant(x, d)), np.signbit(x / d))
    if _optim.kernels_have_fma() and _optim.reciprocal_pair(d)[3]:
        forced = _optim.divide_by_step_constant(x[:1], d, force_pair=True)
        assert forced[0] != x[0] / d
