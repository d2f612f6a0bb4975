"""Callbacks for ``fit``: early stopping, checkpoints, a CSV log and a progress bar.

Design: the protocol stays ``fit``'s (see fastgd.training.train): ``on_epoch_end(epoch,
logs)`` after each epoch and, with ``callback_every=N``, ``on_batches_end(epoch, logs)``
every N batches; returning True stops training. Two optional hooks give a callback what
the logs do not hold (Keras' ``set_model`` idea, without changing the call signature):
``set_context(model, optimizer, schedule, history, **info)`` once before the first epoch
(``info``: ``epochs``, ``initial_epoch``, ``n_batches``) and ``on_train_end(history)``
once after the last, also when training stopped early or raised. A third,
``on_progress(epoch, logs)``, is for watching only: fit calls it from the C loop's
periodic look for signals (every ~25 ms of work, never per batch, the batches unchanged)
when the callback's ``wants_progress()`` is true (a drawn ProgressBar); its return value
is ignored, and what it raises stops training after the batch that was running, as a
signal handler's exception does. Every callback here keeps its state in plain attributes
and touches nothing per batch.
"""
import csv
import math
import os
import sys
import time

from fastgd import _checks
from fastgd.training import progress as _progress

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "CSVLogger", "ProgressBar"]
# start / end / abort are fit's side of the protocol, not public names


def start(run, history, n_batches):
    """Before the first epoch: ``set_context`` of each callback that has it. Returns
    (every, watchers): how often (in batches) the epoch returns to Python --
    ``callback_every``, or, when it is None, the smallest ``batches_every(n_batches)`` a
    callback asks for, or None (chunked epochs give the same bits as whole ones) -- and
    the callbacks whose ``on_progress`` the loop's periodic look calls (see above)."""
    every, watchers = run.callback_every, []
    for cb in run.callbacks:
        if hasattr(cb, "set_context"):
            cb.set_context(run.model, run.optimizer, run.schedule, history,
                           epochs=run.epochs, initial_epoch=run.initial_epoch,
                           n_batches=n_batches)
        if run.callback_every is None and hasattr(cb, "batches_every"):
            asked = cb.batches_every(n_batches)
            if asked is not None:
                every = asked if every is None else min(every, asked)
        if callable(getattr(cb, "on_progress", None)) and \
                getattr(cb, "wants_progress", lambda: True)():
            watchers.append(cb)
    return every, watchers


def end(callbacks, history):
    """After the last epoch (also after a stop): ``on_train_end(history)``."""
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(history)


def abort(callbacks):
    """When fit raises (a divergence, KeyboardInterrupt): ``close()`` of each callback
    that has one (a progress bar clears its line); nothing is restored or written."""
    for cb in callbacks:
        if hasattr(cb, "close"):
            cb.close()


class Callback:
    """Base class with every hook a no-op; subclass and override what you need."""

    model = optimizer = schedule = history = None
    info = None

    def set_context(self, model, optimizer, schedule=None, history=None, **info):
        self.model, self.optimizer, self.schedule, self.history = \
            model, optimizer, schedule, history
        self.info = info

    def on_epoch_end(self, epoch, logs):
        return False

    def on_train_end(self, history):
        pass


def _monitor_mode(monitor, mode):
    mode = _checks.choice(mode, "mode", ("auto", "min", "max"))
    if mode == "auto":
        return "max" if monitor.endswith(("metric", "accuracy", "r2")) else "min"
    return mode


def _check_monitor(monitor):
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor: expected the name of a logs entry, got {monitor!r}")
    return monitor


def _monitored(logs, monitor, who):
    if logs.get(monitor) is None:
        hint = " (pass validation_data or validation_split to fit, or monitor='loss')" \
            if monitor.startswith("val_") else ""
        raise ValueError(f"{who}: monitor {monitor!r} is not in fit's logs (it has "
                         f"{sorted(k for k, v in logs.items() if v is not None)}){hint}")
    return float(logs[monitor])


class _Best:
    """The best value of a monitored quantity so far: ``improves(v)``, ``update(v, epoch)``."""

    def __init__(self, mode, min_delta):
        self.mode, self.min_delta = mode, min_delta
        self.value, self.epoch = (math.inf if mode == "min" else -math.inf), None

    def improves(self, v):
        if math.isnan(v):
            return False
        if self.mode == "min":
            return v < self.value - self.min_delta
        return v > self.value + self.min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best`` the model's parameters are set back to the best epoch's
    when training ends (``on_train_end``: stopped or not, after every callback saw the last
    epoch; the optimizer keeps its last state).

    ``mode``: "min", "max" or "auto" (max for names ending in metric/accuracy/r2).
    After fit: ``best``, ``best_epoch``, ``stopped_epoch`` (None if it never stopped).
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best=True,
                 mode="auto"):
        self.monitor = _check_monitor(monitor)
        self.patience = _checks.integer(patience, "patience", low=0)
        self.min_delta = _checks.real(min_delta, "min_delta", low=0.0)
        self.restore_best = _checks.flag(restore_best, "restore_best")
        self.mode = _monitor_mode(monitor, mode)
        self._reset()

    def _reset(self):
        self._best = _Best(self.mode, self.min_delta)
        self.wait, self.stopped_epoch, self.best_params = 0, None, None

    @property
    def best(self):
        return self._best.value

    @property
    def best_epoch(self):
        return self._best.epoch

    def set_context(self, model, optimizer, schedule=None, history=None, **info):
        super().set_context(model, optimizer, schedule, history, **info)
        self._reset()

    def on_epoch_end(self, epoch, logs):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self._best.improves(value):
            self._best.value, self._best.epoch, self.wait = value, epoch, 0
            if self.restore_best:
                if self.model is None:
                    raise RuntimeError("EarlyStopping(restore_best=True) needs the model: "
                                       "pass it to fastgd.fit, which calls set_context")
                self.best_params = self.model._flat.copy()
            return False
        self.wait += 1
        if self.wait > self.patience:
            # restored in on_train_end, after every callback has seen this epoch's state
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, history):
        self._restore()

    def _restore(self):
        if self.restore_best and self.best_params is not None and self.model is not None:
            self.model._flat[...] = self.best_params


class ModelCheckpoint(Callback):
    """Write a checkpoint (``fastgd.save``: model, optimizer, schedule, History, epoch)
    every ``every`` epochs.

    ``path`` may hold ``str.format`` fields filled from the epoch's logs, with ``epoch``
    counted from 1 (``"run-{epoch:03d}.npz"``); then ``keep=k`` deletes all but the last
    ``k`` files this callback wrote. ``save_best=True`` writes only when ``monitor``
    improves. Each write is atomic, so ``path`` always holds a whole checkpoint.
    """

    def __init__(self, path, every=1, keep=None, save_best=False, monitor="val_loss",
                 mode="auto", **meta):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or path, got {type(path).__name__}")
        self.path = os.fspath(path)
        self.every = _checks.integer(every, "every", low=1)
        self.keep = None if keep is None else _checks.integer(keep, "keep", low=1)
        self.save_best = _checks.flag(save_best, "save_best")
        self.monitor = _check_monitor(monitor)
        self._best = _Best(_monitor_mode(monitor, mode), 0.0)
        self.meta = meta
        self.written = []

    def on_epoch_end(self, epoch, logs):
        if self.model is None:
            raise RuntimeError("ModelCheckpoint needs the model: pass it to fastgd.fit, "
                               "which calls set_context")
        if self.save_best:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not self._best.improves(value):
                return False
            self._best.value, self._best.epoch = value, epoch
        elif (epoch + 1) % self.every:
            return False
        from fastgd.training.checkpoint import save
        fields = {k: v for k, v in logs.items() if k != "epoch"}
        try:
            path = self.path.format(epoch=epoch + 1, **fields)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: path {self.path!r} cannot be formatted "
                             f"from the logs ({e})") from None
        # with History, save takes epoch (and batch, for an epoch cut short) from it
        written = save(path, self.model, self.optimizer, self.schedule, self.history,
                       epoch=None if self.history is not None else epoch + 1, **self.meta)
        if written in self.written:
            self.written.remove(written)
        self.written.append(written)
        if self.keep is not None:
            while len(self.written) > self.keep:
                old = self.written.pop(0)
                try:
                    os.remove(old)
                except FileNotFoundError:
                    pass
        return False


class CSVLogger(Callback):
    """Append one row per epoch to the CSV file ``path`` (header first). The file is
    opened, written and closed each epoch, so it is complete whenever training stops.
    ``append=True`` continues an existing file (a resumed run) without a second header."""

    def __init__(self, path, separator=",", append=False):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or path, got {type(path).__name__}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator: expected one character, got {separator!r}")
        self.path, self.separator = os.fspath(path), separator
        self.append = _checks.flag(append, "append")
        self.fields = None

    def set_context(self, model, optimizer, schedule=None, history=None, **info):
        super().set_context(model, optimizer, schedule, history, **info)
        self.fields = None

    def on_epoch_end(self, epoch, logs):
        new = self.fields is None
        if new:
            self.fields = list(logs)
            if self.append and os.path.exists(self.path) and os.path.getsize(self.path):
                with open(self.path, newline="") as f:
                    header = next(csv.reader(f, delimiter=self.separator), None)
                if header:
                    self.fields, new = header, False
        mode = "a" if not new or self.append else "w"
        with open(self.path, mode, newline="") as f:
            w = csv.DictWriter(f, self.fields, delimiter=self.separator, restval="",
                               extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({k: "" if v is None else repr(v) if isinstance(v, float) else v
                        for k, v in logs.items()})
        return False


class ProgressBar(Callback):
    """A bar over the run's batches: tqdm when installed, else a plain line redrawn in
    place. Within an epoch it moves at the C loop's periodic look for signals (every
    ~25 ms of work: ``on_progress``), so the batches run as they would without it and
    nothing in Python runs per batch; with ``callback_every`` it also moves at each chunk.
    After each epoch a line with the epoch's numbers is printed above it. Drawn only when
    ``stream`` (default stdout) is a terminal, unless ``enabled=True``; ``enabled=False``
    turns it off (and then fit does not report progress at all)."""

    def __init__(self, stream=None, enabled=None, desc="training"):
        self.enabled = None if enabled is None else _checks.flag(enabled, "enabled")
        self.stream, self.desc = stream, desc
        self._bar = None

    def set_context(self, model, optimizer, schedule=None, history=None, **info):
        super().set_context(model, optimizer, schedule, history, **info)
        stream = sys.stdout if self.stream is None else self.stream
        enabled = _progress.is_tty(stream) if self.enabled is None else bool(self.enabled)
        self._epochs, self._nb = info.get("epochs"), info.get("n_batches")
        self._first = info.get("initial_epoch", 0)
        self._close()
        if enabled:
            total = self._epochs * self._nb if self._epochs and self._nb else None
            self._bar = _Bar(total, stream, self.desc)
        self._done = 0

    def wants_progress(self):
        """fit reports progress within epochs only to a bar that is drawn."""
        return self._bar is not None

    def on_progress(self, epoch, logs):
        self._move(epoch, logs)

    def on_batches_end(self, epoch, logs):
        self._move(epoch, logs)
        return False

    def _move(self, epoch, logs):
        if self._bar is not None:
            done = (epoch - self._first) * (self._nb or 0) + logs["batches"]
            self._bar.update(done - self._done, f"epoch {epoch + 1}  loss {logs['loss']:.4f}")
            self._done = done

    def on_epoch_end(self, epoch, logs):
        if self._bar is None:
            return False
        done = (epoch - self._first + 1) * (self._nb or 0)
        parts = [f"epoch {epoch + 1}" + (f"/{self._first + self._epochs}" if self._epochs
                                         else ""), f"loss {logs['loss']:.4f}"]
        for k in ("train_metric", "val_loss", "val_metric"):
            if logs.get(k) is not None:
                parts.append(f"{k} {logs[k]:.4f}")
        parts.append(f"lr {logs['lr']:.3g}")
        parts.append(f"{logs['time']:.2f}s")
        self._bar.write("  ".join(parts))
        self._bar.update(done - self._done, f"epoch {epoch + 1}")
        self._done = done
        return False

    def on_train_end(self, history):
        self._close()

    def close(self):
        self._close()

    def _close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Bar:
    """tqdm over batches when installed, else a plain ``desc [####----] n/N`` line."""

    width = 24

    def __init__(self, total, stream, desc):
        tqdm = _progress._tqdm()
        self.stream, self.total, self.n, self.desc = stream, total, 0, desc
        self._tqdm, self.postfix, self._shown = tqdm, "", 0
        self._t0 = time.perf_counter()
        if tqdm is not None:
            self._bar = tqdm(total=total, desc=desc, unit="batch", file=stream, leave=False)
        else:
            self._draw()

    def update(self, n, postfix):
        if self._tqdm is not None:
            self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.update(n)
            return
        self.n += n
        self.postfix = postfix
        self._draw()

    def write(self, line):
        if self._tqdm is not None:
            self._tqdm.write(line, file=self.stream)
            return
        self._clear()
        self.stream.write(line + "\n")
        self._draw()

    def _draw(self):
        if self.total:
            done = int(self.width * min(self.n, self.total) / self.total)
            bar = f"[{'#' * done}{'-' * (self.width - done)}] {self.n}/{self.total}"
        else:
            bar = f"{self.n} batches"
        text = (f"{self.desc} {bar}  {time.perf_counter() - self._t0:.1f}s  "
                f"{self.postfix}").rstrip()
        self.stream.write("\r" + text + " " * max(0, self._shown - len(text)))
        self.stream.flush()
        self._shown = len(text)

    def _clear(self):
        if self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def close(self):
        if self._tqdm is not None:
            self._bar.close()
            return
        self._clear()
        self.stream.flush()
