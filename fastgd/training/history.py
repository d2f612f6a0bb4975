"""What fit returns: one row of numbers per epoch."""
from dataclasses import dataclass, field


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


@dataclass
class History:
    """Per-epoch training record. ``loss`` is the sample-weighted mean of the epoch's batch
    losses plus the L2 penalty at the epoch's end; ``lr`` the rate the epoch started with;
    ``time`` its wall-clock seconds (training only, validation excluded)."""
    seed: int = None
    metric_name: str = None
    fast_path: bool = True
    epoch: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_metric: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    time: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    stopped_early: bool = False
    # (epoch, batches done) when Ctrl-C stopped fit mid-epoch; the last row is that part
    interrupted: tuple = None

    def append(self, logs):
        for key in ("epoch", "loss", "val_loss", "val_metric", "lr", "time", "samples"):
            getattr(self, key).append(logs.get(key))

    @property
    def samples_per_second(self):
        seconds = sum(self.time)
        return sum(self.samples) / seconds if seconds > 0 else float("nan")

    def as_dict(self):
        return {k: getattr(self, k) for k in ("epoch", "loss", "val_loss", "val_metric", "lr",
                                              "time", "samples")}

    def __len__(self):
        return len(self.epoch)
