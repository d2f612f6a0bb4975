"""fit(): train a model with batch, mini-batch or stochastic gradient descent.

Design: Python runs once per epoch -- the epoch's order (fastgd.batching), the learning
rates of a per-batch schedule (pure ``lr_at``), validation, callbacks -- and the C engine
runs the epoch's batches without the GIL (fastgd/model/_engine.pyx). When the engine cannot
(a custom loss, an optimizer that is not one of fastgd's built-in classes, parameter groups
that split the model), the same epochs run as a per-batch Python loop that calls the
optimizer's ``step`` -- slower, still correct; ``History.fast_path`` says which ran.
``fastgd.reference.fit`` is this module's loop with NumPy forward/backward passes.
"""
import math
import numbers
import time

import numpy as np

from fastgd import batching

from fastgd._runtime import threads as _threads
from fastgd.training.history import History, NonFiniteLossError
from fastgd.model.mlp import MLP
from fastgd.optim.base import Optimizer
from fastgd.reference import mlp as ref


def fit(model, X, y, optimizer, *, epochs, batch_size, shuffle=True, seed=None,
        schedule=None, callbacks=(), validation_data=None, verbose=0, drop_last=False,
        loss=None, initial_epoch=0, n_threads=None, callback_every=None):
    """Train ``model`` on (X, y) in place; returns a :class:`History`.

    batch_size: ``len(X)`` is batch gradient descent, 1 is stochastic gradient descent,
    anything between is mini-batch; the last partial batch is used unless ``drop_last``.
    Epoch e's order is ``batching.epoch_order(len(X), seed, e, shuffle)``, so
    ``initial_epoch=k`` resumes a run with the batches it would have seen.
    schedule: a fastgd schedule attached to ``optimizer``, stepped per epoch or per batch
    (its ``interval``); ReduceLROnPlateau is stepped with the validation loss (or the
    training loss without validation data). callbacks: callables ``cb(epoch, logs)`` or
    objects with ``on_epoch_end(epoch, logs)``; returning True stops training. With
    ``callback_every=N`` the C loop also returns to Python every N batches and calls
    ``on_batches_end(epoch, logs)`` of the callbacks that have it (True stops there).
    loss: None (the model's own) or ``f(logits, targets) -> (mean_loss, dL/dlogits)``.
    X may be float32/float64, C- or F-ordered, or a numpy.memmap: batches are gathered
    (and converted to the model's dtype) row by row; X is never copied whole.
    """
    run = _prepare(model, X, y, optimizer, epochs, batch_size, shuffle, seed, schedule,
                   callbacks, validation_data, verbose, drop_last, loss, initial_epoch,
                   callback_every)
    n_threads = _threads.resolve(n_threads)
    engine_ok = loss is None and _engine_eligible(model, optimizer, schedule)
    if engine_ok:
        engine = model._engine(min(batch_size, run.n), n_threads)
        def runner(order, b0, b1, lrs):
            return _engine_epoch(engine, run, optimizer, order, b0, b1, lrs)
    else:
        grad_fn = _custom_loss_grad_fn(model, optimizer, loss) if loss is not None else \
            _engine_grad_fn(model, optimizer, min(batch_size, run.n), n_threads)
        def runner(order, b0, b1, lrs):
            return python_epoch(run, optimizer, order, b0, b1, lrs, grad_fn)
    with _threads.single_threaded_blas():
        return run_epochs(run, model, optimizer, schedule, runner, fast_path=engine_ok)


class _Run:
    """A validated fit call: data, targets and the once-per-epoch settings."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _prepare(model, X, y, optimizer, epochs, batch_size, shuffle, seed, schedule,
             callbacks, validation_data, verbose, drop_last, loss, initial_epoch,
             callback_every=None):
    """Check every argument before anything is touched."""
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a fastgd.MLP, got {type(model).__name__}")
    X = model.check_X(X)
    labels, Y = model.encode_targets(y, X.shape[0])
    epochs = _int_arg(epochs, "epochs", 0)
    batch_size = _int_arg(batch_size, "batch_size", 1)
    initial_epoch = _int_arg(initial_epoch, "initial_epoch", 0)
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "param_groups"):
        raise TypeError("optimizer: expected an optimizer with step(grads) and param_groups, "
                        f"got {type(optimizer).__name__}")
    if isinstance(optimizer, Optimizer):
        owned = {id(p) for g in optimizer.param_groups for p in g["params"]}
        if owned != {id(p) for p in model.parameters()}:
            raise ValueError("optimizer: must be built on model.parameters() (it holds "
                             "other arrays)")
    if schedule is not None and not (hasattr(schedule, "step") and hasattr(schedule, "interval")):
        raise TypeError("schedule: expected a fastgd schedule (with step() and interval), got "
                        f"{type(schedule).__name__}")
    if schedule is not None and getattr(schedule, "optimizer", None) is not optimizer:
        raise ValueError("schedule: must be attached to the optimizer passed to fit")
    if schedule is not None and schedule.interval == "batch" and not hasattr(schedule, "lrs_at"):
        raise ValueError(f"schedule: {type(schedule).__name__} has no closed form to step per "
                         "batch; use interval='epoch'")
    _check_schedule_covers(schedule, X.shape[0], batch_size, drop_last, epochs)
    verbose = _int_arg(verbose, "verbose", 0)
    if callback_every is not None:
        callback_every = _int_arg(callback_every, "callback_every", 1)
    if loss is not None and not callable(loss):
        raise TypeError(f"loss: expected None or a callable, got {loss!r}")
    if callable(callbacks) or hasattr(callbacks, "on_epoch_end") or \
            hasattr(callbacks, "on_batches_end"):
        callbacks = (callbacks,)
    callbacks = tuple(callbacks)
    for i, cb in enumerate(callbacks):
        if not (callable(cb) or hasattr(cb, "on_epoch_end") or hasattr(cb, "on_batches_end")):
            raise TypeError(f"callbacks[{i}]: expected a callable or an object with "
                            "on_epoch_end and/or on_batches_end")
    val = None
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError("validation_data: expected a pair (X_val, y_val)")
        Xv = model.check_X(validation_data[0], "validation_data[0]")
        val = (Xv, validation_data[1])
        model.encode_targets(validation_data[1], Xv.shape[0], "validation_data[1]")
    n = X.shape[0]
    if drop_last and batch_size > n:
        raise ValueError(f"batch_size: {batch_size} > {n} samples with drop_last=True "
                         "leaves no batch")
    if seed is None:
        seed = batching.new_seed()
    elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: expected None or an int >= 0, got {seed!r}")
    return _Run(model=model, X=X, labels=labels, Y=Y, n=n, epochs=epochs,
                batch_size=batch_size, shuffle=bool(shuffle), seed=int(seed),
                callbacks=callbacks, val=val, verbose=int(verbose), drop_last=bool(drop_last),
                initial_epoch=initial_epoch, callback_every=callback_every)


def _check_schedule_covers(schedule, n, batch_size, drop_last, epochs):
    """Refuse, before training, a schedule that fit cannot follow to the end."""
    if schedule is None or not hasattr(schedule, "lrs_at") or epochs == 0:
        return
    if schedule.interval == "batch" and getattr(schedule, "cycle_momentum", False):
        raise ValueError("schedule: fit applies a per-batch schedule's learning rates batch "
                         "by batch but not its momentum; pass cycle_momentum=False (or "
                         "interval='epoch')")
    per_epoch = batching.n_batches(n, batch_size, drop_last) \
        if schedule.interval == "batch" else 1
    try:   # the step after the last epoch computes this one too
        schedule.lrs_at(schedule.last_epoch + epochs * per_epoch)
    except ValueError as e:
        raise ValueError(f"schedule: does not cover this fit ({epochs} epochs of "
                         f"{per_epoch} step(s)): {e}") from None


def _int_arg(v, name, low):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {v!r}")
    if v < low:
        raise ValueError(f"{name}: expected >= {low}, got {v}")
    return int(v)


def _engine_eligible(model, optimizer, schedule):
    # a subclass that overrides step (or the arithmetic) must see every batch in Python
    if (type(optimizer).step is not Optimizer.step or type(optimizer)._apply is not
            Optimizer._apply or len(optimizer.param_groups) != 1):
        return False
    params = optimizer.param_groups[0]["params"]
    if len(params) != len(model.parameters()):
        return False
    if any(p is not q for p, q in zip(params, model.parameters())):
        return False
    return schedule is None or schedule.interval == "epoch" or hasattr(schedule, "lr_at")


def _batch_lrs(schedule, nb):
    """Per-batch learning rates of one epoch for a per-batch schedule, else None."""
    if schedule is None or schedule.interval != "batch":
        return None
    start = schedule.last_epoch
    return [schedule.lrs_at(start + j) for j in range(nb)]


def _engine_epoch(engine, run, optimizer, order, b0, b1, lrs):
    """Batches [b0, b1) of an epoch in the C engine; returns (loss sum, rows, failed batch)."""
    group, gstate = optimizer.param_groups[0], optimizer._group_state[0]
    optimizer._refresh(group, gstate)           # validates an edited group, as step() does
    hyper = dict(gstate["hyper"], step=gstate["step"] + 1, mu_product=gstate["mu_product"])
    state = gstate["state"]
    lrs = None if lrs is None else [row[0] for row in lrs[b0:b1]]
    loss_sum, rows, done, bad, mu = engine.run_epoch(
        run.X, run.labels, run.Y, order[b0 * run.batch_size:], run.batch_size, b1 - b0,
        hyper, state, lrs)
    gstate["step"] += done
    gstate["mu_product"] = mu
    return loss_sum, rows, (b0 + bad if bad >= 0 else -1)


def _engine_grad_fn(model, optimizer, batch_max, n_threads):
    engine = model._engine(batch_max, n_threads)
    grads = _in_optimizer_order(model, optimizer, model._grads)

    def grad_fn(Xb, targets):
        labels, Y = (targets, None) if model.output == "softmax" else (None, targets)
        return engine.loss_and_grads(Xb, labels, Y), grads
    return grad_fn


def _in_optimizer_order(model, optimizer, grads):
    """The model's gradients listed as the optimizer lists its parameters (param groups
    may hold them in another order than model.parameters())."""
    by_id = {id(p): g for p, g in zip(model.parameters(), grads)}
    return [by_id[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _custom_loss_grad_fn(model, optimizer, loss):
    def grad_fn(Xb, targets):
        params = model.parameters()
        logits, inputs = ref.forward(params, Xb, model.activation)
        value, dlogits = loss(logits, targets)
        grads = ref.backward(params, inputs, np.asarray(dlogits, model.dtype),
                             model.activation, model.alpha)
        return float(value), _in_optimizer_order(model, optimizer, grads)
    return grad_fn


def python_epoch(run, optimizer, order, b0, b1, lrs, grad_fn):
    """Batches [b0, b1) as a per-batch Python loop (the fallback, and fastgd.reference.fit)."""
    loss_sum, rows, bs = 0.0, 0, run.batch_size
    for b in range(b0, b1):
        idx = order[b * bs:(b + 1) * bs]
        Xb = np.asarray(run.X[idx], dtype=run.model.dtype)
        targets = run.labels[idx] if run.labels is not None else \
            np.asarray(run.Y[idx], dtype=run.model.dtype)
        if lrs is not None:
            for group, lr in zip(optimizer.param_groups, lrs[b]):
                group["lr"] = lr
        # A diverging run is reported by NonFiniteLossError (after restoring the model);
        # NumPy's overflow warnings, raised as errors under -W error, would skip the restore.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, grads = grad_fn(Xb, targets)
            if not math.isfinite(loss):
                return loss_sum, rows, b
            loss_sum += loss * len(idx)
            rows += len(idx)
            optimizer.step(grads)
    return loss_sum, rows, -1


def run_epochs(run, model, optimizer, schedule, runner, fast_path):
    """The once-per-epoch loop shared by every path."""
    history = History(seed=run.seed, metric_name=model.metric_name, fast_path=fast_path)
    nb = batching.n_batches(run.n, run.batch_size, run.drop_last)
    for epoch in range(run.initial_epoch, run.initial_epoch + run.epochs):
        order = batching.epoch_order(run.n, run.seed, epoch, run.shuffle)
        saved = (model._flat.copy(), optimizer.state_dict() if hasattr(optimizer, "state_dict") else None,
                 schedule.state_dict() if schedule is not None else None)
        lr = float(optimizer.param_groups[0]["lr"])
        lrs = _batch_lrs(schedule, nb)
        loss_sum, rows, bad, stop, seconds = 0.0, 0, -1, False, 0.0
        for b0 in range(0, nb, run.callback_every or max(nb, 1)):
            b1 = min(nb, b0 + (run.callback_every or nb))
            t0 = time.perf_counter()
            part_loss, part_rows, bad = runner(order, b0, b1, lrs)
            seconds += time.perf_counter() - t0
            loss_sum, rows = loss_sum + part_loss, rows + part_rows
            if bad >= 0:
                break
            if run.callback_every and b1 < nb:
                stop = _batch_callbacks_stop(run.callbacks, epoch, {
                    "epoch": epoch, "batches": b1, "n_batches": nb, "samples": rows,
                    "loss": loss_sum / max(rows, 1), "lr": lr, "time": seconds})
                if stop:
                    break
        if bad >= 0:
            model._flat[...] = saved[0]
            if saved[1] is not None:
                optimizer.load_state_dict(saved[1])
            if saved[2] is not None:
                schedule.load_state_dict(saved[2])
            raise NonFiniteLossError(epoch, bad, nb, history)
        if lrs is not None:
            schedule.advance(b1 if stop else nb)
        logs = {"epoch": epoch, "lr": lr, "time": seconds, "samples": rows,
                "loss": loss_sum / max(rows, 1) + ref.l2_penalty(model.parameters(), model.alpha)}
        if run.val is not None:
            logs["val_loss"] = model.loss(*run.val)
            logs["val_metric"] = model.score(*run.val)
        if schedule is not None:
            if hasattr(schedule, "lr_at"):
                if schedule.interval == "epoch":
                    schedule.step()
            else:
                schedule.step(logs.get("val_loss", logs["loss"]))
        history.append(logs)
        if run.verbose:
            _print_epoch(logs, run, model)
        if _callbacks_stop(run.callbacks, epoch, logs) or stop:
            history.stopped_early = True
            break
    return history


def _batch_callbacks_stop(callbacks, epoch, logs):
    """Every ``callback_every`` batches: objects with on_batches_end(epoch, logs)."""
    stop = False
    for cb in callbacks:
        if hasattr(cb, "on_batches_end"):
            stop = bool(cb.on_batches_end(epoch, dict(logs))) or stop
    return stop


def _callbacks_stop(callbacks, epoch, logs):
    stop = False
    for cb in callbacks:
        fn = cb.on_epoch_end if hasattr(cb, "on_epoch_end") else cb
        if callable(fn):
            stop = bool(fn(epoch, dict(logs))) or stop
    return stop


def _print_epoch(logs, run, model):
    parts = [f"epoch {logs['epoch'] + 1}/{run.initial_epoch + run.epochs}",
             f"loss {logs['loss']:.4f}"]
    if "val_loss" in logs:
        parts += [f"val_loss {logs['val_loss']:.4f}",
                  f"val_{model.metric_name} {logs['val_metric']:.4f}"]
    rate = logs["samples"] / logs["time"] if logs["time"] > 0 else float("inf")
    parts += [f"lr {logs['lr']:.3g}", f"{logs['time']:.2f}s", f"{rate:,.0f} samples/s"]
    print("  ".join(parts), flush=True)
