"""The CLI's output files: checked before any work, written atomically, with the model's
CLI metadata beside its parameters.

Output checks (:func:`check_output`) run before training or predicting, so a run is never
lost to a path that cannot be written: the folder must exist and be writable, the path
must not be a folder, and it must not resolve to an input -- through a symbolic link, a
hard link, ``..`` or a second spelling of the same path (``--save`` onto the training data,
``predict --out`` onto the model or the data).

Writes (``fastgd._runtime.npzio.write_atomically``) go to a temporary file in the
destination's folder, then ``os.replace``: an interrupted write never leaves half a model,
and a symbolic link at the destination is kept (its target is replaced, after the check
above said the target is no input). Special files (``/dev/stdout``) are written directly.

Model files are :meth:`fastgd.MLP.save`'s .npz plus keys under ``cli_``: feature names,
label column, task, class names (text labels), and the standardizer's mean and scale.
``MLP.load`` reads only its own keys, so a CLI model loads in Python too, and ``predict``
takes a plain ``MLP.save`` file (no names: columns by position).
"""
import io
import os
import stat

import numpy as np

from fastgd._runtime.npzio import write_atomically

__all__ = ["Failure", "OutputError", "check_output", "checked_output", "write_atomically",
           "save_model", "load_model", "ModelMeta"]

CLI_FORMAT = 1


class Failure(Exception):
    """A run that cannot go on; ``fastgd.cli.main`` prints the message and returns 1."""


class OutputError(Exception):
    """An output path that cannot or must not be written; the message says why."""


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path, flag, inputs):
    """Raise :class:`OutputError` unless ``path`` can be written without touching any of
    ``inputs`` (``{description: path}``)."""
    real = os.path.realpath(path)
    for what, other in inputs.items():
        if other is not None and (_same_file(path, other)
                                  or real == os.path.realpath(other)):
            how = " (through a link)" if os.path.islink(path) or \
                os.path.realpath(path) != os.path.abspath(path) else ""
            raise OutputError(f"{flag} {path}: is {what} {other}{how}; choose another path")
    if os.path.isdir(real):
        raise OutputError(f"{flag} {path}: is a directory; give a file name")
    folder = os.path.dirname(real) or "."
    if not os.path.isdir(folder):
        raise OutputError(f"{flag} {path}: no such directory {os.path.dirname(path) or '.'}")
    if os.path.exists(real):
        if stat.S_ISREG(os.stat(real).st_mode):
            if not os.access(real, os.W_OK):
                raise OutputError(f"{flag} {path}: the file is read-only")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise OutputError(f"{flag} {path}: cannot write in {folder}")
    elif not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: cannot write in {folder}")


def checked_output(path, flag, inputs):
    """:func:`check_output`, its refusal turned into the command's one-line failure."""
    try:
        check_output(path, flag, inputs)
    except OutputError as e:
        raise Failure(str(e)) from None


class ModelMeta:
    """What the CLI stores with a model: feature names (or None), label column (or None),
    task ("classify"/"regress"/None), standardizer mean and scale (or None), class names
    (text labels, class id i = classes[i]; or None)."""

    def __init__(self, names=None, label=None, task=None, mean=None, scale=None,
                 classes=None):
        self.names = None if names is None else [str(n) for n in names]
        self.classes = None if classes is None else [str(c) for c in classes]
        self.label = label
        self.task = task
        self.mean = mean
        self.scale = scale

    def transform(self, X):
        """Standardize ``X`` (float64) as in training; X unchanged without a standardizer."""
        if self.mean is None:
            return X
        return (X - self.mean) / self.scale


def save_model(model, path, meta):
    """Write ``model`` (MLP.save's keys) and ``meta`` (``cli_*`` keys) atomically."""
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["cli_format"] = np.array(CLI_FORMAT)
    if meta.names is not None:
        arrays["cli_feature_names"] = np.array(meta.names, dtype=str)
    if meta.label is not None:
        arrays["cli_label_column"] = np.array(meta.label)
    if meta.task is not None:
        arrays["cli_task"] = np.array(meta.task)
    if meta.classes is not None:
        arrays["cli_classes"] = np.array(meta.classes, dtype=str)
    if meta.mean is not None:
        arrays["cli_mean"] = np.asarray(meta.mean, dtype=np.float64)
        arrays["cli_scale"] = np.asarray(meta.scale, dtype=np.float64)
    write_atomically(path, lambda f: np.savez(f, **arrays), follow_links=True)


def load_model(path):
    """``(MLP, ModelMeta)``; ValueError (or an OSError) with the reason when ``path`` is
    not a usable model file."""
    from fastgd import MLP
    model = MLP.load(path)
    with np.load(path, allow_pickle=False) as f:
        keys = set(f.files)
        if "cli_format" in keys and int(f["cli_format"]) > CLI_FORMAT:
            raise ValueError(f"written by a newer fastgd (CLI format {int(f['cli_format'])})")
        names = [str(n) for n in f["cli_feature_names"]] if "cli_feature_names" in keys \
            else None
        label = str(f["cli_label_column"]) if "cli_label_column" in keys else None
        task = str(f["cli_task"]) if "cli_task" in keys else None
        mean = f["cli_mean"].astype(np.float64) if "cli_mean" in keys else None
        scale = f["cli_scale"].astype(np.float64) if "cli_scale" in keys else None
        classes = [str(c) for c in f["cli_classes"]] if "cli_classes" in keys else None
    n_in = model.layer_sizes[0]
    if classes is not None and (model.output != "softmax"
                                or len(classes) != model.layer_sizes[-1]):
        raise ValueError(f"its {len(classes)} class names do not fit the model's "
                         f"{model.layer_sizes[-1]} outputs")
    if names is not None and (len(names) != n_in or len(set(names)) != n_in):
        raise ValueError(f"its {len(names)} feature names do not fit the model's {n_in} "
                         "inputs")
    if (mean is None) != (scale is None) or (mean is not None and (
            mean.shape != (n_in,) or scale.shape != (n_in,) or not np.isfinite(mean).all()
            or not np.isfinite(scale).all() or not (scale > 0).all())):
        raise ValueError("its standardizer is damaged (mean/scale missing, of the wrong "
                         "length, non-finite or not > 0)")
    return model, ModelMeta(names, label, task, mean, scale, classes)
