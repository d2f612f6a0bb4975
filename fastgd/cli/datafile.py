"""Reading a user's data file for ``fastgd train`` / ``fastgd predict``.

Formats (chosen by the file name's ending):

* ``.npz`` -- arrays ``X`` (samples x features) and ``y`` (labels or targets; optional
  for predict), as written by ``numpy.savez(path, X=X, y=y)``. No column names.
* ``.npy`` -- one 2-D numeric array whose **last column is the label**. For predict, an
  array with exactly the model's number of features has no label column. No column names.
* ``.csv`` / ``.csv.gz`` -- a header row of column names, then numbers separated by
  commas; the label is the column named ``label_column`` (default ``label``), every other
  column is a feature unless ``drop`` leaves it out or ``features`` names the ones to use.
  Only the columns used are parsed, so a text column (a name, a date) is fine once dropped.

For predict, :func:`load_for_model` selects a CSV's columns **by name** -- the model's
feature names in the model's order, whatever order the file has, the label column left
out -- and refuses a file that lacks one of them; files without names are taken by
position, and the CLI says so.

Every problem (missing file, wrong format, an empty or non-numeric cell, ragged rows) is
raised as :class:`DataError` with a message that names the file and, for a cell, its line
and column; the CLI prints it on one line and exits 1.
"""
import csv
import gzip
import os
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DataError", "Table", "load_table", "load_for_model", "infer_task",
           "MAX_AUTO_CLASSES"]

# --task auto takes whole-number labels for class ids only when there are at most this
# many of them (and they look like ids: see infer_task); a softmax over hundreds of
# "classes" made from a numeric target (diabetes' 25..346) is never what was meant.
MAX_AUTO_CLASSES = 100


class DataError(Exception):
    """The data file cannot be used; the message says why."""


@dataclass
class Table:
    """Features (float64), labels (or None), and the names the file gave them."""
    X: np.ndarray
    y: object = None
    names: list = None          # feature names in X's column order; None: the file has none
    label: str = None           # the label column's name (CSV) or None
    notes: list = field(default_factory=list)   # what the loader decided, for the user
    lines: list = None          # CSV: the file's line number of each row, for messages


def _open_text(path):
    # utf-8-sig: a byte-order mark (Excel's CSV export) is not part of the first name
    return gzip.open(path, "rt", newline="", encoding="utf-8-sig") \
        if path.lower().endswith(".gz") else open(path, newline="", encoding="utf-8-sig")


def _kind(path):
    lower = path.lower()
    if lower.endswith(".npz"):
        return "npz"
    if lower.endswith(".npy"):
        return "npy"
    if lower.endswith((".csv", ".csv.gz")):
        return "csv"
    raise DataError(f"{path}: unsupported file type; expected .npz (X, y), .npy "
                    "(last column = label) or .csv (header row)")


def _guarded(path, read):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, not a data file")
    try:
        return read(path)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read: {e}") from None
    except Exception as e:   # zipfile.BadZipFile and other format errors of a damaged file
        raise DataError(f"{path}: cannot read ({type(e).__name__}: {e})") from None


def load_table(path, *, label_column="label", require_labels=True, n_features=None,
               drop=(), features=None):
    """A :class:`Table` from ``path`` for training (see the module docstring for formats).

    ``n_features`` (predict) tells an .npy file with a label column from one without.
    ``drop`` / ``features`` (CSV only): column names to leave out / the only ones to use.
    """
    def read(path):
        kind = _kind(path)
        if kind != "csv" and (drop or features):
            raise DataError(f"{path}: --drop and --features name CSV columns; "
                            f"a .{kind} file has no column names")
        if kind == "npz":
            t = _npz(path)
        elif kind == "npy":
            t = _npy(path, require_labels, n_features)
        else:
            header, rows = _csv_rows(path)
            t = _csv_train(path, header, rows, label_column, require_labels, drop, features)
        return _finish(path, t, require_labels)
    return _guarded(path, read)


def load_for_model(path, *, names, n_features, label_column, drop=()):
    """A :class:`Table` whose columns are the model's features, for predict.

    ``names``: the model's feature names (None for a model without them). A CSV's columns
    are matched by name when the model has names, else taken by position (every column but
    the label and ``drop``); .npz/.npy columns are always taken by position."""
    def read(path):
        kind = _kind(path)
        if kind == "npz":
            t = _npz(path)
        elif kind == "npy":
            t = _npy(path, False, n_features)
        else:
            header, rows = _csv_rows(path)
            t = _csv_for_model(path, header, rows, names, n_features, label_column, drop)
        if kind != "csv" and names is not None:
            t.notes.append(f"{os.path.basename(path)} has no column names: its columns are "
                           "taken as the model's features in the model's order ("
                           + _short_list(names) + ")")
        if t.X.ndim == 2 and t.X.shape[1] != n_features:
            raise DataError(f"{path}: has {t.X.shape[1]} features, the model expects "
                            f"{n_features}")
        return _finish(path, t, False)
    return _guarded(path, read)


def _finish(path, t, require_labels):
    if require_labels and t.y is None:
        raise DataError(f"{path}: no labels found")
    X = t.X
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: expected a non-empty 2-D table of features, got shape "
                        f"{X.shape}")
    if not np.isfinite(X).all():
        r, c = (int(i) for i in np.argwhere(~np.isfinite(X))[0])
        where = (f"line {t.lines[r]}, column {t.names[c]!r}" if t.lines is not None
                 else f"row {r}, column {c}")
        raise DataError(f"{path}: {where}: {'NaN' if np.isnan(X[r, c]) else 'inf'} "
                        "(missing or infinite values are not supported; fill or remove them "
                        "first)")
    if t.y is not None:
        y = t.y
        if len(y) != len(X):
            raise DataError(f"{path}: {len(X)} rows of features but {len(y)} labels")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            r = int(np.argwhere(~np.isfinite(y.reshape(len(y), -1)))[0][0])
            where = (f"line {t.lines[r]}, column {t.label!r}" if t.lines is not None
                     else f"label of row {r}")
            raise DataError(f"{path}: {where}: NaN or inf is not a usable label")
    return t


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
    return Table(X, y)


def _npy(path, require_labels, n_features):
    a = _numeric(np.load(path, allow_pickle=False), "X", path)
    if a.ndim != 2:
        raise DataError(f"{path}: expected a 2-D array (rows x columns, last column = "
                        f"label), got shape {a.shape}")
    has_label = require_labels or n_features is None or a.shape[1] == n_features + 1
    if has_label:
        if a.shape[1] < 2:
            raise DataError(f"{path}: needs at least one feature column and the label column")
        return Table(a[:, :-1], a[:, -1])
    return Table(a, None)


# ------------------------------------------------------------------ CSV
def _csv_rows(path):
    """(header names, [(line number, cells)]) with blank lines skipped; checks names and
    row lengths."""
    with _open_text(path) as f:
        reader = csv.reader(f)
        rows = []
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                rows.append((reader.line_num, cells))
    if not rows:
        raise DataError(f"{path}: empty file")
    header = [h.strip() for h in rows[0][1]]
    body = rows[1:]
    if not body:
        raise DataError(f"{path}: a header row but no data")
    seen = {}
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"{path}: header column {j + 1} has no name")
        if name in seen:
            raise DataError(f"{path}: two columns are named {name!r} (columns {seen[name] + 1} "
                            f"and {j + 1}); names must be unique")
        seen[name] = j
    for line, cells in body:
        if len(cells) != len(header):
            raise DataError(f"{path}: line {line} has {len(cells)} fields, the header has "
                            f"{len(header)}")
    return header, body


def _names_in(path, header, names, flag):
    missing = [n for n in names if n not in header]
    if missing:
        raise DataError(f"{path}: {flag} names {_short_list(missing)}, not a column (columns: "
                        f"{_short_list(header)})")
    if len(set(names)) != len(names):
        raise DataError(f"{flag}: a column is named twice in {', '.join(names)}")


def _csv_train(path, header, body, label_column, require_labels, drop, features):
    has_label = label_column in header
    if require_labels and not has_label:
        raise DataError(f"{path}: no column named {label_column!r} (columns: "
                        f"{_short_list(header)}); name the label column with --label-column")
    label = label_column if has_label else None
    _names_in(path, header, drop, "--drop")
    if features is not None:
        _names_in(path, header, features, "--features")
        if label in features:
            raise DataError(f"--features: {label!r} is the label column")
        clash = [n for n in features if n in drop]
        if clash:
            raise DataError(f"--features and --drop both name {_short_list(clash)}")
        names = list(features)
    else:
        names = [h for h in header if h != label and h not in drop]
    if not names:
        raise DataError(f"{path}: no feature columns left (columns: {_short_list(header)})")
    t = _parse(path, header, body, names, label)
    if drop:
        t.notes.append(f"left out column(s) {_short_list(list(drop))}")
    return t


def _csv_for_model(path, header, body, names, n_features, label_column, drop):
    label = label_column if label_column in header else None
    if names is not None:
        missing = [n for n in names if n not in header]
        if missing:
            raise DataError(f"{path}: lacks the model's feature column(s) "
                            f"{_short_list(missing)} (the model was trained on "
                            f"{_short_list(names)}; columns are matched by name)")
        extra = [h for h in header if h not in names and h != label and h not in drop]
        t = _parse(path, header, body, list(names), label, label_optional=True)
        order = [h for h in header if h in names]
        if order != list(names):
            t.notes.append("columns matched by name (the file's order differs from the "
                           "model's)")
        if extra:
            t.notes.append(f"ignored column(s) the model was not trained on: "
                           f"{_short_list(extra)}")
        return t
    _names_in(path, header, drop, "--drop")
    cols = [h for h in header if h != label and h not in drop]
    if len(cols) != n_features:
        raise DataError(f"{path}: has {len(cols)} feature columns"
                        + (f" (besides the label {label!r})" if label else "")
                        + f", the model expects {n_features}")
    t = _parse(path, header, body, cols, label, label_optional=True)
    t.notes.append("the model stores no feature names: columns taken by position")
    return t


def _parse(path, header, body, names, label, label_optional=False):
    """Parse only the named columns (and the label); errors name the line and column.

    ``label_optional`` (predict): a label column that does not parse is not an error, the
    labels are just not scored (a note says why)."""
    feats = _columns(path, header, body, [header.index(n) for n in names], label)
    y, notes = None, []
    if label is not None:
        try:
            y = _text_or_numbers(path, header, body, label)
        except DataError as e:
            if not label_optional:
                raise
            notes.append(f"the label column {label!r} is not scored ({str(e).split(': ', 1)[1]})")
    return Table(feats, y, names=list(names), label=label, notes=notes,
                 lines=[line for line, _ in body])


def _text_or_numbers(path, header, body, label):
    """The label column: float64 if every cell is a number, else the cells as text (class
    names such as 'setosa'); an empty cell is an error either way."""
    j = header.index(label)
    try:
        return _columns(path, header, body, [j], label)[:, 0]
    except DataError:
        cells = [(line, cells[j].strip()) for line, cells in body]
        for line, text in cells:
            if not text:
                raise DataError(f"{path}: line {line}, column {label!r}: empty cell (every "
                                "row needs a label)") from None
        if all(_is_number(t) for _, t in cells[:1]) and any(_is_number(t) for _, t in cells):
            raise      # mostly numbers with a stray word: report that cell, do not guess
        return np.array([t for _, t in cells])


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _columns(path, header, body, want, label):
    try:
        return np.array([[cells[j] for j in want] for _, cells in body], dtype=np.float64)
    except ValueError:
        pass
    for line, cells in body:     # find the first bad cell, to name it
        for j in want:
            text = cells[j].strip()
            if not text:
                raise DataError(f"{path}: line {line}, column {header[j]!r}: empty cell "
                                "(missing values are not supported: fill or remove the "
                                f"row, or leave the column out with --drop {header[j]})")
            try:
                float(text)
            except ValueError:
                hint = ("the label must be a number" if header[j] == label else
                        f"leave the column out with --drop {header[j]} or choose "
                        "columns with --features")
                raise DataError(f"{path}: line {line}, column {header[j]!r}: "
                                f"{_clip(text)!r} is not a number; {hint}") from None
    raise DataError(f"{path}: a cell is not a number")   # not reached


def _clip(text, n=40):
    return text if len(text) <= n else text[:n] + "..."


def _short_list(names, n=10):
    names = list(names)
    shown = ", ".join(repr(x) for x in names[:n])
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


# ------------------------------------------------------------------ task
def infer_task(y, task="auto"):
    """``(task, labels, reason)``: ``("classify", class ids int64, why)`` or
    ``("regress", float targets, why)``; ``reason`` says why, for the user.

    auto: classification when the labels look like class ids -- whole numbers >= 0, at most
    MAX_AUTO_CLASSES distinct values, starting at 0 or 1, and using at least half of the ids
    0 .. max (so 0..9 or 1..5 are classes; 25..346, a count with a long tail, or years are
    regression targets). The CLI prints the decision and the flag that overrides it.
    """
    y = np.asarray(y)
    integral = y.dtype.kind in "biu" or (y.dtype.kind == "f" and bool(np.all(y == np.round(y))))
    reason = None
    if task == "auto":
        if y.ndim != 1:
            task, reason = "regress", f"{y.shape[1]} target columns"
        elif not integral:
            task, reason = "regress", "the labels are not all whole numbers"
        else:
            lo, hi = y.min(), y.max()
            distinct = int(np.unique(y).size)
            span = f"{distinct} distinct whole numbers from {lo:g} to {hi:g}"
            if lo < 0:
                task, reason = "regress", f"{span}; negative, so not class ids"
            elif distinct > MAX_AUTO_CLASSES:
                task, reason = "regress", f"{span}; more than {MAX_AUTO_CLASSES}, so not " \
                    "class ids"
            elif lo > 1:
                task, reason = "regress", f"{span}; class ids start at 0 or 1"
            elif distinct < 2:
                task, reason = "regress", f"{span}; one value is no classification"
            elif distinct * 2 < hi + 1:
                task, reason = "regress", f"{span}; most ids in 0..{hi:g} unused, so not " \
                    "class ids"
            else:
                task, reason = "classify", span
    if task == "classify":
        if y.ndim != 1 or not integral or y.min() < 0:
            raise DataError("classification needs one column of whole-number class ids >= 0")
        ids = y.astype(np.int64)
        if ids.max() < 1:
            raise DataError("classification needs at least 2 classes (labels are all 0)")
        return "classify", ids, reason or "--task classify"
    return "regress", y.astype(np.float64), reason or "--task regress"
