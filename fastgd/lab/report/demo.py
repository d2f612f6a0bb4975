"""``fastgd demo``: train on the shipped digits, run every diagnostic, write one report.

Order: (1) an MLP on the digits with batch GD / mini-batch 64 / SGD and with GD /
Momentum / RMSprop / Adam, per epoch, with throughput against fastgd.reference.fit;
(2) gradient norms through 50 layers; (3a) saddle escapes, (3b) steps to converge on
Rosenbrock, Beale and a ravine; (4) batch-size cost curves and an epochs/updates/time-to-
target sweep; (5) learning-rate decays on noisy least squares over 5 seeds;
(6) exponentially weighted averages. Each prints its key numbers and adds a section
(tables + a figure when matplotlib is there) to the report; the wall seconds of each
experiment are printed at the end (DemoResult.section_seconds).

Threads: one by default. The data sets are small (a digits batch is 64 x 64), where
threads buy little and, on a loaded machine, cost a lot; and one thread makes the
speed-up over the (equally limited) NumPy reference a per-core comparison.
"""
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from fastgd import datasets
from fastgd import diagnostics as D
from fastgd.lab.diagnostics import plots
from fastgd.lab.report import PLOT_HINT, Report, format_table

__all__ = ["DemoSettings", "run_demo"]


@dataclass
class DemoSettings:
    """Sizes of every experiment; ``quick()`` is the seconds-long version used by tests.

    Every budget is a count (epochs, steps), never seconds, so the figures show the same
    thing on a fast machine and on a loaded one; only the throughput panels and the
    speed-up column depend on the machine."""

    hidden: tuple = (64,)
    train_scale: float = 1.0          # multiplies default_configs' epoch counts
    reference_seconds: float = 0.3
    depth: int = 50
    width: int = 64
    saddle_steps: int = 3000
    surface_steps: int = 20000        # GD crawls along Rosenbrock's valley for ~10⁴ steps
    curve_steps: int = 400
    curve_epochs: int = 20
    sweep_shape: tuple = (4096, 64)   # make_classification samples, features
    sweep_hidden: tuple = (64,)
    sweep_target: float = 0.1
    sweep_max_epochs: int = 30
    decay_epochs: int = 30
    decay_seeds: tuple = (0, 1, 2, 3, 4)

    @classmethod
    def quick(cls):
        return cls(train_scale=0.1, reference_seconds=0.03, depth=30, width=32,
                   surface_steps=3000, curve_steps=100, curve_epochs=3, sweep_shape=(1024, 32),
                   sweep_hidden=(32,), sweep_target=0.3, sweep_max_epochs=30,
                   decay_epochs=8, decay_seeds=(0, 1))


@dataclass
class DemoResult:
    seconds: float
    paths: dict
    numbers: dict = field(default_factory=dict)
    section_seconds: dict = field(default_factory=dict)   # wall seconds of each experiment


def run_demo(out_dir="fastgd-report", *, quick=False, seed=0, n_threads=1, stream=None,
             settings=None):
    """Run everything, write the report into ``out_dir``, print key numbers to ``stream``
    (default stdout). Returns a DemoResult (wall seconds, written paths, key numbers)."""
    stream = sys.stdout if stream is None else stream
    s = settings or (DemoSettings.quick() if quick else DemoSettings())
    t0 = time.perf_counter()
    say = lambda *a: print(*a, file=stream, flush=True)  # noqa: E731
    have_plots = plots.available()
    rep = Report("fastgd demo: improving gradient descent")
    rep.section("About this run").paragraph(
        f"{'Quick' if quick else 'Full'} run, seed {seed}, {n_threads} thread(s). Every "
        "number below is measured on this machine when the report was made.")
    if not have_plots:
        rep.paragraph(PLOT_HINT)
    say(f"fastgd demo ({'quick, ' if quick else ''}{n_threads} thread(s); report -> {out_dir})")
    numbers = {}

    def figure(name, make, data, caption):
        if have_plots:
            rep.figure(name, plots.png_bytes(make(data)), caption)

    steps = [_training, _depth, (_saddle, _surfaces), _batch, _decay, _ewa]
    section_seconds = {}
    for i, group in enumerate(steps, 1):
        for step in group if isinstance(group, tuple) else (group,):
            t1 = time.perf_counter()
            step(i, rep, say, figure, numbers, s, seed, n_threads)
            section_seconds[step.__name__.lstrip("_")] = time.perf_counter() - t1
    paths = rep.write(out_dir)
    seconds = time.perf_counter() - t0
    say(f"\nreport: {paths['html']} (+ report.md, {len(paths['figures'])} PNG figures)")
    if not have_plots:
        say(PLOT_HINT)
    say("seconds per experiment: " + ", ".join(f"{k} {v:.1f}"
                                                for k, v in section_seconds.items()))
    say(f"demo finished in {seconds:.1f} s")
    return DemoResult(seconds, paths, numbers, section_seconds)


def _show(say, title, headers, rows):
    say(f"\n{title}")
    say(format_table(headers, rows))


def _table_section(rep, say, title, headers, rows, text):
    """Print a section's table and add it, with its explanation, to the report."""
    _show(say, title, headers, rows)
    rep.section(title).paragraph(text)
    rep.table(headers, rows)


def _training(i, rep, say, figure, numbers, s, seed, n_threads):
    X, y = datasets.load_digits(dtype=np.float32, return_X_y=True)
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, 0.2, seed=seed, stratify=True)
    res = D.compare_training(Xtr, ytr, Xte, yte, hidden=s.hidden,
                             configs=D.default_configs(s.train_scale),
                             reference_seconds=s.reference_seconds, seed=seed,
                             n_threads=n_threads)
    sizes = [64, *s.hidden, 10]
    title = (f"{i}. MLP {sizes} on the digits ({len(Xtr)} train / {len(Xte)} test), "
             "fastgd.fit vs fastgd.reference.fit")
    headers = ["compares", "run", "batch", "optimizer", "lr", "epochs", "updates",
               "final J", "test acc", "samples/s", "reference samples/s", "speed-up"]
    rows = [[r.config.group, r.config.name, r.batch_size, r.config.optimizer, r.config.lr,
             r.config.epochs, r.config.epochs * r.updates_per_epoch, r.final_loss,
             r.test_accuracy, round(r.samples_per_second),
             None if r.reference_samples_per_second is None
             else round(r.reference_samples_per_second),
             None if r.speedup is None else round(r.speedup, 1)] for r in res]
    per_epoch = {r.config.name: r.updates_per_epoch for r in res}
    _table_section(rep, say, title, headers, rows,
        "Same network and initial weights for every run. J: mean cross-entropy over the "
        "training set at the end. Batch sizes: per epoch (one pass over the data) SGD's "
        f"{per_epoch.get('SGD (batch 1)', len(Xtr))} small updates get furthest and batch "
        "GD's single update least far. Update rules, all on the same mini-batches of 64 "
        f"({per_epoch.get('GD', -(-len(Xtr) // 64))} updates per epoch): Momentum "
        "(β = 0.9 at α = 0.1/(1−β) = 1, i.e. GD's step plus 0.9 of the previous one), "
        "RMSprop and Adam reach a lower cost than GD in every epoch. samples/s: the median "
        "over epochs of each epoch's throughput (a stalled epoch does not move it); "
        "speed-up: fastgd.fit's over fastgd.reference.fit's (NumPy, with the optimizer's "
        "NumPy twin) on the same configuration and threads.")
    figure("training", plots.plot_training, res,
           "training cost per epoch for each group (log-log); throughput of fastgd and of "
           "the NumPy reference (median epoch)")
    numbers["training"] = {r.config.name: {"final_loss": r.final_loss,
                                           "test_accuracy": r.test_accuracy,
                                           "epoch_loss": r.epoch_loss,
                                           "samples_per_second": r.samples_per_second,
                                           "speedup": r.speedup} for r in res}


def _depth(i, rep, say, figure, numbers, s, seed, n_threads):
    exp = D.deep_network_experiment(s.depth, s.width, seed=seed)
    title = (f"{i}. Vanishing / exploding gradients: {s.depth} layers of width {s.width}, "
             "zero biases")
    headers = ["setting", "forward x/layer", "backward x/layer", "|Z_L| / |X|",
               "|dJ/dZ_1| / |dJ/dZ_L|"]
    rows = [list(r) for r in exp.summary()]
    _table_section(rep, say, title, headers, rows,
        "With identity activations and W = s·I every layer multiplies the forward signal "
        f"and the backward gradient by s, so across L = {s.depth} layers by s^L "
        f"(0.5^{s.depth} = {0.5 ** s.depth:.2g}, 1.5^{s.depth} = {1.5 ** s.depth:.2g}). "
        "Xavier (variance 1/n) keeps an identity network level (factor ≈ 1 per layer); "
        "tanh, which shrinks what passes through it, still loses a few percent per layer; "
        "He (variance 2/n) keeps a ReLU network level, while Xavier under ReLU loses half "
        "the variance per layer (factor ≈ 0.71).")
    figure("layer_norms", plots.plot_layer_norms, exp, "norm per layer, log scale")
    numbers["depth"] = {r[0]: {"forward": r[1], "backward": r[2], "total": r[3]}
                        for r in rows}


def _saddle(i, rep, say, figure, numbers, s, seed, n_threads):
    exp = D.saddle_experiment(start=D.saddle.DEFAULT_START, max_steps=s.saddle_steps,
                              seed=seed)
    title = (f"{i}a. Saddle points: steps until f < {exp.threshold:g} "
             f"(lr {exp.lr:g}, at most {exp.max_steps})")
    headers = ["update rule", f"x² − y² from {exp.start}",
               f"HighDimSaddle({exp.high_dim_surface.dim})"]
    rows = [list(r) for r in exp.table()]
    _table_section(rep, say, title, headers, rows,
        "Plain GD multiplies the escaping coordinate by 1 + 2α per step: a long plateau. "
        "RMSprop and Adam rescale the tiny gradient to a step of about α. The lesson's "
        "momentum (v = βv + (1−β)dW) with the same α takes GD's step once v has caught up, "
        "so it is no faster here; with α/(1−β) (torch's SGD momentum) it is. "
        "'-' = not within the step limit.")
    figure("saddle", plots.plot_saddle, exp,
           "left: paths with a marker every 50 steps — GD and Momentum (α) take the same "
           "path, Momentum (α) more slowly (its markers lag GD's); middle: the escaping "
           "coordinate |y| per step; right: f per step on the 100-dimensional saddle")
    numbers["saddle"] = {r[0]: {"2d": r[1], "high_dim": r[2]} for r in rows}


def _surfaces(i, rep, say, figure, numbers, s, seed, n_threads):
    exp = D.convergence_experiment(max_steps=s.surface_steps)
    title = (f"{i}b. Test surfaces: steps to converge (||x − x*|| < {exp.tol:g}, "
             f"at most {exp.max_steps})")
    headers = list(exp.headers)
    rows = [list(r) for r in exp.table()]
    _show(say, title, headers, rows)
    failed = exp.not_converged()
    verdict = ("every rule converged" if not failed else "did not converge: " + "; ".join(
        f"{rule} on {surf} ({why})" for surf, rule, why in failed))
    say(f"  {verdict}")
    rep.section(title).paragraph(
        "Each rule starts from the surface's classic start: Rosenbrock (−1.2, 1), Beale "
        "(1, 1), the ravine ½(x² + 50y²) from (−4, 1). GD's α sits below its stability "
        "limit 2/λ_max; the lesson's Momentum uses α_GD/(1−β) (torch's SGD momentum at "
        "GD's α: GD's step plus 0.9 of the previous one); RMSprop and Adam step about α in "
        "parameter units whatever the gradient's size, so theirs is a distance per step "
        "(each choice is explained in fastgd.lab.diagnostics.convergence). Converged: the first "
        "step with ||x − x*|| < tol; '-' = not within the step limit. µs per step (loop) is "
        "the "
        "whole Python loop per step, the surface's Python gradient and value included; "
        "µs per opt.step is fastgd's update of the 2-element parameter alone. "
        f"{verdict[0].upper() + verdict[1:]}.")
    rep.table(headers, rows)
    figure("surfaces", plots.plot_surfaces, exp, "paths over the contours, and distance to "
           "the minimum per step")
    numbers["surfaces"] = {surf: {r.name: r.steps for r in runs.values()}
                           for surf, runs in exp.runs.items()}


def _batch(i, rep, say, figure, numbers, s, seed, n_threads):
    X, y = datasets.load_digits(dtype=np.float32, return_X_y=True)
    curves = D.cost_curves(X, y, hidden=s.hidden, steps=s.curve_steps,
                           epochs=s.curve_epochs, seed=seed, n_threads=n_threads)
    title = f"{i}a. Batch vs mini-batch vs stochastic gradient descent (digits, plain SGD)"
    headers = ["mode", "batch", "lr", "updates/epoch", "J first step", "J last step",
               "mean |ΔJ| per step", "J after 1 epoch", f"J after {s.curve_epochs} epochs",
               "samples/s (fit)", "µs per update"]
    rows = [[c.label, c.batch_size, c.lr, c.updates_per_epoch, float(c.batch_loss[0]),
             float(c.batch_loss[-1]), c.noise, float(c.epoch_loss[1]),
             float(c.epoch_loss[-1]), round(c.samples_per_second),
             c.seconds_per_step * 1e6] for c in curves]
    _table_section(rep, say, title, headers, rows,
        f"Left: the cost of the batch each of the first {s.curve_steps} updates sees: "
        "smooth for batch GD, noisy for mini-batches, very noisy for SGD. Middle: the "
        "whole training set's cost after each epoch of fastgd.fit: per pass over the data, "
        "the more updates the further. Right: throughput (median epoch): SGD's one-row "
        "updates lose the vectorized speed of mini-batches, which is why mini-batches "
        "win in time.")
    figure("cost_curves", plots.plot_cost_curves, curves,
           "cost per update, cost per epoch, throughput")
    numbers["cost_curves"] = {c.label: {"noise": c.noise, "epoch_loss": c.epoch_loss,
                                        "samples_per_second": c.samples_per_second}
                              for c in curves}

    n, d = s.sweep_shape
    Xs, ys = datasets.make_classification(n, d, 10, n_informative=min(16, d), seed=seed)
    sweep = D.batch_size_sweep(Xs, ys, target_loss=s.sweep_target, hidden=s.sweep_hidden,
                               max_epochs=s.sweep_max_epochs, seed=seed, n_threads=n_threads)
    title = (f"{i}b. Batch size sweep: epochs, updates and time until J ≤ {s.sweep_target:g} "
             f"(synthetic {n} x {d}, 10 classes, Adam lr 1e-3)")
    headers = ["batch", "epochs", "updates", "samples/s", "seconds", "last J"]
    rows = [[r.batch_size, r.epochs, r.steps, round(r.samples_per_second), r.seconds,
             r.final_loss] for r in sweep.rows]
    _show(say, title, headers, rows)
    best = sweep.best
    verdict = ("no size reached the target" if best is None else
               f"fastest: batch size {best.batch_size} ({best.seconds:.3g} s)")
    say(f"  {verdict}")
    rep.section(title).paragraph(
        "J is checked at the end of each epoch; a size stops at the target or after "
        f"{s.sweep_max_epochs} epochs ('-': not reached). Small batches need the fewest "
        "epochs but run slowly; large ones the most epochs (and fewest updates: each "
        "update sees more data) at the highest throughput. seconds = epochs × m / "
        "samples/s at the median epoch throughput, so a stall of the machine does not "
        f"change the ranking. {verdict}. The lesson's advice is a power of two, 64 to 512, "
        "chosen by trying a few.")
    rep.table(headers, rows)
    figure("batch_sweep", plots.plot_batch_sweep, sweep,
           "epochs and updates to the target, throughput, and their ratio: time to target")
    numbers["sweep"] = {"best": None if best is None else best.batch_size,
                        "rows": {r.batch_size: {"epochs": r.epochs, "steps": r.steps,
                                                "seconds": r.seconds} for r in sweep.rows}}


def _decay(i, rep, say, figure, numbers, s, seed, n_threads):
    comp = D.decay_comparison(epochs=s.decay_epochs, seeds=s.decay_seeds, n_threads=n_threads)
    title = (f"{i}. Learning-rate decay: SGD lr {comp.base_lr:g}, mini-batch "
             f"{comp.batch_size}, {comp.epochs} epochs, noisy least squares "
             f"({comp.n_samples} x {comp.n_features}, {len(comp.seeds)} seeds)")
    headers = ["schedule", "last lr", "median final J − J*", "÷ constant's",
               "seeds below constant"]
    rows = [list(r) for r in comp.table()]
    _table_section(rep, say, title, headers, rows,
        "Decay matters where mini-batch noise is what stops progress: least squares with "
        "noisy targets, whose minimum J* (solved exactly) fits no example perfectly, so "
        "batch gradients never vanish. With a constant α SGD reaches its noise floor in the "
        "first epoch and then only jitters there; every decay shrinks the steps and "
        "settles lower, on every seed. (A network that can fit its training set exactly "
        "has no such floor, and there a constant rate is hard to beat.) Each seed draws "
        "its own data, noise and batch order; within a seed only α_t differs.")
    figure("decay", plots.plot_decay, comp,
           "learning rate per epoch (log) and excess cost J − J* per epoch: median over "
           "the seeds, band = min..max")
    numbers["decay"] = {r[0]: {"median_final_excess": r[2], "ratio_to_constant": r[3]}
                        for r in rows}


def _ewa(i, rep, say, figure, numbers, s, seed, n_threads):
    exp = D.ewa_experiment(seed=seed)
    title = f"{i}. Exponentially weighted averages of a noisy temperature series"
    headers = ["β", "bias-corrected", "W = 1/(1−β) days", "day-1 value (θ_1 = "
               f"{exp.readings[0]:.1f})", "mean |error| days 1..W", "days W+1..3W",
               "after 3W"]
    rows = [list(r) for r in exp.table()]
    _table_section(rep, say, title, headers, rows,
        "v_t = β·v_{t−1} + (1−β)·θ_t from v_0 = 0 starts near 0: it is (1 − β^t) times "
        "the corrected v̂_t, so the zero start's bias is β^t, which lasts as long as β "
        "says: after W = 1/(1−β) days (10 for β = 0.9, 50 for 0.98) it is still "
        "e^-1 = 37 %, after 3W below 5 %. Dividing by 1 − β^t removes it and changes "
        "nothing later. A larger β is smoother but lags the true curve more (last "
        "column).")
    figure("ewa", plots.plot_ewa, exp,
           "readings, true curve and averages (shaded: each β's first W days); the bias "
           "β^t against the day, with W and 3W marked")
    numbers["ewa"] = {f"beta={r[0]:g}, corrected={r[1]}": r[3] for r in rows}
