"""Random training problems shared by the model and training tests."""
import numpy as np


def random_problem(n, sizes, output, dtype=np.float64, seed=0, target_scale=1.0):
    """(X, y): n standard-normal rows of width sizes[0]; y fits the output layer -- class
    ids (softmax), 0/1 targets (sigmoid) or normal targets times target_scale (linear)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if output == "softmax":
        y = rng.integers(0, sizes[-1], n)
    elif output == "sigmoid":
        y = (rng.random((n, sizes[-1])) > 0.5).astype(dtype)
    else:
        y = target_scale * rng.standard_normal((n, sizes[-1])).astype(dtype)
    return X, y
