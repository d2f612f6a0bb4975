"""A validated ``fit`` call: the checks both training loops (``fastgd.fit`` and
``fastgd.reference.fit``) run before anything changes, and the frozen record they return.

Design: this module is neutral ground. It imports only NumPy, the standard library and the
pure shared specifications (fastgd._checks, fastgd.batching), and it reaches the model,
the optimizer and the schedule only through their methods (``check_X``,
``encode_targets``, ``param_groups``, ``lrs_at``), so the reference can use it without
leaning on the fast path. Data is checked (NaN/inf scan) and targets encoded exactly once
per fit, validation data included.
"""
import numbers
from dataclasses import dataclass

import numpy as np

from fastgd import _checks, batching
from fastgd.training.history import AverageState

__all__ = ["FitCall", "prepare_fit"]


@dataclass(frozen=True)
class FitCall:
    """Everything a training loop needs, checked. ``labels`` (int64 class ids) or ``Y``
    (float targets) is set, the other None; ``val`` is None or (X, labels, Y). ``rows``:
    None (train on every row of X) or the sorted training rows left by
    ``validation_split``; ``n`` counts the rows trained on."""
    model: object
    X: object
    labels: object
    Y: object
    n: int
    optimizer: object
    schedule: object
    epochs: int
    batch_size: int
    shuffle: bool
    seed: int
    callbacks: tuple
    val: tuple
    verbose: int
    drop_last: bool
    loss: object
    initial_epoch: int
    callback_every: int
    rows: object = None
    train_metric: object = False  # "running" (measured in the loss pass), True (a pass at
                                  # each epoch's end) or False
    initial_batch: int = 0
    average: tuple = None         # (mode, beta, first epoch) of weight averaging, or None
    final_average: bool = False   # the model ends with the averaged weights
    clip_norm: float = None       # each batch's gradient: global L2 norm at most this
    clip_value: float = None      # ... and each element within [-clip_value, clip_value]
    weights: object = None      # float64 per-row weights (sample x class weight), or None
    initial_average: object = None   # AverageState a resumed average starts from, or None

    @property
    def n_batches(self):
        return batching.n_batches(self.n, self.batch_size, self.drop_last)

    def targets(self, idx):
        """The targets of rows ``idx``: class ids, or float rows in the model's dtype."""
        if self.labels is not None:
            return self.labels[idx]
        return self.Y[idx].astype(self.model.dtype, copy=False)


def prepare_fit(model, X, y, optimizer, *, epochs, batch_size, shuffle=True, seed=None,
                schedule=None, callbacks=(), validation_data=None, verbose=0,
                drop_last=False, loss=None, initial_epoch=0, callback_every=None,
                validation_split=None, train_metric="running", initial_batch=0, ema=None,
                ema_start="zeros", average=False, final_average=False, clip_norm=None,
                clip_value=None, sample_weight=None, class_weight=None,
                initial_average=None):
    """Check every argument of a fit call before anything is touched; a FitCall."""
    if not callable(getattr(model, "encode_targets", None)):
        raise TypeError(f"model: expected a fastgd.MLP, got {type(model).__name__}")
    if validation_split is not None:
        validation_split = _checks.real(validation_split, "validation_split", low=0.0,
                                        high=1.0, low_open=True, high_open=True)
        if validation_data is not None:
            raise ValueError("validation_split: expected None when validation_data is "
                             f"given, got {validation_split!r}")
    if not (isinstance(train_metric, str) and train_metric == "running"):
        if isinstance(train_metric, str):
            raise TypeError(f"train_metric: expected True, False or 'running', got "
                            f"{train_metric!r}")
        train_metric = _checks.flag(train_metric, "train_metric")
    shuffle = _checks.flag(shuffle, "shuffle")
    flat = getattr(model, "_flat", None)
    if flat is not None and not flat.flags.writeable:
        raise ValueError("model: expected writable parameters (fit updates them in place), "
                         "got a read-only parameter buffer")
    averaging = _check_average(ema, ema_start, average)
    final_average = _checks.flag(final_average, "final_average")
    if clip_norm is not None:
        clip_norm = _checks.real(clip_norm, "clip_norm", low=0.0, low_open=True)
    if clip_value is not None:
        clip_value = _checks.real(clip_value, "clip_value", low=0.0)
    if final_average and averaging is None:
        raise ValueError("final_average: expected ema= or average= to be set with it, got "
                         "neither")
    initial_average = _check_initial_average(initial_average, averaging, model)
    X = model.check_X(X)
    labels, Y = model.encode_targets(y, X.shape[0])
    epochs = _checks.integer(epochs, "epochs", low=0)
    batch_size = _checks.integer(batch_size, "batch_size", low=1)
    initial_epoch = _checks.integer(initial_epoch, "initial_epoch", low=0)
    initial_batch = _checks.integer(initial_batch, "initial_batch", low=0)
    verbose = _checks.integer(verbose, "verbose", low=0)
    if callback_every is not None:
        callback_every = _checks.integer(callback_every, "callback_every", low=1)
    seed = batching.new_seed() if seed is None else _checks.integer(seed, "seed", low=0)
    rows, val = None, None
    if validation_split is not None:
        rows, val_rows = _validation_rows(X.shape[0], labels, validation_split, seed)
        val = (X[val_rows], None if labels is None else labels[val_rows],
               None if Y is None else Y[val_rows])
    n = X.shape[0] if rows is None else len(rows)
    _check_optimizer(model, optimizer)
    _check_schedule(schedule, optimizer, n, batch_size, drop_last, epochs, initial_batch)
    if loss is not None and not callable(loss):
        raise TypeError(f"loss: expected None or a callable, got {loss!r}")
    callbacks = _check_callbacks(callbacks)
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError("validation_data: expected a pair (X_val, y_val)")
        Xv = model.check_X(validation_data[0], "validation_data[0]")
        val = (Xv, *model.encode_targets(validation_data[1], Xv.shape[0],
                                         "validation_data[1]"))
    if drop_last and batch_size > n:
        raise ValueError(f"batch_size: expected at most {n} (the samples) with "
                         f"drop_last=True, got {batch_size}")
    if initial_batch and initial_batch >= batching.n_batches(n, batch_size, drop_last):
        raise ValueError(f"initial_batch: expected an int below the epoch's "
                         f"{batching.n_batches(n, batch_size, drop_last)} batches, got "
                         f"{initial_batch}")
    weights = row_weights(model, labels, Y, X.shape[0], sample_weight, class_weight, rows)
    if weights is not None and loss is not None:
        raise ValueError("sample_weight/class_weight: not supported with a custom loss "
                         "(weight the rows inside the loss instead)")
    return FitCall(model=model, X=X, labels=labels, Y=Y, n=n, optimizer=optimizer,
                   schedule=schedule, epochs=epochs, batch_size=batch_size,
                   shuffle=bool(shuffle), seed=seed, callbacks=callbacks, val=val,
                   verbose=verbose, drop_last=bool(drop_last), loss=loss,
                   initial_epoch=initial_epoch, callback_every=callback_every, rows=rows,
                   train_metric=train_metric, initial_batch=initial_batch,
                   average=averaging, final_average=final_average, clip_norm=clip_norm,
                   clip_value=clip_value, weights=weights, initial_average=initial_average)


def _validation_rows(n, labels, fraction, seed):
    """(training rows, validation rows), both sorted: ``round(fraction * n_c)`` rows of
    each class c held out (stratified; regression: of all rows), drawn by a generator
    seeded from fit's seed alone -- so a resumed run (same seed) holds out the same rows.
    The stream differs from every epoch's order (``default_rng([seed, epoch])``)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5EED,)))
    groups = [np.arange(n)] if labels is None else \
        [np.flatnonzero(labels == c) for c in np.unique(labels)]
    held = [rng.permutation(g)[:int(round(fraction * len(g)))] for g in groups]
    val = np.sort(np.concatenate(held)).astype(np.int64)
    if len(val) == 0 or len(val) == n:
        raise ValueError(f"validation_split: expected a fraction that leaves rows on both "
                         f"sides of {n} samples, got {fraction!r} ({len(val)} held out)")
    keep = np.ones(n, dtype=bool)
    keep[val] = False
    return np.flatnonzero(keep).astype(np.int64), val


def _check_average(ema, ema_start, average):
    """(mode, beta, first epoch) of fit's weight averaging (fastgd/reference/average.py),
    or None: ``ema=beta`` with ``ema_start`` "zeros" (bias-corrected) or "copy", or
    ``average=True`` / ``average=k`` for Polyak's mean from epoch k."""
    _checks.choice(ema_start, "ema_start", ("zeros", "copy"))
    if average is not False and average is not None:
        first = 0 if average is True else _checks.integer(average, "average", low=0)
        if ema is not None:
            raise ValueError(f"average: expected False with ema={ema!r} (one average at a "
                             f"time), got {average!r}")
        return ("polyak", 0.0, first)
    if ema is None:
        return None
    beta = _checks.real(ema, "ema", low=0.0, high=1.0, low_open=True, high_open=True)
    return ("ema" if ema_start == "zeros" else "ema_copy", beta, 0)


def _check_initial_average(state, averaging, model):
    """A resumed average: an AverageState of the averaging this fit does (same mode, beta
    and first epoch), with one finite weight of the model's dtype per parameter."""
    if state is None:
        return None
    if not isinstance(state, AverageState):
        raise TypeError("initial_average: expected an AverageState (Checkpoint.average, "
                        f"History.average_state) or None, got {type(state).__name__}")
    if averaging is None:
        raise ValueError("initial_average: expected ema= or average= to be set with it, "
                         "got neither")
    if (state.mode, state.beta, state.first) != averaging:
        raise ValueError(f"initial_average: expected the average of this fit's settings "
                         f"(mode, beta, first epoch) {averaging}, got "
                         f"{(state.mode, state.beta, state.first)}")
    _checks.integer(state.count, "initial_average.count", low=0)
    n = sum(p.size for p in model.parameters())
    w = state.weights
    if not isinstance(w, np.ndarray) or w.dtype != model.dtype or w.shape != (n,):
        raise ValueError(f"initial_average.weights: expected a flat {np.dtype(model.dtype)} "
                         f"array of {n} values, got "
                         f"{getattr(w, 'dtype', type(w).__name__)} {getattr(w, 'shape', '')}")
    if not np.isfinite(w).all():
        raise ValueError("initial_average.weights: expected finite values")
    return state


def row_weights(model, labels, Y, n, sample_weight, class_weight, rows=None):
    """One float64 weight per row of X: ``sample_weight`` (default 1) times the weight of
    the row's class; None when both are None. class_weight: ``{class id: weight}`` (classes
    not named weigh 1) or ``"balanced"`` (``n / (n_classes * count)`` over the classes
    present in the training ``rows``, scikit-learn's rule); it needs class ids (softmax) or
    one 0/1 sigmoid output."""
    if sample_weight is None and class_weight is None:
        return None
    if sample_weight is None:
        w = np.ones(n, dtype=np.float64)
    else:
        w = np.asarray(sample_weight)
        if w.dtype == np.bool_ or not np.issubdtype(w.dtype, np.number) or \
                np.iscomplexobj(w):
            raise TypeError(f"sample_weight: expected real numbers, got {w.dtype}")
        if w.shape != (n,):
            raise ValueError(f"sample_weight: expected shape ({n},), got {w.shape}")
        w = np.array(w, dtype=np.float64)        # a copy: the caller's array is not touched
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight: expected finite weights >= 0")
    if class_weight is not None:
        if labels is None and not (model.output == "sigmoid" and Y.shape[1] == 1):
            raise ValueError("class_weight: expected a softmax output (class ids) or one "
                             f"sigmoid output, got a {model.output} output with "
                             f"{Y.shape[1]} column(s)")
        ids = labels if labels is not None else (Y[:, 0] > 0.5).astype(np.int64)
        n_classes = model.layer_sizes[-1] if labels is not None else 2
        trained = ids if rows is None else ids[rows]
        counts = np.bincount(trained, minlength=n_classes)
        if isinstance(class_weight, str):
            _checks.choice(class_weight, "class_weight", ("balanced",))
            present = counts > 0
            per_class = np.ones(n_classes)
            per_class[present] = len(trained) / (np.count_nonzero(present) * counts[present])
        elif isinstance(class_weight, dict):
            per_class = np.ones(n_classes)
            for c, v in class_weight.items():
                if isinstance(c, bool) or not isinstance(c, numbers.Integral) or \
                        not 0 <= c < n_classes:
                    raise ValueError(f"class_weight: keys must be class ids in [0, "
                                     f"{n_classes}), got {c!r}")
                per_class[int(c)] = _checks.real(v, f"class_weight[{c}]", low=0)
        else:
            raise TypeError("class_weight: expected None, a dict {class id: weight} or "
                            f"'balanced', got {type(class_weight).__name__}")
        w *= per_class[ids]
    if not np.any(w > 0):
        raise ValueError("sample_weight: expected at least one weight > 0, got all zero")
    return w


def _check_optimizer(model, optimizer):
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "param_groups"):
        raise TypeError("optimizer: expected an optimizer with step(grads) and param_groups, "
                        f"got {type(optimizer).__name__}")
    owned = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if owned != {id(p) for p in model.parameters()}:
        raise ValueError("optimizer: expected one built on model.parameters(), got one "
                         "holding other arrays")


def _check_schedule(schedule, optimizer, n, batch_size, drop_last, epochs, initial_batch=0):
    """Refuse, before training, a schedule that fit cannot follow to the end."""
    if schedule is None:
        return
    if not (hasattr(schedule, "step") and hasattr(schedule, "interval")):
        raise TypeError("schedule: expected a fastgd schedule (with step() and interval), got "
                        f"{type(schedule).__name__}")
    if getattr(schedule, "optimizer", None) is not optimizer:
        raise ValueError("schedule: expected one attached to the optimizer passed to fit")
    if schedule.interval == "batch" and not hasattr(schedule, "lrs_at"):
        raise ValueError(f"schedule: {type(schedule).__name__} has no closed form to step per "
                         "batch; use interval='epoch'")
    if not hasattr(schedule, "lrs_at") or epochs == 0:
        return
    if schedule.interval == "batch" and getattr(schedule, "cycle_momentum", False):
        raise ValueError("schedule: fit applies a per-batch schedule's learning rates batch "
                         "by batch but not its momentum; pass cycle_momentum=False (or "
                         "interval='epoch')")
    per_epoch = batching.n_batches(n, batch_size, drop_last) \
        if schedule.interval == "batch" else 1
    skipped = initial_batch if schedule.interval == "batch" else 0
    try:   # the step after the last epoch computes this one too
        schedule.lrs_at(schedule.last_epoch + epochs * per_epoch - skipped)
    except ValueError as e:
        raise ValueError(f"schedule: does not cover this fit ({epochs} epochs of "
                         f"{per_epoch} step(s)): {e}") from None


_HOOKS = ("on_epoch_end", "on_batches_end", "on_progress")


def _check_callbacks(callbacks):
    if callable(callbacks) or any(hasattr(callbacks, h) for h in _HOOKS):
        callbacks = (callbacks,)
    callbacks = tuple(callbacks)
    for i, cb in enumerate(callbacks):
        if not (callable(cb) or any(hasattr(cb, h) for h in _HOOKS)):
            raise TypeError(f"callbacks[{i}]: expected a callable or an object with "
                            "on_epoch_end, on_batches_end and/or on_progress")
    return callbacks


def batch_lrs(schedule, n_batches):
    """Per-batch learning rates (one list per param group) of one epoch for a per-batch
    schedule, else None: the schedule's closed form, evaluated once per epoch."""
    if schedule is None or schedule.interval != "batch":
        return None
    start = schedule.last_epoch
    return [schedule.lrs_at(start + j) for j in range(n_batches)]


def callbacks_stop(callbacks, epoch, logs, hook="on_epoch_end"):
    """Call each callback's ``hook`` (plain callables count as on_epoch_end); True if any
    asked to stop. Each gets its own copy of logs."""
    stop = False
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is None and hook == "on_epoch_end" and callable(cb):
            fn = cb
        if fn is not None:
            stop = bool(fn(epoch, dict(logs))) or stop
    return stop
