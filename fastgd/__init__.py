"""fastgd: fast, reference-checked gradient descent on the CPU.

Hot loops (optimizer steps, whole training epochs) run in C with the GIL released;
``fastgd.reference`` holds the same semantics in plain NumPy."""
import sys as _sys

from fastgd._version import __version__

# The compiled modules live beside the Python ones. In a checkout nobody has built, the
# first import of one fails half-way through this package, which Python reports as a
# "circular import": say what is really missing instead.
_COMPILED = ("_runtime/_openmp", "optim/_optim", "_ewa", "model/_engine")


def _unbuilt():
    """ImportError naming the fix when a compiled module's file is missing, else None."""
    import os
    from importlib.machinery import EXTENSION_SUFFIXES
    here = os.path.dirname(os.path.abspath(__file__))
    missing = [name for name in _COMPILED
               if not any(os.path.exists(os.path.join(here, name) + suffix)
                          for suffix in EXTENSION_SUFFIXES)]
    if not missing:
        return None
    names = ", ".join("fastgd." + name.replace("/", ".") for name in missing)
    return ImportError(f"fastgd: build the extension first: `make build` or `pip install -e .` "
                       f"(compiled module not found in {here}: {names})")


try:   # the first compiled module imported below; its package imports nothing
    from fastgd._runtime import _openmp as _first_compiled  # noqa: F401
except ImportError:
    _explained = _unbuilt()
    if _explained is None:
        raise
    raise _explained from None

from fastgd._runtime.config import config, show_config
from fastgd._runtime.threads import get_num_threads, set_num_threads
from fastgd._runtime.determinism import get_deterministic, set_deterministic
from fastgd.ewa import EWA, ewa
from fastgd import datasets, init, schedules
from fastgd.training.history import (AverageState, History, NonFiniteLossError,
                                     TrainingInterrupted)
from fastgd.model.mlp import MLP, LinearRegression, LogisticRegression, SoftmaxRegression
from fastgd.optim import (SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Momentum, NAdam,
                          Optimizer, RAdam, RMSprop, clip_grad_norm_, clip_grad_value_,
                          flat_parameters)
from fastgd.training.train import fit
from fastgd.training.checkpoint import Checkpoint, load, save
from fastgd.training import callbacks
from fastgd.distributed.sweeps import sweep
from fastgd.lab import diagnostics, report, surfaces as functions

# the lab's public names: `import fastgd.functions` and friends keep working
_sys.modules[__name__ + ".functions"] = functions
_sys.modules[__name__ + ".diagnostics"] = diagnostics
_sys.modules[__name__ + ".report"] = report
_sys.modules[__name__ + ".callbacks"] = callbacks   # `from fastgd.callbacks import ...`

__all__ = [
    "__version__", "config", "show_config", "get_num_threads", "set_num_threads",
    "get_deterministic", "set_deterministic", "EWA",
    "ewa", "Optimizer", "SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
    "Adamax", "NAdam", "RAdam", "clip_grad_norm_", "clip_grad_value_", "flat_parameters",
    "MLP", "LinearRegression", "LogisticRegression", "SoftmaxRegression", "fit", "History",
    "NonFiniteLossError", "TrainingInterrupted", "datasets", "init", "schedules", "save",
    "load", "Checkpoint", "AverageState", "callbacks", "sweep",
]
