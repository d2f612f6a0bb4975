"""The user's callbacks under data-parallel fit: run on rank 0, decided for every rank.

run_epochs calls each hook on every rank at the same point of the loop, so each hook here
is one small broadcast from rank 0 (its return value, or that it raised): a stop, the
epoch's chunking (``batches_every``) and errors hold on every rank alike."""
import time

import numpy as np

from fastgd.distributed import _comm
from fastgd.training.fitcall import callbacks_stop


class RootCallbacks:
    """The user's callbacks, run on rank 0 only; what they return (or raise) broadcast.
    run_epochs calls every hook on every rank at the same point of the loop, so each is
    one collective; only ``close`` (fit is raising) is rank 0's alone."""

    def __init__(self, group, callbacks, stats):
        self.group, self.callbacks, self.stats = group, callbacks, stats

    def _on_root(self, call):
        """call() on rank 0 (a number, or None); its value, or its error, on every rank."""
        t0 = time.perf_counter()
        value, error = None, None
        if self.group.rank == 0:
            try:
                value = call()
            except Exception as e:
                error = e
        out = np.array([np.nan if value is None else float(value), error is not None])
        self.group.bcast_array(out, 0, "callback broadcast")
        self.stats.exchange_seconds += time.perf_counter() - t0
        if error is not None:
            raise error
        if out[1]:
            raise _comm.RankError("fit(comm=...): a callback raised on rank 0",
                                  {0: "callback raised"})
        return None if np.isnan(out[0]) else out[0]

    def _each(self, hook, *args, **kw):
        for cb in self.callbacks:
            if hasattr(cb, hook):
                getattr(cb, hook)(*args, **kw)

    def set_context(self, model, optimizer, schedule=None, history=None, **info):
        self._on_root(lambda: self._each("set_context", model, optimizer, schedule, history,
                                         **info))

    def batches_every(self, n_batches):
        """The chunking rank 0's callbacks ask for, on every rank (a chunk ends in a
        collective, so every rank must cut the epoch alike)."""
        def ask():
            asked = [cb.batches_every(n_batches) for cb in self.callbacks
                     if hasattr(cb, "batches_every")]
            asked = [a for a in asked if a is not None]
            return min(asked) if asked else None
        every = self._on_root(ask)
        return None if every is None else int(every)

    def on_epoch_end(self, epoch, logs):
        return bool(self._on_root(lambda: callbacks_stop(self.callbacks, epoch, logs)))

    def on_batches_end(self, epoch, logs):
        return bool(self._on_root(lambda: callbacks_stop(self.callbacks, epoch, logs,
                                                         hook="on_batches_end")))

    def on_train_end(self, history):
        self._on_root(lambda: self._each("on_train_end", history))

    def close(self):
        if self.group.rank == 0:
            self._each("close")
