"""The training loop: ``fit``, its History, and the per-epoch loop every path shares."""
from fastgd.training.history import History, NonFiniteLossError, TrainingInterrupted
from fastgd.training.train import fit

__all__ = ["fit", "History", "NonFiniteLossError", "TrainingInterrupted"]
