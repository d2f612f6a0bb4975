"""The proof behind csrc/fg_divisor.h as exact integer arithmetic at any precision p.

A binary floating-point number of precision p is N * 2^e with an integer significand N
in [2^(p-1), 2^p); nothing here under- or overflows. At small p every divisor and every
dividend can be tried, which checks the argument itself (every misrounded quotient is
among the candidates the congruences give); at p = 53 the same functions give the
candidates the C code must find.
"""
from fractions import Fraction


def round_nearest(value, p):
    """RN_p(value) for a Fraction value, ties to even."""
    if value == 0:
        return Fraction(0)
    sign = 1 if value > 0 else -1
    num, den = abs(value.numerator), value.denominator
    e = num.bit_length() - den.bit_length() - p
    while True:        # 2^(p-1) <= num / (den 2^e) < 2^p
        a, b = (num, den << e) if e >= 0 else (num << -e, den)
        if a < b << (p - 1):
            e -= 1
        elif a >= b << p:
            e += 1
        else:
            break
    n, r = divmod(a, b)
    if 2 * r > b or (2 * r == b and n & 1):
        n += 1
    return sign * Fraction(n) * Fraction(2) ** e


def reciprocal_pair(D, p):
    """(hi, lo) of fg_reciprocal_pair for the divisor D (its value; D's exponent changes
    nothing): hi = RN(1/D), lo = RN((1 - D hi)/D), with 1 - D hi checked to be exact."""
    hi = round_nearest(Fraction(1, D), p)
    remainder = 1 - D * hi
    assert round_nearest(remainder, p) == remainder, "the FMA's remainder is exact"
    return hi, round_nearest(remainder / D, p)


def pair_quotient(X, D, hi, lo, p):
    """fma(X, hi, RN(X lo)) at precision p."""
    return round_nearest(X * hi + round_nearest(X * lo, p), p)


def candidates(D, p):
    """The significands X that the congruences of fg_pair_candidates allow to misround:
    M D = X 2^k - E with M odd in [2^p, 2^(p+1)), |E| <= 2 for k = p (X >= D) and
    |E| <= 4 for k = p + 1 (X < D). Solved with Python's modular inverse, independently
    of the C code's Newton inverse and 128-bit product."""
    s = (D & -D).bit_length() - 1
    odd = D >> s
    found = []
    for k, e_max, x_lo, x_hi in ((p, 2, D, 1 << p), (p + 1, 4, 1 << (p - 1), D)):
        for e in range(-e_max, e_max + 1):
            if e == 0 or e % (1 << s):
                continue
            mod = 1 << (k - s)
            r = (-(e >> s) * pow(odd, -1, mod)) % mod
            for M in range(r + max(0, -(-((1 << p) - r) // mod)) * mod, 1 << (p + 1), mod):
                if M & 1:
                    X, rest = divmod(M * D + e, 1 << k)
                    assert rest == 0
                    if x_lo <= X < x_hi:
                        found.append(X)
    return found


def misrounded(D, p):
    """Every significand X whose pair quotient by D differs from RN(X / D): all 2^(p-1)
    of them tried."""
    hi, lo = reciprocal_pair(D, p)
    return [X for X in range(1 << (p - 1), 1 << p)
            if pair_quotient(X, D, hi, lo, p) != round_nearest(Fraction(X, D), p)]


def pair_is_exact(D, p):
    """The verdict of fg_pair_is_exact: every candidate's pair quotient is right."""
    hi, lo = reciprocal_pair(D, p)
    return all(pair_quotient(X, D, hi, lo, p) == round_nearest(Fraction(X, D), p)
               for X in candidates(D, p))
