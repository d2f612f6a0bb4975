"""Models and the C training engine that runs their forward and backward passes."""
from fastgd.model.mlp import MLP, LinearRegression, LogisticRegression, SoftmaxRegression

__all__ = ["MLP", "LinearRegression", "LogisticRegression", "SoftmaxRegression"]
