"""Optimizers over lists of NumPy arrays, updated in place by fused C kernels."""
from fastgd.optim.base import Optimizer
from fastgd.optim.rules import (OPTIMIZERS, SGD, Adadelta, Adagrad, Adam, Adamax, AdamW,
                                Momentum, NAdam, RAdam, RMSprop)
from fastgd.optim.utils import clip_grad_norm_, clip_grad_value_, flat_parameters

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
           "Adamax", "NAdam", "RAdam", "OPTIMIZERS", "flat_parameters", "clip_grad_norm_",
           "clip_grad_value_"]
