"""What fit returns: one row of numbers per epoch, and where its weight average stands."""
import csv
import io
import os
from dataclasses import dataclass, field

import numpy as np

_COLUMNS = ("epoch", "loss", "train_metric", "val_loss", "val_metric", "lr", "time",
            "samples")


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss, or NaN/inf parameters or optimizer state after an
    update (the last update of an epoch has no next loss to show it). The model, optimizer
    and schedule hold the state of the end of the last completed epoch (all finite);
    ``epoch`` and ``batch`` say where it happened, ``restored_to`` which epoch's end was
    put back (-1: the state before training)."""

    def __init__(self, epoch, batch, n_batches, history, what="loss", restored_to=None):
        self.epoch, self.batch, self.history = epoch, batch, history
        self.restored_to = epoch - 1 if restored_to is None else restored_to
        where = ("the state before training" if self.restored_to < 0 or len(history) == 0
                 else f"the end of epoch {self.restored_to}")
        event = ("non-finite loss at" if what == "loss" else
                 "non-finite parameters or optimizer state after the update of")
        super().__init__(
            f"{event} epoch {epoch}, batch {batch} (of {n_batches}); the model, optimizer "
            f"and schedule were restored to {where}. Lower the learning rate, scale the "
            "inputs, or clip gradients (fit(..., clip_norm=...)).")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during fit. Raised after the batch that was running finished: the model,
    optimizer (step count included), schedule and ``history`` agree with the batches
    applied, so a checkpoint taken now resumes exactly with
    ``fit(..., initial_epoch=epoch, initial_batch=batch)``."""

    def __init__(self, epoch, batch, history):
        self.epoch, self.batch, self.history = epoch, batch, history
        super().__init__(f"training interrupted in epoch {epoch} after {batch} batches; "
                         f"resume with initial_epoch={epoch}, initial_batch={batch}")


@dataclass(frozen=True, eq=False)
class AverageState:
    """Where fit's running average of the weights stands: all a resumed run needs to go on
    bit for bit (``History.average_state`` -> ``fastgd.save`` -> ``Checkpoint.average`` ->
    ``fit(..., initial_average=)``). ``mode``: "ema" (from zero), "ema_copy" or "polyak"
    (fastgd/reference/average.py); ``beta``: the EMA's (0.0 for Polyak); ``first``: the
    epoch averaging starts at; ``count``: updates averaged so far; ``weights``: the raw
    running value, flat in the parameters' order (``[W_0, b_0, W_1, ...]``) and dtype --
    an EMA from zero is *not* bias-corrected here (``History.averaged_model`` is)."""
    mode: str
    beta: float
    first: int
    count: int
    weights: np.ndarray


@dataclass
class History:
    """Per-epoch training record. ``loss`` is the sample-weighted mean of the epoch's batch
    losses plus the L2 penalty at the epoch's end; ``lr`` the rate the epoch started with;
    ``time`` its wall-clock seconds (training only, validation excluded); ``train_metric``
    the model's metric (``metric_name``) on the training data: by default the running one
    (over the epoch's batches, each before its update), or the end-of-epoch model's with
    ``fit(train_metric=True)``; None when not measured.
    ``stopped_at``: ``(epoch, batches applied)`` when a callback stopped training within
    an epoch, i.e. ``fit(initial_epoch=epoch, initial_batch=batches)`` resumes it."""
    seed: int = None
    metric_name: str = None
    fast_path: bool = True
    epoch: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    train_metric: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_metric: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    time: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    stopped_early: bool = False
    # (epoch, batch) where a resume starts when fit stopped mid-epoch: a callback asked,
    # or Ctrl-C (then ``interrupted`` is True and the last row is that part of the epoch)
    stopped_at: tuple = None
    interrupted: bool = False
    # the loop's running average (an object with ``state()``), None without averaging;
    # not a field: it is saved as its own arrays, not in History's header
    _average = None

    @property
    def average_state(self):
        """An :class:`AverageState` (a copy) of the run's weight average as it stands now
        -- after fit, or inside a callback at an epoch's end -- or None without one."""
        return None if self._average is None else self._average.state()

    def append(self, logs):
        for key in _COLUMNS:
            getattr(self, key).append(logs.get(key))

    @property
    def samples_per_second(self):
        seconds = sum(self.time)
        return sum(self.samples) / seconds if seconds > 0 else float("nan")

    def as_dict(self):
        return {k: getattr(self, k) for k in _COLUMNS}

    def __len__(self):
        return len(self.epoch)

    def to_csv(self, path=None):
        """One row per epoch (columns: epoch, loss, train_metric, val_loss, val_metric, lr,
        time, samples; a value not measured is empty; floats with ``repr``, so they read
        back exactly). ``path``: a file name or an open text file; None returns the text."""
        out = io.StringIO() if path is None else None
        f = out if path is None else path if hasattr(path, "write") else \
            open(os.fspath(path), "w", newline="")
        try:
            w = csv.writer(f)
            w.writerow(_COLUMNS)
            for row in zip(*(getattr(self, k) for k in _COLUMNS)):
                w.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                            for v in row])
        finally:
            if f is not out and not hasattr(path, "write"):
                f.close()
        return out.getvalue() if out is not None else path

    def plot(self, path=None, ax=None):
        """Loss curves (training and validation) and, on a second panel, the metric per
        epoch. Needs matplotlib (``pip install fastgd[plot]``), imported only here.

        ``ax``: a matplotlib Axes (or a pair) to draw into; otherwise a new Figure on its
        own Agg canvas is made (pyplot and the user's backend are not touched) and returned.
        ``path``: also save the figure there."""
        try:
            from matplotlib.figure import Figure
            from matplotlib.backends.backend_agg import FigureCanvasAgg
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install fastgd[plot]") \
                from None
        has_metric = any(v is not None for v in self.train_metric + self.val_metric)
        if ax is None:
            fig = Figure(figsize=(10 if has_metric else 5.5, 3.8), layout="constrained")
            FigureCanvasAgg(fig)
            axes = list(fig.subplots(1, 2 if has_metric else 1, squeeze=False)[0])
        else:
            axes = list(ax) if isinstance(ax, (list, tuple)) else [ax]
            fig = axes[0].figure
        epochs = [e + 1 for e in self.epoch]

        def curve(a, values, label):
            pts = [(e, v) for e, v in zip(epochs, values) if v is not None]
            if pts:
                a.plot(*zip(*pts), marker="o" if len(pts) < 30 else None, label=label)

        curve(axes[0], self.loss, "training")
        curve(axes[0], self.val_loss, "validation")
        axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
        axes[0].legend()
        if has_metric and len(axes) > 1:
            curve(axes[1], self.train_metric, "training")
            curve(axes[1], self.val_metric, "validation")
            axes[1].set(xlabel="epoch", ylabel=self.metric_name or "metric",
                        title=self.metric_name or "metric")
            axes[1].legend()
        if path is not None:
            fig.savefig(path)
        return fig
