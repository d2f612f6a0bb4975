"""The ``fastgd`` command (also ``python -m fastgd``).

    fastgd demo    [--out DIR] [--quick]              every experiment, one HTML report
    fastgd train   DATA [--hidden 256,128] ...        train an MLP on your data file
    fastgd predict MODEL DATA [--out preds.csv]       predictions of a saved model
    fastgd bench                                      throughput vs NumPy / torch / sklearn

Exit codes: 0 success, 1 unusable data, an output path that cannot be used, or a failed
run; 2 bad arguments; 130 interrupted. Every error is one line on stderr,
``fastgd <command>: error: ...`` (FASTGD_DEBUG=1 adds the traceback of an unexpected one).
Data formats: see fastgd/cli/datafile.py; output files: fastgd/cli/files.py.
"""
import argparse
import os
import sys
import time

__all__ = ["main", "build_parser"]



def _optimizer_classes():
    """The CLI's optimizer names -> class names: the rows of fastgd/optim/table.py."""
    from fastgd.optim import table
    return {row.name: row.cls_name for row in table.ROWS}

# name -> (numbers it takes at most, defaults); built by _make_schedule.
SCHEDULES = {"constant": (0, ()), "exponential": (1, (0.95,)), "inverse_time": (1, (1.0,)),
             "inverse_sqrt": (1, (1.0,)), "staircase": (2, (0.5, 10)), "step": (2, (10, 0.1)),
             "cosine": (1, (0.0,))}
_SCHEDULE_HELP = ("learning-rate schedule, stepped per epoch: constant, exponential[:GAMMA] "
                  "(0.95^epoch), inverse_time[:K] (1/(1+K·epoch)), inverse_sqrt[:K] "
                  "(K/sqrt(epoch)), staircase[:GAMMA[:EVERY]] (x GAMMA every EVERY epochs), "
                  "step[:EVERY[:GAMMA]] (torch StepLR), cosine[:ETA_MIN] (to ETA_MIN over "
                  "all epochs). Default constant.")


class _Failure(Exception):
    """A run that cannot go on; main prints the message and returns 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``fastgd train: error: ... (see fastgd train -h)``
    (subcommands' parsers are of this class too)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ------------------------------------------------------------------ argument types
def _checked(convert, ok, expected):
    """An argparse type: ``convert(text)``, kept only if ``ok(value)``."""
    def parse(text):
        try:
            v = convert(text)
        except ValueError:
            v = None
        if v is None or not ok(v):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return v
    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_positive_float = _checked(float, lambda v: 0 < v < float("inf"), "a positive number")
_fraction = _checked(float, lambda v: 0.0 <= v < 1.0, "a fraction in [0, 1)")


def _hidden(text):
    """'256,128' -> (256, 128); '' or 'none' -> () (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths like 256,128, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1, got {text!r}")
    return sizes


def _names(text):
    """'a,b' -> ('a', 'b'): CSV column names."""
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got "
                                         f"{text!r}")
    return names


def _schedule(text):
    """'exponential:0.95' -> ('exponential', (0.95,)), checked against SCHEDULES."""
    name, *args = text.strip().lower().split(":")
    if name not in SCHEDULES:
        raise argparse.ArgumentTypeError(
            f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")
    most, defaults = SCHEDULES[name]
    if len(args) > most:
        raise argparse.ArgumentTypeError(f"{name} takes at most {most} number(s), got {text!r}")
    try:
        values = tuple(float(a) for a in args)
    except ValueError:
        raise argparse.ArgumentTypeError(f"schedule numbers must be numbers, got {text!r}") \
            from None
    if any(not v > 0 for v in values) and name != "cosine":
        raise argparse.ArgumentTypeError(f"schedule numbers must be > 0, got {text!r}")
    if name == "cosine" and values and values[0] < 0:
        raise argparse.ArgumentTypeError(f"cosine's ETA_MIN must be >= 0, got {text!r}")
    values = values + defaults[len(values):]
    every = {"staircase": 1, "step": 0}.get(name)   # which number counts epochs
    if every is not None and (values[every] != int(values[every]) or values[every] < 1):
        raise argparse.ArgumentTypeError(f"{name}'s EVERY must be a whole number of epochs "
                                         f">= 1, got {text!r}")
    return name, values


def _make_schedule(spec, optimizer, epochs):
    from fastgd import schedules as S
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


# ------------------------------------------------------------------ parser
def build_parser():
    from fastgd import __version__
    p = _Parser(
        prog="fastgd", description="Fast, reference-checked gradient descent: train, "
        "predict, benchmark, and see the lesson's experiments.")
    p.add_argument("--version", action="version", version=f"fastgd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    d = sub.add_parser("demo", help="train on the shipped digits, run every diagnostic, "
                       "write one HTML report", description="Train an MLP on the digits "
                       "(batch / mini-batch / SGD; GD / Momentum / RMSprop / Adam) and run "
                       "every diagnostic; write report.html, report.md and PNG figures.")
    d.add_argument("--out", default="fastgd-report", metavar="DIR",
                   help="report folder (default: %(default)s)")
    d.add_argument("--quick", action="store_true", help="small sizes: seconds, not a minute")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--threads", type=_positive_int, default=1,
                   help="threads for training (default 1: the data are small)")

    t = sub.add_parser("train", help="train an MLP on a .npz / .npy / .csv file",
                       description="Train an MLP. DATA: .npz with arrays X and y; .npy whose "
                       "last column is the label; .csv with a header row and a label column "
                       "(--label-column). --task auto: labels that look like class ids "
                       "(whole numbers from 0 or 1, at most 100 distinct values, most ids "
                       "used) are classes (softmax), anything else a regression target; the "
                       "decision is printed, --task overrides it. The model file stores the "
                       "feature names, the label column and the --standardize scaling, and "
                       "'fastgd predict' uses them.")
    t.add_argument("data", metavar="DATA")
    t.add_argument("--hidden", type=_hidden, default=(256, 128), metavar="W1,W2,...",
                   help="hidden layer widths (default 256,128; 'none' for no hidden layer)")
    t.add_argument("--activation", default="relu",
                   choices=("relu", "leaky_relu", "tanh", "sigmoid", "identity"))
    t.add_argument("--optimizer", default="adam", type=str.lower, choices=tuple(_optimizer_classes()))
    t.add_argument("--lr", type=_positive_float, default=1e-3, help="learning rate")
    t.add_argument("--batch-size", type=_positive_int, default=128)
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--schedule", type=_schedule, default=("constant", ()), metavar="SPEC",
                   help=_SCHEDULE_HELP)
    t.add_argument("--val-split", type=_fraction, default=0.0, metavar="FRACTION",
                   help="hold out this fraction for validation (default 0)")
    t.add_argument("--save", metavar="MODEL.npz", help="write the trained model here")
    t.add_argument("--label-column", default="label", metavar="NAME",
                   help="CSV column holding the label (default: %(default)s)")
    t.add_argument("--task", default="auto", choices=("auto", "classify", "regress"),
                   help="auto (default; the decision is printed), classify or regress")
    t.add_argument("--standardize", action="store_true",
                   help="scale each feature to mean 0, std 1 (statistics of the training "
                   "rows, stored in the model and applied by predict)")
    t.add_argument("--drop", type=_names, default=(), metavar="COL1,COL2,...",
                   help="CSV columns to leave out (e.g. an id or a text column)")
    t.add_argument("--features", type=_names, default=None, metavar="COL1,COL2,...",
                   help="the only CSV columns to use as features, in this order")
    t.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=_positive_int, default=None,
                   help="training threads (default: fastgd's default)")

    r = sub.add_parser("predict", help="predict with a saved model",
                       description="Predict with a model saved by 'fastgd train --save'. "
                       "Prints one prediction per line, or writes a CSV with --out.")
    r.add_argument("model", metavar="MODEL")
    r.add_argument("data", metavar="DATA")
    r.add_argument("--out", metavar="PREDS.csv", help="write predictions here (CSV)")
    r.add_argument("--proba", action="store_true",
                   help="also write class probabilities (classifiers, with --out)")
    r.add_argument("--label-column", default=None, metavar="NAME",
                   help="CSV column holding labels, left out of the features (default: "
                   "the model's label column, else 'label')")
    r.add_argument("--drop", type=_names, default=(), metavar="COL1,COL2,...",
                   help="CSV columns to leave out (needed only for a model without feature "
                   "names; otherwise columns are matched by name)")

    b = sub.add_parser("bench", help="seconds-long throughput check",
                       description="Adam step on 1e6 float32 parameters and one epoch of an "
                       "MLP 784-256-128-10, against fastgd.reference and, when installed, "
                       "PyTorch and scikit-learn.")
    b.add_argument("--threads", type=_positive_int, default=None)
    b.add_argument("--params", type=_positive_int, default=1_000_000)
    b.add_argument("--samples", type=_positive_int, default=4096)
    b.add_argument("--repeat", type=_positive_int, default=3)
    return p


# ------------------------------------------------------------------ commands
def _cmd_demo(args):
    from fastgd.lab.report.demo import run_demo
    run_demo(args.out, quick=args.quick, seed=args.seed, n_threads=args.threads)
    return 0


def _cmd_bench(args):
    from fastgd.cli.bench import run_bench
    run_bench(n_params=args.params, n_samples=args.samples, repeat=args.repeat,
              n_threads=args.threads)
    return 0


def _model_path(save):
    return save if save.endswith(".npz") else save + ".npz"


def _checked_output(path, flag, inputs):
    from fastgd.cli.files import OutputError, check_output
    try:
        check_output(path, flag, inputs)
    except OutputError as e:
        raise _Failure(str(e)) from None


def _cmd_train(args):
    import numpy as np

    import fastgd
    from fastgd.cli.datafile import infer_task, load_table
    from fastgd.cli.files import ModelMeta, save_model
    from fastgd.training.progress import progress

    save = None
    if args.save:     # checked before the data are read, so no training is lost to it
        if os.path.isdir(args.save):
            raise _Failure(f"--save {args.save}: is a directory; give a file name")
        save = _model_path(args.save)
        _checked_output(save, "--save", {"the training data": args.data})
    table = load_table(args.data, label_column=args.label_column, drop=args.drop,
                       features=args.features)
    X, y = table.X, table.y
    classes = None
    if y.dtype.kind == "U":            # class names in a CSV's label column
        if args.task == "regress":
            raise _Failure(f"{args.data}: --task regress needs numbers in the label column "
                           f"{table.label!r}, got text such as {y[0]!r}")
        classes, y = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise _Failure(f"{args.data}: classification needs at least 2 classes, the label "
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
            raise _Failure(f"--val-split {args.val_split} leaves no training or no "
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
        opt = getattr(fastgd, _optimizer_classes()[args.optimizer])(model.parameters(), lr=args.lr)
        sched = _make_schedule(args.schedule, opt, args.epochs)
    except (ValueError, TypeError) as e:
        raise _Failure(str(e)) from None
    from fastgd._runtime import threads as _threads
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
            raise _Failure(str(e)) from None
        except fastgd.TrainingInterrupted as e:
            # the model agrees with the batches applied: keep what was trained
            if save:
                _checked_output(save, "--save", {"the training data": args.data})
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
        _checked_output(save, "--save", {"the training data": args.data})  # again: hours later
        try:
            save_model(model, save, meta)
        except OSError as e:
            raise _Failure(f"cannot write {save}: {e.strerror or e}") from None
        print(f"saved model to {save}")
    return 0


def _csv_cell(text):
    import csv
    import io
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([text])
    return buf.getvalue()


def _cmd_predict(args):
    import numpy as np

    from fastgd.cli.datafile import load_for_model
    from fastgd.cli.files import load_model, write_atomically

    if args.out:
        _checked_output(args.out, "--out", {"the model": args.model, "the data": args.data})
    if not os.path.exists(args.model):
        raise _Failure(f"{args.model}: no such file")
    try:
        model, meta = load_model(args.model)
    except Exception as e:   # a damaged file raises zipfile's, numpy's or MLP's errors
        raise _Failure(f"{args.model}: cannot load a fastgd model ({type(e).__name__}: "
                       f"{e})") from None
    label_column = args.label_column or meta.label or "label"
    table = load_for_model(args.data, names=meta.names, n_features=model.layer_sizes[0],
                           label_column=label_column, drop=args.drop)
    for note in table.notes:
        print(f"fastgd predict: {note}", file=sys.stderr)
    X = meta.transform(table.X).astype(model.dtype)
    y = table.y
    pred = model.predict(X)
    info = f"predicted {len(X)} rows"
    if y is not None and meta.classes is not None:      # class names back to ids
        known = {c: i for i, c in enumerate(meta.classes)}
        ids = [known.get(str(v)) for v in y]
        y = None if None in ids else np.array(ids)
        if y is None:
            info += "; the file's labels include classes the model does not know: not scored"
    elif y is not None and y.dtype.kind == "U":
        info += "; the file's labels are text, the model's classes numbers: not scored"
        y = None
    if y is not None:
        try:
            info += f"; {model.metric_name} against the file's labels: {model.score(X, y):.4f}"
        except (ValueError, TypeError) as e:
            info += f"; the file's labels do not fit the model ({e})"
    if meta.classes is not None:
        pred = np.asarray(meta.classes)[pred]
    if args.out:
        cols = [np.asarray(pred).reshape(len(X), -1)]
        names = ["prediction"] if cols[0].shape[1] == 1 else \
            [f"prediction_{j}" for j in range(cols[0].shape[1])]
        if args.proba and model.output != "linear":
            P = model.predict_proba(X)
            cols.append(P)
            names += [f"p_{c}" for c in (meta.classes if meta.classes is not None
                                          else range(P.shape[1]))]
        if meta.classes is not None:          # names: write the text column ourselves
            lines = [",".join([_csv_cell(c)] + [f"{p:.6g}" for p in row])
                     for c, row in zip(pred, cols[1] if len(cols) > 1 else [()] * len(X))]

            def write(f):
                f.write(("\n".join([",".join(_csv_cell(n) for n in names)] + lines) + "\n")
                        .encode())
        else:
            table = np.hstack([c.astype(np.float64) for c in cols])
            fmt = ["%d" if model.output != "linear" else "%.9g"] * cols[0].shape[1] + \
                ["%.6g"] * (table.shape[1] - cols[0].shape[1])

            def write(f):
                np.savetxt(f, table, delimiter=",", header=",".join(names), comments="",
                           fmt=fmt)
        try:
            write_atomically(args.out, write, follow_links=True)
        except OSError as e:
            raise _Failure(f"cannot write {args.out}: {e.strerror or e}") from None
        print(f"{info}; wrote {args.out}")
    else:
        sys.stdout.write("".join(f"{v}\n" for v in np.asarray(pred).tolist()))
        print(info, file=sys.stderr)
    return 0


_COMMANDS = {"demo": _cmd_demo, "train": _cmd_train, "predict": _cmd_predict,
             "bench": _cmd_bench}


def _tolerant_streams():
    """Tables use a few non-ASCII symbols (β, ², ≤); on a stream that cannot encode them
    (a Windows code page, PYTHONIOENCODING=ascii) print a replacement, not a traceback."""
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if enc != "utf8" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):   # detached or closed: leave it alone
                pass


def main(argv=None):
    """Run the command line; returns the exit code (0, 1, or 2 for bad arguments)."""
    _tolerant_streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:            # --help / --version (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else 2
    from fastgd.cli.datafile import DataError
    try:
        return _COMMANDS[args.command](args)
    except (DataError, _Failure) as e:
        _error(args.command, e)
        return 1
    except KeyboardInterrupt:
        _error(args.command, "interrupted")
        return 130
    except BrokenPipeError:            # e.g. `fastgd predict ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except MemoryError:
        _error(args.command, "out of memory")
        return 1
    except Exception as e:             # a bug or an unforeseen input: still one line
        if os.environ.get("FASTGD_DEBUG"):
            raise
        _error(args.command, f"unexpected {type(e).__name__}: {e} (FASTGD_DEBUG=1 shows "
               "the traceback; please report it)")
        return 1


def _error(command, message):
    text = " ".join(str(message).split())      # one line, whatever the message held
    print(f"fastgd {command}: error: {text}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
