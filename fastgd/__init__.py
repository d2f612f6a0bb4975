"""fastgd: fast, reference-checked gradient descent on the CPU.

Hot loops (optimizer steps, whole training epochs) run in C with the GIL released;
``fastgd.reference`` holds the same semantics in plain NumPy."""
__version__ = "0.1.0"

from fastgd._config import config, show_config
from fastgd._threads import get_num_threads, set_num_threads
from fastgd.ewa import EWA, ewa
from fastgd import datasets, init, schedules
from fastgd.history import History, NonFiniteLossError
from fastgd.mlp import MLP, LinearRegression, LogisticRegression, SoftmaxRegression
from fastgd.optim import (SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Momentum, NAdam,
                          Optimizer, RAdam, RMSprop, clip_grad_norm_, clip_grad_value_,
                          flat_parameters)
from fastgd.train import fit

__all__ = [
    "__version__", "config", "show_config", "get_num_threads", "set_num_threads", "EWA",
    "ewa", "Optimizer", "SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
    "Adamax", "NAdam", "RAdam", "clip_grad_norm_", "clip_grad_value_", "flat_parameters",
    "MLP", "LinearRegression", "LogisticRegression", "SoftmaxRegression", "fit", "History",
    "NonFiniteLossError", "datasets", "init", "schedules",
]
