"""fit() in plain NumPy: the specification of the training loop.

Same signature and semantics as fastgd.fit: the same validated call
(fastgd/training/fitcall.py, neutral), the same batches (fastgd.batching), the schedules'
closed forms, and a History with the same fields. Everything else — the batch loop,
forward and backward passes (fastgd/reference/mlp.py), the divergence restore, validation
and callbacks — is written here once more, plainly, so the engine is held to a loop that
shares none of its code. Pass the fastgd.reference optimizer twins for an all-NumPy run.
"""
import math
import time

import numpy as np

from fastgd import batching
from fastgd.reference import mlp as ref
from fastgd.reference.average import average_coefficients, average_readout, average_update
from fastgd.training.fitcall import batch_lrs, callbacks_stop, prepare_fit
from fastgd.training.history import AverageState, History, NonFiniteLossError


def fit(model, X, y, optimizer, *, epochs, batch_size, shuffle=True, seed=None,
        schedule=None, callbacks=(), validation_data=None, verbose=0, drop_last=False,
        loss=None, initial_epoch=0, n_threads=None, callback_every=None,
        validation_split=None, train_metric="running", initial_batch=0, ema=None,
        ema_start="zeros", average=False, final_average=False, clip_norm=None,
        clip_value=None, sample_weight=None, class_weight=None, initial_average=None):
    run = prepare_fit(model, X, y, optimizer, epochs=epochs, batch_size=batch_size,
                      shuffle=shuffle, seed=seed, schedule=schedule, callbacks=callbacks,
                      validation_data=validation_data, verbose=verbose, drop_last=drop_last,
                      loss=loss, initial_epoch=initial_epoch, callback_every=callback_every,
                      validation_split=validation_split, train_metric=train_metric,
                      initial_batch=initial_batch, ema=ema, ema_start=ema_start,
                      average=average, final_average=final_average, clip_norm=clip_norm,
                      clip_value=clip_value, sample_weight=sample_weight,
                      class_weight=class_weight, initial_average=initial_average)
    history = History(seed=run.seed, metric_name=model.metric_name, fast_path=False)
    avg = _Average(run)
    if avg.arrays is not None:
        history._average = avg
    nb, every = run.n_batches, run.callback_every
    for cb in run.callbacks:      # the callback protocol's optional hooks
        if hasattr(cb, "set_context"):
            cb.set_context(model, optimizer, schedule, history, epochs=run.epochs,
                           initial_epoch=run.initial_epoch, n_batches=nb)
    try:
        _epochs(run, history, nb, every, avg)
    except BaseException:
        for cb in run.callbacks:
            if hasattr(cb, "close"):
                cb.close()
        raise
    history.averaged_model = avg.as_model(model)
    if run.final_average and history.averaged_model is not None:
        for p, q in zip(model.parameters(), history.averaged_model.parameters()):
            p[...] = q
    for cb in run.callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(history)
    return history


class _Average:
    """The running average of the weights (fastgd/reference/average.py), per array."""

    def __init__(self, run):
        self.mode, self.beta, self.first = run.average or (None, 0.0, 0)
        self.arrays = None if run.average is None else \
            [np.zeros_like(p) for p in run.model.parameters()]
        self.count, self.active = 0, False
        if run.initial_average is not None:      # resumed: the flat state, per array
            flat, off = run.initial_average.weights, 0
            for a in self.arrays:
                a[...] = flat[off:off + a.size].reshape(a.shape)
                off += a.size
            self.count = run.initial_average.count

    def state(self):
        return AverageState(self.mode, self.beta, self.first, self.count,
                            np.concatenate([a.ravel() for a in self.arrays]))

    def as_model(self, model):
        if self.arrays is None or self.count == 0:
            return None
        averaged = model.copy()
        for p, q in zip(averaged.parameters(),
                        average_readout(self.arrays, self.mode, self.beta, self.count)):
            p[...] = q
        return averaged


def _epochs(run, history, nb, every, avg):
    model, optimizer, schedule = run.model, run.optimizer, run.schedule
    for epoch in range(run.initial_epoch, run.initial_epoch + run.epochs):
        start = run.initial_batch if epoch == run.initial_epoch else 0   # resumed mid-epoch
        order = batching.epoch_order(run.n, run.seed, epoch, run.shuffle)
        if run.rows is not None:           # validation_split: the kept rows, reordered
            order = run.rows[order]
        saved = ([p.copy() for p in model.parameters()], optimizer.state_dict(),
                 None if schedule is None else schedule.state_dict(),
                 None if avg.arrays is None else ([a.copy() for a in avg.arrays], avg.count))
        avg.active = avg.arrays is not None and epoch >= avg.first
        lr = float(optimizer.param_groups[0]["lr"])
        lrs = batch_lrs(schedule, nb - start)
        lrs = None if lrs is None else [None] * start + lrs
        loss_sum, rows, stop, seconds, b = 0.0, 0, False, 0.0, 0
        running = 0.0      # the running training metric's terms (metric_terms), summed
        t0 = time.perf_counter()
        for b in range(start, nb):
            idx = order[b * run.batch_size:(b + 1) * run.batch_size]
            if lrs is not None:
                for group, group_lr in zip(optimizer.param_groups, lrs[b]):
                    group["lr"] = group_lr
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                targets = run.targets(idx)
                value, grads, logits = _loss_and_grads(
                    run, np.asarray(run.X[idx], model.dtype), targets,
                    None if run.weights is None else run.weights[idx])
                if not math.isfinite(value):
                    _restore(model, optimizer, schedule, saved, avg)
                    raise NonFiniteLossError(epoch, b, nb, history)
                if run.clip_norm is not None or run.clip_value is not None:
                    grads = clip_gradients(grads, run.clip_norm, run.clip_value)
                if run.train_metric == "running":   # these logits: before the update
                    running += ref.metric_terms(
                        logits, targets if model.output == "softmax" else None,
                        None if model.output == "softmax" else targets, model.output)
                optimizer.step(_in_optimizer_order(model, optimizer, grads))
                if avg.active:
                    average_update(avg.arrays, model.parameters(),
                                   *average_coefficients(avg.mode, avg.beta, avg.count))
                    avg.count += 1
            loss_sum += value * len(idx)
            rows += len(idx)
            if every and (b + 1 - start) % every == 0 and b + 1 < nb:
                seconds += time.perf_counter() - t0
                stop = callbacks_stop(run.callbacks, epoch, {
                    "epoch": epoch, "batches": b + 1, "n_batches": nb, "samples": rows,
                    "loss": loss_sum / max(rows, 1), "lr": lr, "time": seconds},
                    hook="on_batches_end")
                t0 = time.perf_counter()
                if stop:
                    break
        seconds += time.perf_counter() - t0
        if not all(np.isfinite(p).all() for p in model.parameters()):
            _restore(model, optimizer, schedule, saved, avg)      # the last update diverged
            raise NonFiniteLossError(epoch, b, nb, history, what="state")
        if lrs is not None:
            schedule.advance((b + 1 if stop else nb) - start)
        if stop:                           # where a resume starts: initial_batch=b + 1
            history.stopped_at = (epoch, b + 1)
        params = model.parameters()
        logs = {"epoch": epoch, "lr": lr, "time": seconds, "samples": rows,
                "loss": loss_sum / max(rows, 1) + ref.l2_penalty(params, model.alpha)}
        if run.train_metric == "running":
            seen = order[start * run.batch_size:start * run.batch_size + rows]
            logs["train_metric"] = ref.running_metric(
                running, rows, run.Y[seen] if model.output == "linear" else None,
                model.output, model.layer_sizes[-1])
        elif run.train_metric:
            kept = slice(None) if run.rows is None else run.rows
            logits, _ = ref.forward(params, np.asarray(run.X[kept], model.dtype),
                                    model.activation)
            logs["train_metric"] = ref.metric(
                logits, None if run.labels is None else run.labels[kept],
                None if run.Y is None else run.Y[kept], model.output)
        if run.val is not None:
            Xv, labels, Yv = run.val
            averaged = avg.as_model(model) if avg.active else None
            vparams = params if averaged is None else averaged.parameters()
            logits, _ = ref.forward(vparams, np.asarray(Xv, model.dtype), model.activation)
            targets = labels if labels is not None else Yv
            logs["val_loss"] = ref.data_loss_and_dlogits(logits, targets, model.output)[0] \
                + ref.l2_penalty(vparams, model.alpha)
            logs["val_metric"] = ref.metric(logits, labels, Yv, model.output)
        if schedule is not None and not stop:   # per-epoch steps count whole epochs
            if not hasattr(schedule, "lr_at"):
                schedule.step(logs.get("val_loss", logs["loss"]))   # ReduceLROnPlateau
            elif schedule.interval == "epoch":
                schedule.step()
        history.append(logs)
        if run.verbose:
            print(f"epoch {epoch + 1}/{run.initial_epoch + run.epochs}  "
                  f"loss {logs['loss']:.4f}", flush=True)
        if callbacks_stop(run.callbacks, epoch, logs) or stop:
            history.stopped_early = True
            break


def clip_gradients(grads, clip_norm=None, clip_value=None):
    r"""Clipped copies of a batch's gradients. ``clip_norm``: with the global L2 norm
    :math:`\lVert g\rVert` over every array (summed in float64), scale all by
    :math:`c / (\lVert g\rVert + 10^{-6})` when that is below 1 (torch's
    ``clip_grad_norm_``); then ``clip_value``: clamp each element to :math:`[-v, v]`."""
    if clip_norm is not None:
        total = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
        coef = clip_norm / (total + 1e-6)
        if coef < 1.0:
            grads = [g * coef for g in grads]
    if clip_value is not None:
        grads = [np.clip(g, -clip_value, clip_value) for g in grads]
    return grads


def _loss_and_grads(run, Xb, targets, weights=None):
    """(mean data loss, gradients, logits) of a batch: reference.mlp.data_loss_and_grads,
    spelled out so the logits the running metric reads are the loss's own."""
    model, params = run.model, run.model.parameters()
    logits, inputs = ref.forward(params, Xb, model.activation)
    if run.loss is None:
        value, dlogits = ref.data_loss_and_dlogits(logits, targets, model.output, weights)
    else:
        value, dlogits = run.loss(logits, targets)
        value, dlogits = float(value), np.asarray(dlogits, model.dtype)
    return value, ref.backward(params, inputs, dlogits, model.activation, model.alpha), logits


def _in_optimizer_order(model, optimizer, grads):
    """The gradients listed as the optimizer lists its parameters (param groups may hold
    them in another order than model.parameters())."""
    by_id = {id(p): g for p, g in zip(model.parameters(), grads)}
    return [by_id[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _restore(model, optimizer, schedule, saved, avg=None):
    for p, q in zip(model.parameters(), saved[0]):
        p[...] = q
    optimizer.load_state_dict(saved[1])
    if schedule is not None:
        schedule.load_state_dict(saved[2])
    if avg is not None and saved[3] is not None:
        for a, q in zip(avg.arrays, saved[3][0]):
            a[...] = q
        avg.count = saved[3][1]
