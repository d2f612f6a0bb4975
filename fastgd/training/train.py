"""fit(): train a model with batch, mini-batch or stochastic gradient descent.

Design: Python runs once per epoch -- the epoch's order (fastgd.batching), the learning
rates of a per-batch schedule (pure ``lr_at``), validation, callbacks -- and the C engine
runs the epoch's batches without the GIL (fastgd/model/_engine.pyx). When the engine cannot
(a custom loss, an optimizer that is not one of fastgd's built-in classes, parameter groups
that split the model), the same epochs run as a per-batch Python loop that calls the
optimizer's ``step`` -- slower, still correct; ``History.fast_path`` says which ran.
``fastgd.reference.fit`` is a loop of its own over the NumPy specification; the two share
only the validated call (fastgd/training/fitcall.py) and the epoch order.
"""
import contextlib
import math
import signal
import threading
import time

import numpy as np

from fastgd import batching
from fastgd._runtime import threads as _threads
from fastgd.model import _engine
from fastgd.model.mlp import MLP
from fastgd.optim.base import Optimizer
from fastgd.reference import mlp as ref
from fastgd.reference.train import clip_gradients
from fastgd.training import callbacks as _callbacks
from fastgd.training.averaging import WeightAverage
from fastgd.training.fitcall import batch_lrs, callbacks_stop, prepare_fit
from fastgd.training.history import History, NonFiniteLossError, TrainingInterrupted


def fit(model, X, y, optimizer, *, epochs, batch_size, shuffle=True, seed=None,
        schedule=None, callbacks=(), validation_data=None, verbose=0, drop_last=False,
        loss=None, initial_epoch=0, n_threads=None, callback_every=None,
        validation_split=None, train_metric="running", initial_batch=0, ema=None,
        ema_start="zeros", average=False, final_average=False, clip_norm=None,
        clip_value=None, sample_weight=None, class_weight=None, initial_average=None,
        comm=None):
    """Train ``model`` on (X, y) in place; returns a :class:`History`.

    batch_size: ``len(X)`` is batch gradient descent, 1 is stochastic gradient descent,
    anything between is mini-batch; the last partial batch is used unless ``drop_last``.
    Epoch e's order is ``batching.epoch_order(len(X), seed, e, shuffle)``, so
    ``initial_epoch=k`` resumes a run with the batches it would have seen, and
    ``initial_batch=b`` starts epoch k at its batch b (a run stopped mid-epoch: see
    ``History.stopped_at``). Ctrl-C is seen within ~25 ms plus one batch: fit stops after
    that batch and raises :class:`TrainingInterrupted` (a KeyboardInterrupt) with model,
    optimizer, schedule and History agreeing with the batches applied.
    ema=beta: keep an exponentially weighted average of the weights, updated after every
    batch (in C on the fast path), from zero and bias-corrected (``ema_start="zeros"``,
    the lesson's form) or starting as a copy (``"copy"``, torch's and Keras'); average=True
    or average=k: Polyak's mean of the weights from epoch k instead. Validation uses the
    averaged weights, ``History.averaged_model`` holds them after fit, and
    ``final_average=True`` puts them into the model. initial_average: resume an average
    where it stood (``Checkpoint.average`` or ``History.average_state``, an AverageState
    made by a run with the same ema/average settings). clip_norm / clip_value: clip each
    batch's gradient to a global L2 norm (torch's clip_grad_norm_: scale by
    clip_norm / (norm + 1e-6) when below 1) and/or to [-clip_value, clip_value] per element,
    in C; the update then follows the whole gradient instead of being fused into it.
    schedule: a fastgd schedule attached to ``optimizer``, stepped per epoch or per batch
    (its ``interval``); ReduceLROnPlateau is stepped with the validation loss (or the
    training loss without validation data). callbacks: callables ``cb(epoch, logs)`` or
    objects with ``on_epoch_end(epoch, logs)``; returning True stops training. With
    ``callback_every=N`` the C loop also returns to Python every N batches and calls
    ``on_batches_end(epoch, logs)`` of the callbacks that have it (True stops there).
    A callback's optional ``set_context(model, optimizer, schedule, history, **info)`` is
    called once before the first epoch and ``on_train_end(history)`` after the last (see
    fastgd.training.callbacks); one with ``on_progress(epoch, logs)`` (a drawn
    ProgressBar) is also called from the C loop's look for signals, every ~25 ms of work
    (the batches unchanged; what it raises stops fit after the running batch).
    validation_split: a fraction of the rows held out for
    validation instead of ``validation_data``: stratified by class, drawn from ``seed``
    (the same rows on a resumed run). train_metric: History.train_metric per epoch --
    "running" (the default) the model's metric (accuracy; R^2 for a linear output) over
    the epoch's batches, each measured on the logits its loss was computed from, before
    its update (Keras' running metric; counted in the C loss pass); True the metric of
    the end-of-epoch model over all training rows (one more forward pass); False none.
    loss: None (the model's own) or ``f(logits, targets) -> (mean_loss, dL/dlogits)``.
    X may be float32/float64, C- or F-ordered, or a numpy.memmap: batches are gathered
    (and converted to the model's dtype) row by row; X is never copied whole.
    sample_weight: one weight >= 0 per row; class_weight: ``{class id: weight}`` or
    "balanced" (softmax, or one sigmoid output), multiplying it. Each batch's data loss is
    then the weighted mean ``sum(w_i l_i) / sum(w_i)`` and its gradient at the logits
    ``w_i (p_i - y_i) / sum(w_i)`` (scikit-learn's MLP convention); the L2 penalty is not
    weighted; a batch of zero weights has no data gradient. History's loss averages the
    batches' losses over rows, as scikit-learn's loss curve does.
    comm: an mpi4py communicator: data-parallel training over its ranks, ``batch_size``
    rows per rank (fastgd.distributed.data_parallel_fit; every argument passes through).
    """
    if comm is not None:   # every argument, so options it lacks are refused by name
        args = dict(locals())
        from fastgd.distributed.data_parallel import data_parallel_fit
        return data_parallel_fit(**args)
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a fastgd.MLP, got {type(model).__name__}")
    run = prepare_fit(model, X, y, optimizer, epochs=epochs, batch_size=batch_size,
                      shuffle=shuffle, seed=seed, schedule=schedule, callbacks=callbacks,
                      validation_data=validation_data, verbose=verbose, drop_last=drop_last,
                      loss=loss, initial_epoch=initial_epoch, callback_every=callback_every,
                      validation_split=validation_split, train_metric=train_metric,
                      initial_batch=initial_batch, ema=ema, ema_start=ema_start,
                      average=average, final_average=final_average, clip_norm=clip_norm,
                      clip_value=clip_value, sample_weight=sample_weight,
                      class_weight=class_weight, initial_average=initial_average)
    n_threads = _threads.resolve(n_threads)
    avg = WeightAverage(run)
    engine_ok = loss is None and _engine_eligible(model, optimizer, schedule)
    if engine_ok:
        engine = model._engine(min(batch_size, run.n), n_threads)
        def runner(order, b0, b1, lrs, progress=None, metric=None):
            return _engine_epoch(engine, run, optimizer, order, b0, b1, lrs, avg,
                                 progress=progress, metric=metric)
    else:
        grad_fn = _custom_loss_grad_fn(model, optimizer, loss) if loss is not None else \
            _engine_grad_fn(model, optimizer, min(batch_size, run.n), n_threads)
        def runner(order, b0, b1, lrs, progress=None, metric=None):
            return python_epoch(run, optimizer, order, b0, b1, lrs, grad_fn, avg, progress,
                                metric)
    with _threads.single_threaded_blas(), _ctrl_c_as_request():
        return run_epochs(run, runner, fast_path=engine_ok, avg=avg)


@contextlib.contextmanager
def _ctrl_c_as_request():
    """While fit runs in the main thread under Python's default SIGINT handler, Ctrl-C only
    asks the loop to stop: the C epoch sees the request at its next look for signals and
    Python at its next safe point (after a chunk of batches, after an epoch's
    bookkeeping), so the signal never lands between an update and its count or a
    schedule's advance. A handler of the user's own is left alone (its exception is kept)."""
    if not (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
        yield
        return
    _engine.take_stop_request()     # a request left from an earlier fit is dropped
    previous = signal.signal(signal.SIGINT, lambda signum, frame: _engine.request_stop())
    try:
        yield
    except BaseException:
        signal.signal(signal.SIGINT, previous)
        _engine.take_stop_request()
        raise
    signal.signal(signal.SIGINT, previous)
    if _engine.take_stop_request():     # after the last safe point: deliver it now
        raise KeyboardInterrupt("Ctrl-C after fit's last epoch")


def _engine_eligible(model, optimizer, schedule):
    # a subclass that overrides step (or the arithmetic) must see every batch in Python
    # (param groups stay in C: each model parameter updated by its own group's rule)
    if (type(optimizer).step is not Optimizer.step or type(optimizer)._apply is not
            Optimizer._apply):
        return False
    owned = [p for group in optimizer.param_groups for p in group["params"]]
    if sorted(map(id, owned)) != sorted(map(id, model.parameters())):
        return False
    return schedule is None or schedule.interval == "epoch" or hasattr(schedule, "lr_at")


def _group_layout(model, optimizer):
    """Per model parameter: its param group, and the offset of its state in that group's
    buffers minus its offset in the model's flat buffer (see Engine.run_epoch)."""
    flat_offset, off = {}, 0
    for p in model.parameters():
        flat_offset[id(p)] = off
        off += p.size
    group_of, delta = {}, {}
    for g, group in enumerate(optimizer.param_groups):
        state_off = 0
        for p in group["params"]:
            group_of[id(p)] = g
            delta[id(p)] = state_off - flat_offset[id(p)]
            state_off += p.size
    params = model.parameters()
    return [group_of[id(p)] for p in params], [delta[id(p)] for p in params]


class _Interrupted(Exception):
    """A runner stopped by a signal after ``done`` batches of its chunk (all applied)."""

    def __init__(self, cause, done, loss_sum, rows):
        super().__init__()
        self.cause, self.done, self.loss_sum, self.rows = cause, done, loss_sum, rows


def _engine_epoch(engine, run, optimizer, order, b0, b1, lrs, avg, alphas=None,
                  progress=None, metric=None, layout=None):
    """Batches [b0, b1) of an epoch in the C engine; returns (loss sum, rows, failed batch).
    alphas: None, or one L2 coefficient per batch of the epoch, as ``lrs`` (fastgd.sklearn's
    convention, see Engine.run_epoch). progress: None, or ``progress(batches, rows, loss
    sum)`` of this chunk, called at the engine's looks for signals. metric: None, or a
    float64 array of one value the batches' training-metric terms are added to
    (reference.mlp.metric_terms). layout: ``_group_layout(run.model, optimizer)`` made
    once by a caller whose param groups cannot change between its epochs (~40 us an
    epoch otherwise)."""
    states = optimizer._group_state
    for group, gstate in zip(optimizer.param_groups, states):
        optimizer._refresh(group, gstate)   # re-validates only an edited group, as step()
    param_group, param_delta = layout or _group_layout(run.model, optimizer)
    loss_sum, rows, done, bad, mus, interrupted = engine.run_epoch(
        run.X, run.labels, run.Y, order[b0 * run.batch_size:], run.batch_size, b1 - b0,
        [s["rule"] for s in states], [s["step"] + 1 for s in states],
        [s["mu_product"] for s in states], [s["state"] for s in states], param_group,
        param_delta, None if lrs is None else lrs[b0:b1],
        avg.buf if avg.active else None, avg.engine_mode if avg.active else 0, avg.beta,
        avg.count, run.clip_norm or 0.0, -1.0 if run.clip_value is None else run.clip_value,
        run.weights, None if alphas is None else alphas[b0:b1], progress, metric)
    for gstate, mu in zip(states, mus):
        gstate["step"] += done
        gstate["mu_product"] = mu
    if avg.active:
        avg.count += done
    if interrupted:
        _engine.take_stop_request()
        raise _Interrupted(engine.interruption or KeyboardInterrupt(), done, loss_sum, rows)
    return loss_sum, rows, (b0 + bad if bad >= 0 else -1)


def _engine_grad_fn(model, optimizer, batch_max, n_threads):
    engine = model._engine(batch_max, n_threads)
    grads = _in_optimizer_order(model, optimizer, model._grads)

    def grad_fn(Xb, targets, wb=None, metric=None):
        labels, Y = (targets, None) if model.output == "softmax" else (None, targets)
        return engine.loss_and_grads(Xb, labels, Y, wb, metric), grads
    return grad_fn


def _in_optimizer_order(model, optimizer, grads):
    """The model's gradients listed as the optimizer lists its parameters (param groups
    may hold them in another order than model.parameters())."""
    by_id = {id(p): g for p, g in zip(model.parameters(), grads)}
    return [by_id[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _custom_loss_grad_fn(model, optimizer, loss):
    def grad_fn(Xb, targets, metric=None):
        params = model.parameters()
        logits, inputs = ref.forward(params, Xb, model.activation)
        if metric is not None:
            labels, Y = (targets, None) if model.output == "softmax" else (None, targets)
            metric[0] += ref.metric_terms(logits, labels, Y, model.output)
        value, dlogits = loss(logits, targets)
        grads = ref.backward(params, inputs, np.asarray(dlogits, model.dtype),
                             model.activation, model.alpha)
        return float(value), _in_optimizer_order(model, optimizer, grads)
    return grad_fn


def python_epoch(run, optimizer, order, b0, b1, lrs, grad_fn, avg, progress=None,
                 metric=None):
    """Batches [b0, b1) as a per-batch Python loop (the fallback). progress: as the
    engine's, called after a batch once the engine's poll interval has passed; metric:
    as the engine's."""
    loss_sum, rows, bs, applied = 0.0, 0, run.batch_size, 0
    interval = _engine.poll_interval()
    next_report = time.perf_counter() + interval
    try:
        for b in range(b0, b1):
            idx = order[b * bs:(b + 1) * bs]
            Xb = np.asarray(run.X[idx], dtype=run.model.dtype)
            targets = run.targets(idx)
            if lrs is not None:
                for group, lr in zip(optimizer.param_groups, lrs[b]):
                    group["lr"] = lr
            # A diverging run is reported by NonFiniteLossError (after restoring the
            # model); NumPy's overflow warnings, raised as errors under -W error, would
            # skip the restore.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss, grads = grad_fn(Xb, targets, metric=metric) if run.weights is None \
                    else grad_fn(Xb, targets, np.ascontiguousarray(run.weights[idx]),
                                 metric=metric)
                if not math.isfinite(loss):
                    return loss_sum, rows, b
                if run.clip_norm is not None or run.clip_value is not None:
                    grads = clip_gradients(grads, run.clip_norm, run.clip_value)
                optimizer.step(grads)
                if avg.active:
                    avg.update(run.model._flat)
            applied += 1
            loss_sum += loss * len(idx)
            rows += len(idx)
            if _engine.take_stop_request():
                raise KeyboardInterrupt
            if progress is not None and interval > 0 and time.perf_counter() >= next_report:
                try:
                    progress(applied, rows, loss_sum)
                except BaseException as e:   # as the engine: stop after this batch
                    raise _Interrupted(e, applied, loss_sum, rows) from None
                next_report = time.perf_counter() + interval
    except KeyboardInterrupt as e:
        # fastgd's optimizers count a step with its update (in C): their count says
        # whether the batch that was running was applied; other optimizers' steps are
        # counted when step() returned
        raise _Interrupted(e, applied, loss_sum, rows) from None
    return loss_sum, rows, -1


def _finite_state(model, optimizer):
    """True when the parameters and a fastgd optimizer's state are all finite."""
    if not np.isfinite(model._flat).all():
        return False
    for gstate in getattr(optimizer, "_group_state", ()):   # the state the rule uses now
        if any(buf is not None and not np.isfinite(buf).all()
               for buf in gstate.get("state", ())):
            return False
    return True


def run_epochs(run, runner, fast_path, avg):
    """The once-per-epoch loop shared by the engine and the per-batch fallback."""
    history = History(seed=run.seed, metric_name=run.model.metric_name, fast_path=fast_path)
    if avg.buf is not None:
        history._average = avg
    nb = batching.n_batches(run.n, run.batch_size, run.drop_last)
    every, watchers = _callbacks.start(run, history, nb)
    try:
        _epochs(run, runner, history, nb, every, avg, watchers)
    except BaseException:
        _callbacks.abort(run.callbacks)
        raise
    history.averaged_model = avg.as_model(run.model)
    if run.final_average and history.averaged_model is not None:
        run.model._flat[...] = history.averaged_model._flat
    _callbacks.end(run.callbacks, history)
    return history


def _epochs(run, runner, history, nb, every, avg, watchers=()):
    model, optimizer, schedule = run.model, run.optimizer, run.schedule
    orders = batching.EpochOrders(run.n, run.seed, run.shuffle, run.initial_epoch + run.epochs)
    for epoch in range(run.initial_epoch, run.initial_epoch + run.epochs):
        # a run resumed mid-epoch starts its first epoch at initial_batch; a per-batch
        # schedule then stands at that batch (a stop advances it by the batches applied)
        start = run.initial_batch if epoch == run.initial_epoch else 0
        order = orders(epoch)
        if run.rows is not None:       # validation_split: epoch orders over the kept rows
            order = run.rows[order]
        saved = (model._flat.copy(),
                 optimizer.state_dict() if hasattr(optimizer, "state_dict") else None,
                 schedule.state_dict() if schedule is not None else None, avg.snapshot())
        avg.start_epoch(epoch)
        lr = float(optimizer.param_groups[0]["lr"])
        lrs = batch_lrs(schedule, nb - start)
        lrs = None if lrs is None else [None] * start + lrs
        loss_sum, rows, bad, stop, seconds, b1 = 0.0, 0, -1, False, 0.0, start
        # the running training metric's terms, summed by the loss pass (C or fallback)
        metric = np.zeros(1) if run.train_metric == "running" else None
        pending = None   # a signal in the epoch's last batch: finish the epoch, then raise
        for b0 in range(start, nb, every or max(nb, 1)):
            b1 = min(nb, b0 + (every or nb))
            t0 = time.perf_counter()
            try:
                extra = {} if metric is None else {"metric": metric}
                if watchers:
                    extra["progress"] = _progress_report(watchers, epoch, nb, lr, b0,
                                                         loss_sum, rows, seconds - t0)
                part_loss, part_rows, bad = runner(order, b0, b1, lrs, **extra)
            except _Interrupted as stopped:
                if b0 + stopped.done < nb:
                    seconds += time.perf_counter() - t0
                    _interrupted(run, history, epoch, b0 + stopped.done, lrs is not None,
                                 start, loss_sum + stopped.loss_sum, rows + stopped.rows,
                                 lr, seconds, stopped.cause)
                pending, part_loss, part_rows, bad = (stopped.cause, stopped.loss_sum,
                                                      stopped.rows, -1)
            seconds += time.perf_counter() - t0
            if pending is None and bad < 0 and _engine.take_stop_request():
                if b1 < nb:     # Ctrl-C while Python ran between chunks: stop here
                    _interrupted(run, history, epoch, b1, lrs is not None, start,
                                 loss_sum + part_loss, rows + part_rows, lr, seconds,
                                 KeyboardInterrupt())
                pending = KeyboardInterrupt()
            loss_sum, rows = loss_sum + part_loss, rows + part_rows
            if bad >= 0:
                break
            if every and b1 < nb:
                stop = callbacks_stop(run.callbacks, epoch, {
                    "epoch": epoch, "batches": b1, "n_batches": nb, "samples": rows,
                    "loss": loss_sum / max(rows, 1), "lr": lr, "time": seconds},
                    hook="on_batches_end")
                if stop:
                    break
        what = "loss"
        if bad < 0 and not _finite_state(model, optimizer):   # the last update diverged
            bad, what = b1 - 1, "state"
        if bad >= 0:
            model._flat[...] = saved[0]
            if saved[1] is not None:
                optimizer.load_state_dict(saved[1])
            if saved[2] is not None:
                schedule.load_state_dict(saved[2])
            avg.restore(saved[3])
            raise NonFiniteLossError(epoch, bad, nb, history, what=what)
        if lrs is not None:
            schedule.advance((b1 if stop else nb) - start)
        if stop:                       # stopped mid-epoch: where a resume starts
            history.stopped_at = (epoch, b1)
        logs = {"epoch": epoch, "lr": lr, "time": seconds, "samples": rows,
                "loss": loss_sum / max(rows, 1) + ref.l2_penalty(model.parameters(), model.alpha)}
        if metric is not None:
            seen = order[start * run.batch_size:start * run.batch_size + rows]
            logs["train_metric"] = ref.running_metric(
                float(metric[0]), rows, run.Y[seen] if model.output == "linear" else None,
                model.output, model.layer_sizes[-1])
        elif run.train_metric:
            logs["train_metric"] = _train_metric(run)
        if run.val is not None:   # one forward pass gives both; averaged weights if kept
            evaluated = (avg.as_model(model) if avg.active else None) or model
            logs["val_loss"], logs["val_metric"] = evaluated._loss_and_metric(*run.val)
        if schedule is not None and not stop:    # per-epoch steps count whole epochs
            if hasattr(schedule, "lr_at"):
                if schedule.interval == "epoch":
                    schedule.step()
            else:
                schedule.step(logs.get("val_loss", logs["loss"]))
        history.append(logs)
        if run.verbose:
            _print_epoch(logs, run, model)
        if pending is None and _engine.take_stop_request():
            pending = KeyboardInterrupt()   # Ctrl-C during the epoch's bookkeeping
        if pending is not None:
            history.stopped_at, history.interrupted = (epoch + 1, 0), True
            if isinstance(pending, KeyboardInterrupt):
                raise TrainingInterrupted(epoch + 1, 0, history) from pending
            raise pending
        if callbacks_stop(run.callbacks, epoch, logs) or stop:
            history.stopped_early = True
            break


def _progress_report(watchers, epoch, nb, lr, b0, loss_sum, rows, time_offset):
    """The runner's ``progress(batches, rows, loss sum)`` for a chunk from batch b0 (after
    ``rows`` rows and ``loss_sum`` of the epoch): each watcher's ``on_progress`` with
    logs like on_batches_end's (``time``: the epoch's seconds so far)."""
    def report(done, part_rows, part_loss):
        seen = rows + part_rows
        logs = {"epoch": epoch, "batches": b0 + done, "n_batches": nb, "samples": seen,
                "loss": (loss_sum + part_loss) / max(seen, 1), "lr": lr,
                "time": time_offset + time.perf_counter()}
        for cb in watchers:
            cb.on_progress(epoch, dict(logs))
    return report


def _interrupted(run, history, epoch, batch, per_batch_schedule, first, loss_sum, rows, lr,
                 seconds, cause):
    """Make everything agree with the ``batch`` batches of ``epoch`` applied, then raise:
    TrainingInterrupted for Ctrl-C, or whatever else a signal handler raised."""
    model, schedule = run.model, run.schedule
    if per_batch_schedule:
        schedule.advance(batch - first)
    history.append({"epoch": epoch, "lr": lr, "time": seconds, "samples": rows,
                    "loss": loss_sum / max(rows, 1)
                    + ref.l2_penalty(model.parameters(), model.alpha)})
    history.stopped_at, history.interrupted = (epoch, batch), True
    if isinstance(cause, KeyboardInterrupt):
        raise TrainingInterrupted(epoch, batch, history) from cause
    raise cause


def _train_metric(run):
    rows = slice(None) if run.rows is None else run.rows
    X = run.X if run.rows is None else run.X[rows]
    return run.model._loss_and_metric(X, None if run.labels is None else run.labels[rows],
                                      None if run.Y is None else run.Y[rows])[1]


def _print_epoch(logs, run, model):
    parts = [f"epoch {logs['epoch'] + 1}/{run.initial_epoch + run.epochs}",
             f"loss {logs['loss']:.4f}"]
    if "val_loss" in logs:
        parts += [f"val_loss {logs['val_loss']:.4f}",
                  f"val_{model.metric_name} {logs['val_metric']:.4f}"]
    rate = logs["samples"] / logs["time"] if logs["time"] > 0 else float("inf")
    parts += [f"lr {logs['lr']:.3g}", f"{logs['time']:.2f}s", f"{rate:,.0f} samples/s"]
    print("  ".join(parts), flush=True)
