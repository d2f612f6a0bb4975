"""The ``fastgd`` command's arguments: one parser, the argument types it checks with, and
the schedule specs ``--schedule`` accepts (each error is argparse's one line, exit 2).
"""
import argparse

__all__ = ["build_parser", "SCHEDULES"]


def optimizer_classes():
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
    t.add_argument("--optimizer", default="adam", type=str.lower,
                   choices=tuple(optimizer_classes()))
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
