"""Figures for the diagnostics (needs matplotlib: ``pip install fastgd[plot]``).

Every function takes an experiment's result and returns a ``matplotlib.figure.Figure``;
:func:`png_bytes` renders one. Figures are built with the object-oriented API on an Agg
canvas, never through pyplot: nothing global is touched, so calling these inside a
notebook or GUI session does not switch the user's backend, and no window opens.
"""
import io

import numpy as np

__all__ = ["available", "png_bytes", "plot_layer_norms", "plot_saddle", "plot_surfaces",
           "plot_cost_curves", "plot_batch_sweep", "plot_decay", "plot_ewa", "plot_training"]


def available():
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width, height, ncols=1):
    fig, axes = _grid(width, height, 1, ncols)
    return fig, list(axes[0])


def _grid(width, height, nrows, ncols):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)   # Agg canvas attached to this figure only
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def png_bytes(fig, dpi=100):
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _positive(y):
    """Values for a log axis: non-positive and non-finite ones become NaN (gaps)."""
    y = np.asarray(y, dtype=np.float64)
    return np.where(np.isfinite(y) & (y > 0), y, np.nan)


def plot_layer_norms(exp):
    """Activation and backpropagated-gradient norms per layer, log scale, one line per
    setting of a DepthExperiment."""
    fig, (a, b) = _figure(11, 4.2, 2)
    for s, st in zip(exp.settings, exp.stats):
        style = "-" if s.init is None else "--"
        a.plot(np.arange(len(st.activation_norms)), _positive(st.activation_norms), style,
               label=s.label)
        b.plot(np.arange(1, len(st.delta_norms) + 1), _positive(st.delta_norms), style,
               label=s.label)
    a.set(yscale="log", xlabel="layer l (0 = input)", ylabel="RMS row norm of A_l",
          title=f"forward: activations ({exp.depth} layers, width {exp.width})")
    b.set(yscale="log", xlabel="layer l", ylabel="||dJ/dZ_l||",
          title="backward: gradient reaching layer l")
    b.legend(fontsize=7, ncol=2)
    return fig


def plot_saddle(exp):
    """Left: paths on f = x² − y² over its contours. Middle: |y| per step (log), the
    escape direction. Right: f per step on the high-dimensional saddle."""
    fig, (a, b, c) = _figure(14, 4.2, 3)
    xs, ys = np.meshgrid(np.linspace(-0.6, 1.2, 200), np.linspace(-1.6, 1.6, 200))
    a.contour(xs, ys, xs ** 2 - ys ** 2, levels=15, colors="0.8", linewidths=0.7)
    for name, r in exp.saddle.items():
        line, = a.plot(r.path[:, 0], r.path[:, 1], lw=1.2, label=name)
        b.plot(_positive(np.abs(r.path[:, 1])), color=line.get_color(), label=name)
        hd = exp.high_dim[name]
        c.plot(hd.values, color=line.get_color(), label=name)
    a.plot(*exp.start, "ko", ms=4)
    a.set(xlim=(-0.6, 1.2), ylim=(-1.6, 1.6), xlabel="x", ylabel="y",
          title=f"f = x² − y² from {exp.start}")
    b.axhline(1.0, color="k", lw=0.6, ls=":")
    b.set(yscale="log", xlabel="step", ylabel="|y|", title="leaving the plateau (escape: f < −1)")
    c.axhline(exp.threshold, color="k", lw=0.6, ls=":")
    c.set(xlabel="step", ylabel="f", ylim=(min(exp.threshold * 2, -2), 3),
          title=f"HighDimSaddle (dim {exp.high_dim_surface.dim})")
    b.legend(fontsize=8)
    return fig


# (x range, y range, log-spaced contour levels?) per surface: Rosenbrock's and Beale's
# values span 1e-3 .. 1e4, where linear levels would all crowd onto the steep walls.
_SURFACE_VIEWS = {"rosenbrock": ((-2.0, 2.0), (-1.0, 3.0), True),
                  "beale": ((-0.5, 4.5), (-1.5, 2.0), True),
                  "ravine": ((-4.5, 1.0), (-1.5, 1.5), False)}


def plot_surfaces(exp):
    """Top: each surface's contours with every rule's path (start: black dot, minimum:
    star). Bottom: ||x − x*|| per step, log scale, with the tolerance dotted."""
    names = list(exp.runs)
    fig, axes = _grid(5 * len(names), 8.4, 2, len(names))
    for j, sname in enumerate(names):
        surf, a, b = exp.surfaces[sname], axes[0, j], axes[1, j]
        (x0, x1), (y0, y1), log = _SURFACE_VIEWS.get(sname, ((-2, 2), (-2, 2), False))
        # value() takes one point: 150² Python calls, ~0.1 s, keep the grid modest
        xs, ys = np.meshgrid(np.linspace(x0, x1, 150), np.linspace(y0, y1, 150))
        fz = np.array([[surf.value((u, v)) for u, v in zip(ru, rv)]
                       for ru, rv in zip(xs, ys)])
        if log:
            lo = max(np.log10(max(fz.min(), 1e-12)), -3.0)
            a.contour(xs, ys, fz, levels=np.logspace(lo, np.log10(fz.max()), 20),
                      colors="0.75", linewidths=0.7)
        else:
            a.contour(xs, ys, fz, levels=20, colors="0.75", linewidths=0.7)
        m = np.asarray(surf.minimum)
        for r in exp.runs[sname].values():
            steps = "-" if r.steps is None else r.steps
            label = f"{r.name} (lr {r.lr:g}): {steps}"
            path = np.where(np.isfinite(r.path), r.path, np.nan)   # a diverged run's inf
            line, = a.plot(path[:, 0], path[:, 1], lw=1.1, label=label)
            dist = np.sqrt(np.sum((path[1:] - m) ** 2, axis=1))   # after step 1, 2, ...
            b.plot(np.arange(1, len(dist) + 1), _positive(dist), color=line.get_color(),
                   lw=1, label=r.name)
        a.plot(*surf.default_start, "ko", ms=4)
        a.plot(*m, "*", color="k", ms=10)
        a.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y",
              title=f"{sname} from {tuple(float(v) for v in surf.default_start)}")
        a.legend(fontsize=7, title="rule (lr): steps", title_fontsize=7)
        b.axhline(exp.tol, color="k", lw=0.6, ls=":")
        b.set(xscale="log", yscale="log", xlabel="step", ylabel="||x − x*||",
              title=f"distance to the minimum (converged: < {exp.tol:g})")
    return fig


def plot_cost_curves(curves):
    """Left: the cost of each step's batch (the lesson's picture). Right: full training
    cost against fastgd.fit's training seconds, one point per epoch."""
    fig, (a, b) = _figure(11, 4.2, 2)
    for c in curves:
        a.plot(np.arange(len(c.batch_loss)), c.batch_loss, lw=0.8, alpha=0.85,
               label=f"{c.label} (lr {c.lr:g})")
        b.plot(c.epoch_seconds[1:], _positive(c.epoch_loss[1:]), marker=".", ms=3, lw=1,
               label=c.label)
    a.set(xlabel="step t", ylabel="J of the step's batch", title="cost per step")
    b.set(xscale="log", yscale="log", xlabel="training seconds (fastgd.fit)",
          ylabel="J over the training set", title="cost per second")
    a.legend(fontsize=8)
    return fig


def plot_batch_sweep(sweep):
    """Seconds (and epochs) to reach the target cost per batch size."""
    fig, (a,) = _figure(7, 4.2)
    rows = sweep.rows
    x = np.arange(len(rows))
    secs = np.array([r.seconds if r.reached else np.nan for r in rows], dtype=np.float64)
    a.bar(x, np.nan_to_num(secs), color=["C0" if r.reached else "0.8" for r in rows])
    for i, r in enumerate(rows):
        a.text(i, 0 if not r.reached else r.seconds,
               f"{r.epochs} ep" if r.reached else "not\nreached", ha="center",
               va="bottom", fontsize=7)
    best = sweep.best
    if best is not None:
        a.bar([rows.index(best)], [best.seconds], color="C2", label=f"fastest: {best.batch_size}")
        a.legend(fontsize=8)
    a.set_xticks(x, [str(r.batch_size) for r in rows], rotation=45, fontsize=8)
    a.set(xlabel="batch size", ylabel="training seconds to target",
          title=f"time to J ≤ {sweep.target_loss:g} (epoch granularity)")
    return fig


def plot_decay(comp):
    """Left: each schedule's learning rate per epoch. Right: training cost per epoch."""
    fig, (a, b) = _figure(11, 4.2, 2)
    for r in comp.runs:
        a.plot(np.arange(len(r.lr)), r.lr, label=r.name)
        b.plot(np.arange(len(r.loss)), _positive(r.loss), label=r.name)
    a.set(xlabel="epoch", ylabel="learning rate α", title=f"schedules (α0 = {comp.base_lr:g})")
    b.set(yscale="log", xlabel="epoch", ylabel="J over the training set",
          title=f"SGD, mini-batch {comp.batch_size}")
    a.legend(fontsize=8)
    return fig


def plot_ewa(exp):
    """Noisy readings, the true curve, and each average."""
    fig, (a,) = _figure(8, 3.8)
    days = np.arange(len(exp.readings))
    a.plot(days, exp.readings, ".", ms=2.5, color="0.6", label="readings θ_t")
    a.plot(days, exp.truth, color="k", lw=1, label="true curve")
    for (beta, corrected), v in exp.averages.items():
        a.plot(days, v, lw=1.3, ls="-" if corrected else ":",
               label=f"β = {beta:g}" + (", bias-corrected" if corrected else ""))
    a.set(xlabel="day t", ylabel="°C", title="exponentially weighted averages")
    a.legend(fontsize=7, ncol=2)
    return fig


def plot_training(results):
    """Training cost per epoch and per second for each configuration of
    :func:`~fastgd.lab.diagnostics.training.compare_training`, one panel per group."""
    groups = list(dict.fromkeys(r.config.group for r in results))
    fig, axes = _figure(5.5 * len(groups), 4.2, len(groups))
    for ax, g in zip(axes, groups):
        for r in results:
            if r.config.group == g:
                ax.plot(r.epoch_seconds, _positive(r.epoch_loss), marker=".", ms=3,
                        label=r.config.name)
        ax.set(xscale="log", yscale="log", xlabel="training seconds",
               ylabel="mean batch cost of the epoch", title=g)
        ax.legend(fontsize=8)
    return fig
