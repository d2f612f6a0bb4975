r"""Vanishing and exploding gradients: per-layer norms of a batch (LESSON.md §1, §2).

For a network :math:`A_0 = X`, :math:`Z_l = A_{l-1}W_l + b_l`, :math:`A_l = g(Z_l)`
(:math:`A_L = Z_L`, the logits), backpropagation carries

.. math::
    \delta_L = \partial J/\partial Z_L, \qquad
    \delta_{l-1} = (\delta_l W_l^\top) \odot g'(Z_{l-1}), \qquad
    \partial J/\partial W_l = A_{l-1}^\top \delta_l, \quad
    \partial J/\partial b_l = \textstyle\sum_i \delta_{l,i}.

With identity activations, zero biases and :math:`W_l = s\,I`, the forward signal is
:math:`A_l = s^l X` and the backward one :math:`\delta_l = s^{L-l}\,\delta_L`: both change by
the factor :math:`s` per layer, so across L layers by :math:`s^L` -- vanishing for
s < 1, exploding for s > 1. (The weight gradients :math:`A_{l-1}^\top\delta_l \propto
s^{L-1}` are then equal in every layer, but all of them scale like :math:`s^{L-1}`
times the output error.) Xavier/He initialization draws :math:`W_l` with variance
:math:`1/n_{l-1}` (identity, tanh) or :math:`2/n_{l-1}` (ReLU), which keeps
:math:`E\lVert A_l\rVert^2` level in expectation.
"""
from dataclasses import dataclass, field

import numpy as np

import fastgd
from fastgd.reference import mlp as ref

__all__ = ["LayerStats", "layer_stats", "DepthSetting", "DepthExperiment", "default_settings",
           "deep_network_experiment", "DEFAULT_SCALES"]

DEFAULT_SCALES = (0.5, 0.9, 1.0, 1.1, 1.5)


@dataclass
class LayerStats:
    """Norms of one batch, layer by layer (index 0 = first layer).

    ``activation_norms`` has L + 1 entries: the input X, each hidden layer's output A_l,
    and the logits Z_L. Each is the root-mean-square over the rows of the per-row L2 norm,
    :math:`\\lVert A\\rVert_F/\\sqrt{B}`, so it does not depend on the batch size.
    ``delta_norms[l]`` is :math:`\\lVert\\partial J/\\partial Z_{l+1}\\rVert_F` (the
    backpropagated signal), ``weight_grad_norms`` / ``bias_grad_norms`` the Frobenius / L2
    norms of each layer's gradients, ``weight_norms`` of each W_l. ``loss`` is the batch's
    mean loss plus the model's L2 penalty.
    """

    activation_norms: np.ndarray
    delta_norms: np.ndarray
    weight_grad_norms: np.ndarray
    bias_grad_norms: np.ndarray
    weight_norms: np.ndarray
    loss: float

    @property
    def n_layers(self):
        return len(self.weight_norms)

    def per_layer_factor(self, which="activation"):
        """Geometric-mean change per layer: (last / first) ** (1 / (L - 1)).

        ``which="activation"`` reads A_{L-1} against A_1 (forward), ``"delta"`` reads
        δ_1 against δ_L (backward, toward the input). For W = s·I both equal s.
        """
        norms = self.activation_norms[1:-1] if which == "activation" else self.delta_norms[::-1]
        if len(norms) < 2:
            return float("nan")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return float((norms[-1] / norms[0]) ** (1.0 / (len(norms) - 1)))


def layer_stats(model, X, y):
    """Per-layer activation, backpropagated-gradient and parameter-gradient norms of (X, y).

    Runs the NumPy reference forward and backward passes in float64 (a copy of the
    parameters; the model is not touched), so exploding norms of a float32 model are seen
    as numbers rather than as inf.
    """
    if not isinstance(model, fastgd.MLP):
        raise TypeError(f"model: expected a fastgd.MLP, got {type(model).__name__}")
    X = model.check_X(X)
    labels, Y = model.encode_targets(y, X.shape[0])
    targets = labels if labels is not None else Y.astype(np.float64)
    params = [p.astype(np.float64) for p in model.parameters()]
    B = X.shape[0]
    # Exploding settings overflow on purpose (that is the experiment); inf/nan are recorded.
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        logits, inputs = ref.forward(params, X.astype(np.float64), model.activation)
        loss, dlogits = ref.data_loss_and_dlogits(logits, targets, model.output)
        deltas = _deltas(params, inputs, dlogits, model.activation)
        grads = ref.backward(params, inputs, dlogits, model.activation, model.alpha)
        rms = lambda A: float(np.sqrt(np.sum(A * A) / B))  # noqa: E731
        return LayerStats(
            activation_norms=np.array([rms(A) for A in inputs] + [rms(logits)]),
            delta_norms=np.array([float(np.linalg.norm(d)) for d in deltas]),
            weight_grad_norms=np.array([float(np.linalg.norm(g)) for g in grads[0::2]]),
            bias_grad_norms=np.array([float(np.linalg.norm(g)) for g in grads[1::2]]),
            weight_norms=np.array([float(np.linalg.norm(W)) for W in params[0::2]]),
            loss=loss + ref.l2_penalty(params, model.alpha))


def _deltas(params, inputs, dlogits, activation):
    """δ_l = ∂J/∂Z_l for l = 1..L (reference.mlp.backward's recursion, keeping each δ)."""
    n_layers = len(params) // 2
    deltas = [None] * n_layers
    dZ = dlogits
    for l in range(n_layers - 1, -1, -1):
        deltas[l] = dZ
        if l > 0:
            dZ = (dZ @ params[2 * l].T) * ref.activation_grad(inputs[l], activation)
    return deltas


@dataclass
class DepthSetting:
    """One row of the experiment: ``init`` is a fastgd.init name, or None for W = scale·I."""

    label: str
    activation: str
    init: str = None
    scale: float = None


@dataclass
class DepthExperiment:
    depth: int
    width: int
    settings: list
    stats: list = field(default_factory=list)   # one LayerStats per setting

    def summary(self):
        """Rows (label, forward factor/layer, backward factor/layer, |Z_L|/|X|, |δ_1|/|δ_L|).

        For W = s·I these are s, s, s^L and s^(L-1)."""
        rows = []
        for s, st in zip(self.settings, self.stats):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                rows.append((s.label, st.per_layer_factor("activation"),
                             st.per_layer_factor("delta"),
                             float(st.activation_norms[-1] / st.activation_norms[0]),
                             float(st.delta_norms[0] / st.delta_norms[-1])))
        return rows


def default_settings(scales=DEFAULT_SCALES):
    """Scaled identities (identity activation), then Xavier/He with the activations they suit
    -- and Xavier under ReLU, which halves the signal's variance per layer (2^(-L/2))."""
    out = [DepthSetting(f"W = {s:g}·I", "identity", None, float(s)) for s in scales]
    out += [DepthSetting("xavier, identity", "identity", "xavier"),
            DepthSetting("xavier, tanh", "tanh", "xavier"),
            DepthSetting("he, relu", "relu", "he"),
            DepthSetting("xavier, relu", "relu", "xavier")]
    return out


def deep_network_experiment(depth=50, width=64, settings=None, *, n_samples=64, seed=0):
    """Norms per layer of a ``depth``-layer, ``width``-wide network under each setting.

    Every setting sees the same batch: X ~ N(0, 1) of shape (n_samples, width) and random
    regression targets (linear output, squared error); biases are zero. ``settings``
    defaults to :func:`default_settings` (W = s·I for s in DEFAULT_SCALES, Xavier/He).
    """
    if depth < 2 or depth > 128:
        raise ValueError(f"depth: expected 2..128 layers, got {depth}")
    settings = default_settings() if settings is None else list(settings)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, width))
    Y = rng.standard_normal((n_samples, width))
    exp = DepthExperiment(depth=depth, width=width, settings=settings)
    for i, s in enumerate(settings):
        model = fastgd.MLP([width] * (depth + 1), activation=s.activation, output="linear",
                    init=s.init or "zeros", dtype=np.float64, seed=[seed, i])
        if s.init is None:
            for W in model.parameters()[0::2]:
                W[...] = s.scale * np.eye(width)
        exp.stats.append(layer_stats(model, X, Y))
    return exp
