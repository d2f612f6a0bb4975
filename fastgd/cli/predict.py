"""``fastgd predict``: a saved model's predictions for a data file, columns matched by the
names stored with the model, printed or written as CSV (atomically, never onto an input).
"""
import csv
import io
import os
import sys

import numpy as np

from fastgd._runtime.npzio import write_atomically
from fastgd.cli.datafile import load_for_model
from fastgd.cli.files import Failure, checked_output, load_model

__all__ = ["cmd_predict"]


def _csv_cell(text):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([text])
    return buf.getvalue()


def cmd_predict(args):
    if args.out:
        checked_output(args.out, "--out", {"the model": args.model, "the data": args.data})
    if not os.path.exists(args.model):
        raise Failure(f"{args.model}: no such file")
    try:
        model, meta = load_model(args.model)
    except Exception as e:   # a damaged file raises zipfile's, numpy's or MLP's errors
        raise Failure(f"{args.model}: cannot load a fastgd model ({type(e).__name__}: "
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
            raise Failure(f"cannot write {args.out}: {e.strerror or e}") from None
        print(f"{info}; wrote {args.out}")
    else:
        sys.stdout.write("".join(f"{v}\n" for v in np.asarray(pred).tolist()))
        print(info, file=sys.stderr)
    return 0
