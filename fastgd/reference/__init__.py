"""fastgd.reference: the whole library's semantics in plain NumPy.

Every fast kernel has a twin here with the same name and signature, written to be read;
the tests hold the fast path to it."""
from fastgd.reference import mlp, optim
from fastgd.reference.ewa import ewa
from fastgd.reference.optimizers import (OPTIMIZERS, SGD, Adadelta, Adagrad, Adam, Adamax,
                                         AdamW, Momentum, NAdam, RAdam, RMSprop)

from fastgd.reference.train import fit

__all__ = ["optim", "mlp", "fit", "ewa", "OPTIMIZERS", "SGD", "Momentum", "Adam", "AdamW", "RMSprop",
           "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]
