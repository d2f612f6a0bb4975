"""What fit returns: one row of numbers per epoch."""
from dataclasses import dataclass, field


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss. The model and optimizer hold the state of the end of
    the last completed epoch; ``epoch`` and ``batch`` say where it happened."""

    def __init__(self, epoch, batch, n_batches, history):
        self.epoch, self.batch, self.history = epoch, batch, history
        super().__init__(
            f"non-finite loss at epoch {epoch}, batch {batch} (of {n_batches}); the model "
            f"and optimizer were restored to the end of epoch {epoch - 1}. Lower the "
            "learning rate, scale the inputs, or clip gradients.")


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
