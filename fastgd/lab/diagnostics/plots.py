"""Figures for the diagnostics (needs matplotlib: ``pip install fastgd[plot]``).

Every function takes an experiment's result and returns a ``matplotlib.figure.Figure``;
:func:`png_bytes` renders one. Figures are built with the object-oriented API on an Agg
canvas, never through pyplot: nothing global is touched, so calling these inside a
notebook or GUI session does not switch the user's backend, and no window opens.

Conventions, so that a figure reads on its own: every panel has axis labels and a legend
(or says in its title which other panel's legend it shares); curves that can lie on top
of each other differ in line style and marker as well as colour (:data:`STYLES`); progress
is drawn against epochs or updates, never wall-clock seconds (throughput, where time is
the point, is its own bar panel of medians); no axis limit cuts a curve off.
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


# (line style, marker): cycled together with the colours, so two curves on the same
# points stay apart in print, in grey scale and for colour-blind readers.
STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"),
          ((0, (1, 1)), "P"), ((0, (8, 2)), "X"), ((0, (3, 1, 1, 1, 1, 1)), "*")]


def _style(i, n_points=None, marks=8):
    """Keyword arguments for the i-th curve: colour, line style and (for a curve of
    ``n_points``) about ``marks`` markers along it."""
    ls, marker = STYLES[i % len(STYLES)]
    kw = {"color": f"C{i % 10}", "ls": ls, "marker": marker, "ms": 4}
    if n_points is not None:
        kw["markevery"] = max(1, n_points // marks)
    return kw


def _bars(ax, labels, series, *, xlabel, ylabel, title, log=True):
    """Grouped bars: ``series`` is [(name, values)], one bar per label per series."""
    series = [(name, values) for name, values in series
              if any(v is not None for v in values)]
    x = np.arange(len(labels))
    if not series:   # e.g. no batch size reached the target: say so, in the legend too
        ax.plot([], [], " ", label="no values (none reached)")
        log = False
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series):
        vals = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        ax.bar(x + (k - (len(series) - 1) / 2) * width, np.nan_to_num(vals), width,
               color=f"C{k}", label=name, hatch=["", "//", "..", "xx"][k % 4])
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)


def plot_layer_norms(exp):
    """Activation and backpropagated-gradient norms per layer, log scale, one line per
    setting of a DepthExperiment."""
    fig, (a, b) = _figure(11, 4.2, 2)
    for i, (s, st) in enumerate(zip(exp.settings, exp.stats)):
        kw = _style(i, len(st.activation_norms), marks=6)
        a.plot(np.arange(len(st.activation_norms)), _positive(st.activation_norms),
               label=s.label, **kw)
        b.plot(np.arange(1, len(st.delta_norms) + 1), _positive(st.delta_norms),
               label=s.label, **kw)
    a.set(yscale="log", xlabel="layer l (0 = input)", ylabel="RMS row norm of A_l",
          title=f"forward: activations ({exp.depth} layers, width {exp.width})")
    b.set(yscale="log", xlabel="layer l", ylabel="||dJ/dZ_l||",
          title="backward: gradient reaching layer l")
    for ax in (a, b):
        ax.legend(fontsize=7, ncol=2)
    return fig


def plot_saddle(exp, mark_every=50):
    """Left: paths on f = x² − y² over its contours, a marker every ``mark_every`` steps
    (GD and the lesson's Momentum at the same α take the *same path*; the markers show
    that Momentum moves along it more slowly). Middle: |y| per step (log), the escape
    direction. Right: f per step on the high-dimensional saddle (symlog: from its start
    value to past the threshold, nothing clipped)."""
    fig, (a, b, c) = _figure(15, 4.6, 3)
    xs, ys = np.meshgrid(np.linspace(-0.6, 1.2, 200), np.linspace(-1.6, 1.6, 200))
    a.contour(xs, ys, xs ** 2 - ys ** 2, levels=15, colors="0.8", linewidths=0.7)
    drawn = []
    for i, (name, r) in enumerate(exp.saddle.items()):
        ls, marker = STYLES[i % len(STYLES)]
        color = f"C{i % 10}"
        steps = "-" if r.steps is None else r.steps
        label = f"{name}: {steps} steps"
        same = next((other for other, p in drawn if same_path(r.path, p)), None)
        path_label = label + (f" (same path as {same})" if same else "")
        drawn.append((name, r.path))
        # Thicker lines first, so a path drawn later on the same points stays visible.
        a.plot(r.path[:, 0], r.path[:, 1], color=color, ls=ls, lw=3.2 - 0.5 * i,
               marker=marker, ms=5, markevery=mark_every, label=path_label)
        k = np.arange(1, len(r.path))
        b.plot(k, _positive(np.abs(r.path[1:, 1])), color=color, ls=ls, lw=1.4, label=label)
        hd = exp.high_dim[name]
        hsteps = "-" if hd.steps is None else hd.steps
        c.plot(np.arange(1, len(hd.values)), hd.values[1:], color=color, ls=ls, lw=1.4,
               label=f"{name}: {hsteps} steps")
    a.plot(*exp.start, "ko", ms=4)
    a.set(xlim=(-0.6, 1.2), ylim=(-1.6, 1.6), xlabel="x", ylabel="y",
          title=f"f = x² − y² from {exp.start}; marker every {mark_every} steps")
    a.legend(fontsize=7, loc="lower left")
    b.axhline(1.0, color="k", lw=0.6, ls=":")
    b.set(xscale="log", yscale="log", xlabel="step", ylabel="|y|",
          title="leaving the plateau (escape: f < −1)")
    b.legend(fontsize=7, loc="lower right")
    c.axhline(exp.threshold, color="k", lw=0.6, ls=":")
    c.set(xscale="log", yscale="symlog", xlabel="step", ylabel="f (symlog: linear in ±1)",
          title=f"HighDimSaddle (dim {exp.high_dim_surface.dim}), f(start) = "
                f"{exp.high_dim_surface.value(exp.high_dim_surface.default_start):.3g}")
    top = max(float(np.nanmax(r.values)) for r in exp.high_dim.values())
    decades = max(1, int(np.ceil(np.log10(max(top, 1.0)))))
    ticks = [exp.threshold, 0.0, 1.0] + [10.0 ** k for k in range(1, decades + 1)]
    c.set_yticks(ticks, [f"{t:g}" for t in ticks])
    c.set_ylim(top=ticks[-1])   # above every value: the start is on the chart
    c.legend(fontsize=7, loc="lower left")
    return fig


def same_path(p, q, tol=0.02):
    """True when every point of path ``p`` lies within ``tol`` of path ``q`` and back:
    the same curve, whatever the speed along it (subsampled to <= 400 points each)."""
    p = p[:: max(1, len(p) // 400)]
    q = q[:: max(1, len(q) // 400)]
    d = np.sqrt(((p[:, None, :] - q[None, :, :]) ** 2).sum(axis=2))
    return bool(d.min(axis=1).max() < tol and d.min(axis=0).max() < tol)


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
        for i, r in enumerate(exp.runs[sname].values()):
            steps = "-" if r.steps is None else r.steps
            label = f"{r.name} (lr {r.lr:g}): {steps}"
            path = np.where(np.isfinite(r.path), r.path, np.nan)   # a diverged run's inf
            ls, marker = STYLES[i % len(STYLES)]
            a.plot(path[:, 0], path[:, 1], color=f"C{i}", ls=ls, lw=1.2, label=label)
            dist = np.sqrt(np.sum((path[1:] - m) ** 2, axis=1))   # after step 1, 2, ...
            b.plot(np.arange(1, len(dist) + 1), _positive(dist), color=f"C{i}", ls=ls,
                   lw=1.2, label=label)
        a.plot(*surf.default_start, "ko", ms=4)
        a.plot(*m, "*", color="k", ms=10)
        a.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y",
              title=f"{sname} from {tuple(float(v) for v in surf.default_start)}")
        a.legend(fontsize=7, title="rule (lr): steps", title_fontsize=7)
        b.axhline(exp.tol, color="k", lw=0.6, ls=":")
        b.set(xscale="log", yscale="log", xlabel="step", ylabel="||x − x*||",
              title=f"distance to the minimum (converged: < {exp.tol:g})")
        b.legend(fontsize=7, title="rule (lr): steps", title_fontsize=7)
    return fig


def plot_cost_curves(curves):
    """Left: the cost of each step's batch (the lesson's picture). Middle: full training
    cost after each epoch of fastgd.fit. Right: fit's throughput (median epoch)."""
    fig, (a, b, c) = _figure(15, 4.2, 3)
    for i, cv in enumerate(curves):
        ls, marker = STYLES[i % len(STYLES)]
        a.plot(np.arange(len(cv.batch_loss)), cv.batch_loss, color=f"C{i}", ls=ls, lw=0.9,
               alpha=0.85, label=f"{cv.label} (lr {cv.lr:g})")
        b.plot(np.arange(len(cv.epoch_loss)), _positive(cv.epoch_loss),
               label=f"{cv.label}: {cv.updates_per_epoch} updates/epoch", lw=1.2,
               **_style(i))
    a.set(xlabel="update t", ylabel="J of the step's batch", title="cost per update")
    a.legend(fontsize=8)
    b.set(yscale="log", xlabel="epoch (passes over the data)",
          ylabel="J over the training set", title="cost per epoch")
    b.legend(fontsize=8)
    _bars(c, [cv.label for cv in curves],
          [("samples/s (median epoch)", [cv.samples_per_second for cv in curves])],
          xlabel="mode", ylabel="samples per second",
          title="fastgd.fit throughput (SGD loses vectorization)")
    return fig


def plot_batch_sweep(sweep):
    """Left: epochs and updates to reach the target cost per batch size. Middle: median
    throughput. Right: their ratio, the training seconds to the target."""
    fig, (a, b, c) = _figure(15, 4.2, 3)
    rows = sweep.rows
    labels = [str(r.batch_size) for r in rows]
    _bars(a, labels, [("epochs", [r.epochs for r in rows]),
                      ("updates", [r.steps for r in rows])],
          xlabel="batch size", ylabel="count to target (none: not reached)",
          title=f"progress to J ≤ {sweep.target_loss:g} (≤ {sweep.max_epochs} epochs)")
    _bars(b, labels, [("samples/s", [r.samples_per_second for r in rows])],
          xlabel="batch size", ylabel="samples per second (median epoch)",
          title="throughput (fastgd.fit)")
    secs = [r.seconds for r in rows]
    _bars(c, labels, [("epochs × m / samples/s", secs)], xlabel="batch size",
          ylabel="training seconds",
          title="time to target" + ("" if sweep.best is None else
                                    f" (fastest: {sweep.best.batch_size})"))
    for ax in (a, c):
        for i, r in enumerate(rows):
            if not r.reached:
                ax.text(i, ax.get_ylim()[0], " not reached", ha="center", va="bottom",
                        rotation=90, fontsize=7, color="0.4")
    return fig


def plot_decay(comp):
    """Left: each schedule's learning rate per epoch. Right: excess cost J − J* per epoch,
    median over the seeds with the min-max band."""
    fig, (a, b) = _figure(12, 4.4, 2)
    for i, (name, runs) in enumerate(comp.runs.items()):
        kw = _style(i, comp.epochs + 1, marks=6)
        a.plot(np.arange(len(runs[0].lr)), runs[0].lr, label=name, **kw)
        ex = comp.excess(name)
        e = np.arange(ex.shape[1])
        b.plot(e, _positive(np.median(ex, axis=0)), label=name, **kw)
        b.fill_between(e, _positive(ex.min(axis=0)), _positive(ex.max(axis=0)),
                       color=kw["color"], alpha=0.12, lw=0)
    a.set(yscale="log", xlabel="epoch", ylabel="learning rate α (log)",
          title=f"schedules (α0 = {comp.base_lr:g})")
    a.legend(fontsize=7, ncol=2)
    b.set(yscale="log", xlabel="epoch", ylabel="J − J* (log)",
          title=f"SGD, batch {comp.batch_size}, noisy least squares\n"
                f"median and min-max band over {len(comp.seeds)} seeds")
    b.legend(fontsize=7, ncol=2)
    return fig


def plot_ewa(exp, windows=5):
    """Left: noisy readings, the true curve, and each average. Right: the zero start's
    bias, (v̂_t − v_t)/v̂_t = β^t, over the first ``windows`` windows W = 1/(1 − β),
    against t/W: in those units every β's bias is the same curve, ≈ e^(−t/W)."""
    fig, (a, b) = _figure(13, 4.0, 2)
    days = np.arange(1, len(exp.readings) + 1)
    a.plot(days, exp.readings, ".", ms=2.5, color="0.6", label="readings θ_t")
    a.plot(days, exp.truth, color="k", lw=1, label="true curve")
    betas = list(dict.fromkeys(beta for beta, _ in exp.averages))
    for (beta, corrected), v in exp.averages.items():
        i = betas.index(beta)
        a.plot(days, v, lw=1.3, ls="-" if corrected else ":", color=f"C{i}",
               label=f"β = {beta:g}" + (", bias-corrected" if corrected else ""))
    u = np.linspace(0, windows, 200)
    b.plot(u, np.exp(-u), color="k", lw=0.8, label="e^(−t/W)")
    for i, beta in enumerate(betas):
        w = exp.window(beta)
        a.axvspan(0, w, color=f"C{i}", alpha=0.08)
        if (beta, False) in exp.averages and (beta, True) in exp.averages:
            raw, fixed = exp.averages[(beta, False)], exp.averages[(beta, True)]
            k = days <= windows * w
            ls, marker = STYLES[i % len(STYLES)]
            b.plot(days[k] / w, _positive((fixed - raw)[k] / fixed[k]), color=f"C{i}",
                   ls=ls, marker=marker, ms=4, markevery=max(1, w // 2),
                   label=f"β = {beta:g}: W = {w} days")
    for x in (1, 3):
        b.axvline(x, color="k", lw=0.6, ls="--" if x == 1 else ":")
    a.set(xlabel="day t", ylabel="°C", title="exponentially weighted averages "
          "(shaded: the first W = 1/(1−β) days)")
    a.legend(fontsize=7, ncol=2)
    b.axhline(0.05, color="k", lw=0.6, ls=":")
    b.set(yscale="log", xlabel="t / W  (days in units of W = 1/(1−β))",
          ylabel="bias (v̂_t − v_t) / v̂_t = β^t",
          title="the zero start's bias: 37 % after W days, < 5 % after 3W")
    b.legend(fontsize=8, title="the curves coincide", title_fontsize=8)
    return fig


def plot_training(results):
    """Per group of :func:`~fastgd.lab.diagnostics.training.compare_training`: training
    cost per epoch (the same batches per epoch within the update-rule group, so epochs
    are updates there too); then one throughput panel, fastgd against the reference."""
    groups = list(dict.fromkeys(r.config.group for r in results))
    fig, axes = _figure(5.2 * (len(groups) + 1), 4.4, len(groups) + 1)
    for ax, g in zip(axes, groups):
        members = [r for r in results if r.config.group == g]
        for i, r in enumerate(members):
            ax.plot(r.epochs, _positive(r.epoch_loss), lw=1.2,
                    label=f"{r.config.name}, lr {r.config.lr:g}: {r.updates_per_epoch} "
                          "updates/epoch", **_style(i, len(r.epochs), marks=10))
        ax.set(xscale="log", yscale="log", xlabel="epoch (log)",
               ylabel="mean batch cost of the epoch", title=g)
        ax.legend(fontsize=7)
    _bars(axes[-1], [r.config.name for r in results],
          [("fastgd.fit", [r.samples_per_second for r in results]),
           ("fastgd.reference.fit", [r.reference_samples_per_second for r in results])],
          xlabel="configuration", ylabel="samples per second (median epoch)",
          title="throughput")
    return fig
