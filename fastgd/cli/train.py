"""``fastgd train``: read a data file, decide the task, train an MLP with a progress line
per epoch, save the model with its CLI metadata (feature names, label column, scaling).
"""
import os
import time

import numpy as np

import fastgd
from fastgd import schedules as S
from fastgd._runtime import threads as _threads
from fastgd.cli.datafile import infer_task, load_table
from fastgd.cli.files import Failure, ModelMeta, checked_output, save_model
from fastgd.cli.parser import optimizer_classes
from fastgd.training.progress import progress

__all__ = ["cmd_train"]


def _model_path(save):
    return save if save.endswith(".npz") else save + ".npz"


def _make_schedule(spec, optimizer, epochs):
    name, a = spec
    if name == "constant":
        return None
    if name == "exponential":
        return S.ExponentialDecay(optimizer, gamma=a[0])
    if name == "inverse_time":
        return S.InverseTimeDecay(optimizer, decay_rate=a[0])
    if name == "inverse_sqrt":
        return S.InverseSqrtDecay(optimizer, k=a[0])
    if name == "staircase":
        return S.ExponentialDecay(optimizer, gamma=a[0], staircase=True, step_size=int(a[1]))
    if name == "step":
        return S.StepLR(optimizer, step_size=int(a[0]), gamma=a[1])
    return S.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=a[0])



def cmd_train(args):
    save = None
    if args.save:     # checked before the data are read, so no training is lost to it
        if os.path.isdir(args.save):
            raise Failure(f"--save {args.save}: is a directory; give a file name")
        save = _model_path(args.save)
        checked_output(save, "--save", {"the training data": args.data})
    table = load_table(args.data, label_column=args.label_column, drop=args.drop,
                       features=args.features)
    X, y = table.X, table.y
    classes = None
    if y.dtype.kind == "U":            # class names in a CSV's label column
        if args.task == "regress":
            raise Failure(f"{args.data}: --task regress needs numbers in the label column "
                           f"{table.label!r}, got text such as {y[0]!r}")
        classes, y = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise Failure(f"{args.data}: classification needs at least 2 classes, the label "
                           f"column holds only {str(classes[0])!r}")
        classes = [str(c) for c in classes]
        task, reason = "classify", f"text labels: {len(classes)} classes " + \
            ", ".join(repr(c) for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
        y = y.astype(np.int64)
    else:
        task, y, reason = infer_task(y, args.task)
    n_out = int(y.max()) + 1 if task == "classify" else (y.shape[1] if y.ndim == 2 else 1)
    if args.task == "auto" and classes is None:
        other = "regress" if task == "classify" else "classify"
        print(f"fastgd train: task: {'classification' if task == 'classify' else 'regression'}"
              f" ({reason}); --task {other} to override", flush=True)
    if classes is not None:
        print(f"fastgd train: task: classification ({reason})", flush=True)
    for note in table.notes:
        print(f"fastgd train: {note}", flush=True)
    Xv = yv = None
    if args.val_split:
        n_val = int(np.ceil(args.val_split * len(X)))
        if n_val < 1 or n_val >= len(X):
            raise Failure(f"--val-split {args.val_split} leaves no training or no "
                           f"validation rows of {len(X)}")
        try:
            X, Xv, y, yv = fastgd.datasets.train_test_split(
                X, y, n_val, seed=args.seed, stratify=task == "classify")
        except ValueError:   # a class too small to stratify: split at random instead
            X, Xv, y, yv = fastgd.datasets.train_test_split(X, y, n_val, seed=args.seed)
    meta = ModelMeta(table.names, table.label, task, classes=classes)
    if args.standardize:
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[~(scale > 0)] = 1.0          # a constant column stays as it is, centred
        meta.mean, meta.scale = mean, scale
        X = meta.transform(X)
        if Xv is not None:
            Xv = meta.transform(Xv)
    X = X.astype(args.dtype)
    if Xv is not None:
        Xv = Xv.astype(args.dtype)
    try:
        model = fastgd.MLP([X.shape[1], *args.hidden, n_out], activation=args.activation,
                           output="softmax" if task == "classify" else "linear",
                           dtype=args.dtype, seed=args.seed)
        opt = getattr(fastgd, optimizer_classes()[args.optimizer])(model.parameters(), lr=args.lr)
        sched = _make_schedule(args.schedule, opt, args.epochs)
    except (ValueError, TypeError) as e:
        raise Failure(str(e)) from None
    n_threads = _threads.resolve(args.threads)
    why = "" if args.threads is not None else f" ({_threads.describe_default()})"
    print(f"fastgd train: {len(X)} samples x {X.shape[1]} features"
          + (f" (+ {len(Xv)} validation)" if Xv is not None else "")
          + f", {'classes: ' + str(n_out) if task == 'classify' else 'regression'}"
          + (", standardized" if args.standardize else "") + "; "
          f"MLP {model.layer_sizes} {args.activation}, {args.optimizer} lr {args.lr:g}, "
          f"batch {args.batch_size}, {args.epochs} epochs, {n_threads} thread(s){why}", flush=True)
    metric = model.metric_name
    with progress(args.epochs) as bar:
        def on_epoch(epoch, logs):
            parts = [f"epoch {epoch + 1}/{args.epochs}", f"loss {logs['loss']:.4f}"]
            if "val_loss" in logs:
                parts += [f"val_loss {logs['val_loss']:.4f}",
                          f"val_{metric} {logs['val_metric']:.4f}"]
            rate = logs["samples"] / logs["time"] if logs["time"] > 0 else float("inf")
            parts += [f"lr {logs['lr']:.3g}", f"{logs['time']:.2f}s", f"{rate:,.0f} samples/s"]
            bar.write("  ".join(parts))
            bar.update(1, f"loss {logs['loss']:.4f}")

        t0 = time.perf_counter()
        try:
            h = fastgd.fit(model, X, y, opt, epochs=args.epochs, batch_size=args.batch_size,
                           seed=args.seed, schedule=sched, callbacks=[on_epoch],
                           validation_data=None if Xv is None else (Xv, yv),
                           n_threads=n_threads)
        except (fastgd.NonFiniteLossError, ValueError, TypeError) as e:
            raise Failure(str(e)) from None
        except fastgd.TrainingInterrupted as e:
            # the model agrees with the batches applied: keep what was trained
            if save:
                checked_output(save, "--save", {"the training data": args.data})
                save_model(model, save, meta)
                print(f"interrupted in epoch {e.epoch + 1} after {e.batch} batches; saved "
                      f"the model as it stands to {save}", flush=True)
            raise
        wall = time.perf_counter() - t0
    summary = (f"done: {len(h)} epochs in {wall:.2f} s ({h.samples_per_second:,.0f} "
               f"samples/s training), loss {h.loss[-1]:.4f}, train {metric} "
               f"{model.score(X, y):.4f}")
    if Xv is not None:
        summary += f", val_loss {h.val_loss[-1]:.4f}, val_{metric} {h.val_metric[-1]:.4f}"
    print(summary)
    if save:
        checked_output(save, "--save", {"the training data": args.data})  # again: hours later
        try:
            save_model(model, save, meta)
        except OSError as e:
            raise Failure(f"cannot write {save}: {e.strerror or e}") from None
        print(f"saved model to {save}")
    return 0
