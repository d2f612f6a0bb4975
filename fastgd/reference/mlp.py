r"""The multi-layer perceptron in plain NumPy: the specification of fastgd's C forward and
backward passes.

Layout: parameters are ``[W1, b1, W2, b2, ...]`` with ``W_l`` of shape
``(n_{l-1}, n_l)`` (so a layer is ``Z = A @ W + b``) and ``b_l`` of shape ``(n_l,)``.

Losses, for a batch of B rows with logits :math:`Z` (the last layer's pre-activation):

* ``softmax``: :math:`\frac1B\sum_i \big(\log\sum_k e^{z_{ik}} - z_{i,y_i}\big)`
  (cross-entropy, computed with the max subtracted);
* ``sigmoid``: :math:`\frac1B\sum_i\sum_k \big(\max(z,0) - y z + \log(1+e^{-|z|})\big)`
  (binary cross-entropy on logits, summed over outputs);
* ``linear``: :math:`\frac1{2B}\sum_i\sum_k (z_{ik}-y_{ik})^2`;

plus :math:`\frac{\alpha}{2}\sum_l \lVert W_l\rVert^2` (weights only, not biases). With
these canonical pairings the gradient at the logits is :math:`(P - Y)/B` in all three cases.

Sample weights :math:`w_i \ge 0` (``sample_weight``; scikit-learn's MLP convention): the
batch's data loss is the weighted mean :math:`\sum_i w_i \ell_i / \sum_i w_i` and the
gradient at the logits :math:`w_i (p_i - y_i) / \sum_i w_i`; the L2 term is unchanged (one
penalty per batch, whatever the weights). A batch whose weights sum to 0 has loss 0 and a
zero data gradient. Unit weights give the unweighted numbers.

Hidden activations' derivatives are written in terms of their outputs A (what the C code
keeps): relu :math:`[A>0]`, leaky_relu :math:`[A>0] + 0.01[A\le 0]`, tanh :math:`1-A^2`,
sigmoid :math:`A(1-A)`, identity 1.
"""
import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "identity")
OUTPUTS = ("softmax", "sigmoid", "linear")
LEAKY_SLOPE = 0.01


def sigmoid(z):
    """Logistic function without overflow: exp of a non-positive number only."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def activate(z, name):
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return sigmoid(z)
    return z.copy()


def activation_grad(a, name):
    """d act / d z, from the activation's output a."""
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, LEAKY_SLOPE).astype(a.dtype)
    if name == "tanh":
        return 1.0 - a * a
    if name == "sigmoid":
        return a * (1.0 - a)
    return np.ones_like(a)


def forward(params, X, activation):
    """Logits of the last layer and the inputs of every layer ``[X, A1, ..., A_{L-1}]``."""
    n_layers = len(params) // 2
    A, inputs = X, []
    for l in range(n_layers):
        inputs.append(A)
        Z = A @ params[2 * l] + params[2 * l + 1]
        A = activate(Z, activation) if l < n_layers - 1 else Z
    return A, inputs


def predict_output(logits, output):
    """The output activation: class probabilities, probabilities, or values."""
    if output == "softmax":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if output == "sigmoid":
        return sigmoid(logits)
    return logits


def data_loss_and_dlogits(logits, y, output, sample_weight=None):
    """Mean loss of a batch and its gradient with respect to the logits (weighted mean
    with ``sample_weight``, one weight per row: see the module's docstring)."""
    if sample_weight is not None:
        return _weighted_loss_and_dlogits(logits, y, output, sample_weight)
    B = logits.shape[0]
    if output == "softmax":
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(B)
        loss = float(np.mean(np.log(s[:, 0]) - shifted[rows, y]))
        d = e / s
        d[rows, y] -= 1.0
    elif output == "sigmoid":
        z = logits
        loss = float(np.sum(np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))) / B)
        d = sigmoid(z) - y
    else:
        diff = logits - y
        loss = float(0.5 * np.sum(diff * diff) / B)
        d = diff
    return loss, d * (1.0 / B)


def metric(logits, labels, Y, output):
    """Accuracy (softmax: argmax against class ids; sigmoid: z > 0 against Y > 0.5) or,
    for a linear output, the coefficient of determination R² (0 when Y is constant)."""
    if output == "softmax":
        return float(np.mean(np.argmax(logits, axis=1) == labels))
    if output == "sigmoid":
        return float(np.mean((logits > 0) == (Y > 0.5)))
    ss_res = float(np.sum((Y - logits) ** 2))
    ss_tot = float(np.sum((Y - Y.mean(axis=0)) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0


def metric_terms(logits, labels, Y, output):
    """A batch's share of the running training metric, from the logits its loss is computed
    from (before its update), summed in float64: softmax the rows whose (first) largest
    logit is the label's; sigmoid the outputs with (z > 0) == (y > 0.5); linear the squared
    error summed over rows and outputs."""
    if output == "softmax":
        return float(np.sum(np.argmax(logits, axis=1) == labels))
    if output == "sigmoid":
        return float(np.sum((logits > 0) == (Y > 0.5)))
    return float(np.sum((logits - Y).astype(np.float64) ** 2))


def running_metric(total, rows, Y_seen, output, n_outputs):
    """The epoch's running training metric (Keras-style: each batch measured as it was
    trained on) from the summed ``metric_terms`` over ``rows`` rows: accuracy for softmax
    and sigmoid (of outputs), R^2 for linear, with the sum of squares of ``Y_seen`` (the
    targets of those rows) about their mean as its denominator (0 when it is 0)."""
    if rows == 0:
        return None
    if output == "softmax":
        return total / rows
    if output == "sigmoid":
        return total / (rows * n_outputs)
    Y64 = np.asarray(Y_seen, dtype=np.float64)
    ss_tot = float(np.sum((Y64 - Y64.mean(axis=0)) ** 2))
    return 1.0 - total / ss_tot if ss_tot > 0 else 0.0


def row_losses(logits, y, output):
    """Each row's data loss (float64) and P - Y: the terms the weighted mean is made of."""
    if output == "softmax":
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(logits.shape[0])
        per_row = np.log(s[:, 0]) - shifted[rows, y]
        d = e / s
        d[rows, y] -= 1.0
    elif output == "sigmoid":
        z = logits
        per_row = np.sum(np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z))), axis=1)
        d = sigmoid(z) - y
    else:
        d = logits - y
        per_row = 0.5 * np.sum(d * d, axis=1)
    return per_row.astype(np.float64), d


def _weighted_loss_and_dlogits(logits, y, output, sample_weight):
    w = np.asarray(sample_weight, dtype=np.float64)
    per_row, d = row_losses(logits, y, output)
    total = float(np.sum(w))
    if total == 0.0:
        return 0.0, np.zeros_like(d)
    # each row's scale w_i / sum(w) is rounded once to the model's dtype, as the C kernel does
    scale = (w * (1.0 / total)).astype(logits.dtype)
    return float(np.dot(w, per_row)) / total, d * scale[:, None]


def l2_penalty(params, alpha):
    return 0.5 * alpha * sum(float(np.sum(W.astype(np.float64) ** 2)) for W in params[0::2])


def backward(params, inputs, dlogits, activation, alpha=0.0):
    """Gradients of every parameter from dL/dlogits and the layers' inputs."""
    n_layers = len(params) // 2
    dZ = dlogits
    grads = [None] * len(params)
    for l in range(n_layers - 1, -1, -1):
        W = params[2 * l]
        dW = inputs[l].T @ dZ
        if alpha != 0.0:
            dW = dW + alpha * W
        grads[2 * l] = dW
        grads[2 * l + 1] = dZ.sum(axis=0)
        if l > 0:
            dZ = (dZ @ W.T) * activation_grad(inputs[l], activation)
    return grads


def data_loss_and_grads(params, X, y, activation, output, alpha=0.0, sample_weight=None):
    """Mean data loss of a batch (no penalty) and the gradients (with the penalty's)."""
    logits, inputs = forward(params, X, activation)
    loss, dlogits = data_loss_and_dlogits(logits, y, output, sample_weight)
    return loss, backward(params, inputs, dlogits, activation, alpha)


def loss_and_grads(params, X, y, activation, output, alpha=0.0, sample_weight=None):
    """Batch loss (mean data loss + L2 penalty) and gradients of every parameter."""
    loss, grads = data_loss_and_grads(params, X, y, activation, output, alpha, sample_weight)
    return loss + l2_penalty(params, alpha), grads
