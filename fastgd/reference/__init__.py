"""fastgd.reference: the whole library's semantics in plain NumPy.

Every fast kernel has a twin here with the same name and signature, written to be read;
the tests hold the fast path to it. This package is a leaf: it imports NumPy, the standard
library and the neutral specifications both sides share (fastgd._checks, fastgd.batching,
fastgd.training.fitcall, fastgd.training.history) — never the fast path
(tests/test_reference_is_a_leaf.py walks its imports)."""
from fastgd.reference import mlp, optim
from fastgd.reference.ewa import ewa
from fastgd.reference.optimizers import (OPTIMIZERS, SGD, Adadelta, Adagrad, Adam, Adamax,
                                         AdamW, Momentum, NAdam, Optimizer, RAdam, RMSprop)
from fastgd.reference.train import fit

__all__ = ["optim", "mlp", "fit", "ewa", "Optimizer", "OPTIMIZERS", "SGD", "Momentum", "Adam",
           "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]
