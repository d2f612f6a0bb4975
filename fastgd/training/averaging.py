"""fit's running average of the weights: an EMA (from zero, bias-corrected; or copy-first)
or Polyak's mean from a given epoch. The arithmetic is fastgd/reference/average.py's; on
the fast path the C engine applies it to each span of weights right after its update."""
import numpy as np

from fastgd.reference import average as spec
from fastgd.training.history import AverageState


class WeightAverage:
    """The averaged weights (flat, the parameters' layout) and how many updates they hold;
    a resumed run starts from the checked ``run.initial_average`` instead of zero."""

    def __init__(self, run):
        self.mode, self.beta, self.first = run.average or (None, 0.0, 0)
        self.buf = None if run.average is None else np.zeros_like(run.model._flat)
        self.count = 0
        start = getattr(run, "initial_average", None)
        if start is not None:
            self.buf[...], self.count = start.weights, start.count
        self.active = False             # averaging during the current epoch

    def state(self):
        """An AverageState (a copy), or None without averaging."""
        if self.buf is None:
            return None
        return AverageState(self.mode, self.beta, self.first, self.count, self.buf.copy())

    def start_epoch(self, epoch):
        self.active = self.buf is not None and epoch >= self.first

    @property
    def engine_mode(self):
        return spec.MODES[self.mode]

    def update(self, flat):
        """One update of the average from the weights ``flat`` (the Python path)."""
        a, b = spec.average_coefficients(self.mode, self.beta, self.count)
        spec.average_update([self.buf], [flat], a, b)
        self.count += 1

    def readout(self):
        return spec.average_readout([self.buf], self.mode, self.beta, self.count)[0]

    def as_model(self, model):
        """A copy of ``model`` holding the averaged weights (None before any update)."""
        if self.buf is None or self.count == 0:
            return None
        averaged = model.copy()
        averaged._flat[...] = self.readout()
        return averaged

    def snapshot(self):
        return None if self.buf is None else (self.buf.copy(), self.count)

    def restore(self, saved):
        if saved is not None:
            self.buf[...], self.count = saved
