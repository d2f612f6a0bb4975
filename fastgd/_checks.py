"""The one vocabulary of argument checks, shared by the fast path and fastgd.reference.

Design: every public entry point validates its arguments here before anything changes,
and every message reads ``"name: expected …, got …"``. A bool is never a number (``True``
is an ``int`` in Python, and ``lr=True`` is always a mistake), and a flag is only a bool,
never a string (``amsgrad="no"`` is truthy). Numbers come back as Python scalars: a NumPy
float64 scalar would upcast float32 arrays under NumPy 2.

This module imports only the standard library, so the reference (the specification) can
use it without leaning on what it specifies. The optimizer options' constraints live here
for the same reason: both ``fastgd.Adam`` and ``fastgd.reference.Adam`` check a group
with :func:`optimizer_group`.
"""
import math
import numbers

__all__ = ["real", "integer", "flag", "choice", "beta_pair", "optimizer_group"]


def _describe(value):
    return repr(value) if isinstance(value, (numbers.Number, str, type(None))) \
        else type(value).__name__


def real(value, name, *, low=None, high=None, low_open=False, high_open=False,
         finite=True):
    """``value`` as a float, checked against the (open or closed) bounds given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {_describe(value)}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name}: expected a number {'>' if low_open else '>='} {low}, "
                         f"got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name}: expected a number {'<' if high_open else '<='} {high}, "
                         f"got {value!r}")
    return value


def integer(value, name, *, low=None, high=None):
    """``value`` as an int (any integral type but bool), checked against the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {_describe(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name}: expected an int <= {high}, got {value}")
    return value


def flag(value, name):
    """``value`` as a bool; only True/False (or NumPy's bools) are accepted."""
    if type(value).__name__ == "bool_" or isinstance(value, bool):
        return bool(value)
    raise TypeError(f"{name}: expected True or False, got {_describe(value)}")


def choice(value, name, choices):
    """``value`` if it is one of ``choices`` (compared with ==, strings by value)."""
    if isinstance(value, str) and value in choices:
        return value
    if not isinstance(value, str) and any(value is c for c in choices):
        return value
    raise ValueError(f"{name}: expected one of {tuple(choices)}, got {_describe(value)}")


def beta_pair(value, name):
    """A pair (beta1, beta2), each in [0, 1), as a tuple of floats."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise ValueError(f"{name}: expected a pair (beta1, beta2), got {_describe(value)}")
    return tuple(real(b, f"{name}[{i}]", low=0.0, high=1.0, high_open=True)
                 for i, b in enumerate(value))


# ------------------------------------------------------------------ optimizer options
# One constraint per option name: the same name means the same thing in every optimizer.

def _nonneg(value, name):
    return real(value, name, low=0.0)


def _unit_open(value, name):
    return real(value, name, low=0.0, high=1.0, high_open=True)


def _unit_closed(value, name):
    return real(value, name, low=0.0, high=1.0)


OPTION_CHECKS = {
    "lr": _nonneg, "momentum": _nonneg, "dampening": _nonneg, "weight_decay": _nonneg,
    "eps": _nonneg, "lr_decay": _nonneg, "initial_accumulator_value": _nonneg,
    "momentum_decay": _nonneg,
    "beta": _unit_open, "alpha": _unit_closed, "rho": _unit_closed, "betas": beta_pair,
    "nesterov": flag, "maximize": flag, "amsgrad": flag, "centered": flag,
    "eps_inside_sqrt": flag, "epsilon_hat": flag, "decoupled_weight_decay": flag,
    "lr_in_momentum": flag, "bias_correction": flag, "flush_subnormal_state": flag,
    "buffer_init": lambda v, name: choice(v, name, ("grad", "zeros")),
}


def optimizer_group(kind, group, options):
    """Check the hyper-parameters ``options`` of a param group of optimizer ``kind`` (its
    class name). Raises before anything changes; returns nothing (values are kept as the
    user gave them, so ``state_dict`` round-trips them unchanged)."""
    for name in options:
        if name not in group:
            raise ValueError(f"{name}: missing from a {kind} param group")
        OPTION_CHECKS[name](group[name], name)
    if kind == "SGD" and group["nesterov"] and (group["momentum"] <= 0
                                                or group["dampening"] != 0):
        raise ValueError("nesterov: expected momentum > 0 and dampening = 0 with Nesterov "
                         f"momentum, got momentum={group['momentum']!r}, "
                         f"dampening={group['dampening']!r}")
