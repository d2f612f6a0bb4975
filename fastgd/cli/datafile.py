"""Reading a user's data file for ``fastgd train`` / ``fastgd predict``.

Formats (chosen by the file name's ending):

* ``.npz`` -- arrays ``X`` (samples x features) and ``y`` (labels or targets; optional
  for predict), as written by ``numpy.savez(path, X=X, y=y)``.
* ``.npy`` -- one 2-D numeric array whose **last column is the label**. For predict, an
  array with exactly the model's number of features has no label column.
* ``.csv`` / ``.csv.gz`` -- a header row of column names, then numbers separated by
  commas; the label is the column named ``label_column`` (default ``label``), every other
  column is a feature. For predict the label column may be absent.

Every problem (missing file, wrong format, non-numeric cell, ragged rows) is raised as
:class:`DataError` with a message that names the file; the CLI prints it and exits 1.
"""
import csv
import gzip
import os

import numpy as np

__all__ = ["DataError", "load_table", "infer_task", "MAX_AUTO_CLASSES"]

# Whole-number labels above this are taken for a regression target (a year, a price),
# not for class ids: a softmax over 10**6 "classes" is never what was meant.
MAX_AUTO_CLASSES = 1000


class DataError(Exception):
    """The data file cannot be used; the message says why."""


def _open_text(path):
    return gzip.open(path, "rt", newline="") if path.endswith(".gz") else \
        open(path, newline="", encoding="utf-8")


def load_table(path, *, label_column="label", require_labels=True, n_features=None):
    """``(X float64, y or None)`` from ``path``; see the module docstring for formats.

    ``n_features`` (predict) tells an .npy file with a label column from one without.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    lower = path.lower()
    try:
        if lower.endswith(".npz"):
            X, y = _npz(path)
        elif lower.endswith(".npy"):
            X, y = _npy(path, require_labels, n_features)
        elif lower.endswith((".csv", ".csv.gz")):
            X, y = _csv(path, label_column, require_labels)
        else:
            raise DataError(f"{path}: unsupported file type; expected .npz (X, y), .npy "
                            "(last column = label) or .csv (header row)")
    except DataError:
        raise
    except (OSError, ValueError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read: {e}") from None
    if require_labels and y is None:
        raise DataError(f"{path}: no labels found")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: expected a non-empty 2-D table of features, got shape "
                        f"{X.shape}")
    if not np.isfinite(X).all():
        raise DataError(f"{path}: features contain NaN or inf (missing values are not "
                        "supported; fill or drop them first)")
    if y is not None:
        if len(y) != len(X):
            raise DataError(f"{path}: {len(X)} rows of features but {len(y)} labels")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise DataError(f"{path}: labels contain NaN or inf")
    return X, y


def _numeric(a, what, path):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} must be numbers, got dtype {a.dtype}")
    return a.astype(np.float64) if what == "X" else a


def _npz(path):
    with np.load(path, allow_pickle=False) as f:
        if "X" not in f.files:
            raise DataError(f"{path}: an .npz file needs an array named 'X' (and 'y'); "
                            f"found {sorted(f.files)}")
        X = _numeric(f["X"], "X", path)
        y = _numeric(f["y"], "y", path) if "y" in f.files else None
    if y is not None and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    return X, y


def _npy(path, require_labels, n_features):
    a = _numeric(np.load(path, allow_pickle=False), "X", path)
    if a.ndim != 2:
        raise DataError(f"{path}: expected a 2-D array (rows x columns, last column = "
                        f"label), got shape {a.shape}")
    has_label = require_labels or n_features is None or a.shape[1] == n_features + 1
    if has_label:
        if a.shape[1] < 2:
            raise DataError(f"{path}: needs at least one feature column and the label column")
        return a[:, :-1], a[:, -1]
    return a, None


def _csv(path, label_column, require_labels):
    with _open_text(path) as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise DataError(f"{path}: a header row but no data")
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise DataError(f"{path}: line {i} has {len(r)} fields, the header has "
                            f"{len(header)}")
    try:
        values = np.array([[float(c) for c in r] for r in body])
    except ValueError as e:
        raise DataError(f"{path}: every cell must be a number ({e})") from None
    if label_column in header:
        j = header.index(label_column)
        return np.delete(values, j, axis=1), values[:, j]
    if require_labels:
        raise DataError(f"{path}: no column named {label_column!r} (columns: "
                        f"{', '.join(header[:10])}{', ...' if len(header) > 10 else ''}); "
                        "name the label column with --label-column")
    return values, None


def infer_task(y, task="auto"):
    """``("classify", class ids int64)`` or ``("regress", float targets)``.

    auto: labels that are all whole numbers in 0 .. MAX_AUTO_CLASSES - 1 are class ids
    (one output per class up to the largest id); anything else is a regression target.
    """
    y = np.asarray(y)
    integral = y.dtype.kind in "biu" or (y.dtype.kind == "f" and np.all(y == np.round(y)))
    if task == "auto":
        task = "classify" if (integral and y.ndim == 1 and y.min() >= 0
                              and y.max() < MAX_AUTO_CLASSES) else "regress"
    if task == "classify":
        if y.ndim != 1 or not integral or y.min() < 0:
            raise DataError("classification needs one column of whole-number class ids >= 0")
        ids = y.astype(np.int64)
        if ids.max() < 1:
            raise DataError("classification needs at least 2 classes (labels are all 0)")
        return "classify", ids
    return "regress", y.astype(np.float64)
