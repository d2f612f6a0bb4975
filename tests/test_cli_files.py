"""The CLI on real files: task inference, the model file's names / label / standardizer,
columns matched by name, output paths checked before training, one-line errors."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgd
from fastgd.cli import main
from fastgd.cli.datafile import infer_task
from fastgd.cli.files import load_model

ROOT = os.path.dirname(os.path.dirname(fastgd.__file__))


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli(*argv):
    """``python -m fastgd ARGV`` in a fresh process: (returncode, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    env.pop("FASTGD_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "fastgd", *map(str, argv)], capture_output=True,
                       text=True, env=env, timeout=600)   # a hang guard only
    return r.returncode, r.stdout, r.stderr


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(c) for c in r) + "\n")
    return path


@pytest.fixture
def diabetes(tmp_path):
    """Like sklearn's diabetes: 442 rows, 10 scaled features, an integer target 25..346."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((442, 10)) * 0.05
    w = rng.standard_normal(10)
    y = np.clip(np.round(152 + 900 * X @ w / np.linalg.norm(w)), 25, 346)
    y[:2] = 25, 346
    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    path = write_csv(tmp_path / "diabetes.csv", names + ["target"],
                     [list(np.round(x, 6)) + [int(t)] for x, t in zip(X, y)])
    return path, X, y, names


@pytest.fixture
def small(tmp_path):
    """A 3-feature classification CSV with features on very different scales."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 3)) * [1.0, 1e3, 1e-2] + [0, 5e3, 0]
    y = (X[:, 0] + X[:, 1] / 1e3 > 5).astype(int)
    path = write_csv(tmp_path / "small.csv", ["a", "b", "c", "label"],
                     [list(np.round(x, 6)) + [t] for x, t in zip(X, y)])
    return path, X, y


# ----------------------------------------------------------------- --task auto
@pytest.mark.parametrize("y, task", [
    (np.arange(10).repeat(3), "classify"),              # digits
    (np.array([1, 2, 3, 4, 5] * 4), "classify"),         # ratings 1..5
    (np.array([0.0, 1.0, 1.0, 0.0]), "classify"),        # binary, stored as floats
    (np.arange(25, 347), "regress"),                     # diabetes: 322 values
    (np.array([18, 25, 33, 47, 60, 18, 25]), "regress"),  # ages: not ids from 0 or 1
    (np.array([0, 1, 2, 3, 0, 1, 40, 75, 90]), "regress"),  # a long-tailed count
    (np.array([1999, 2005, 2010]), "regress"),           # years
    (np.array([-1, 0, 1, 1]), "regress"),                # negative
    (np.array([0.5, 1.5, 2.0]), "regress"),              # fractional
    (np.zeros(5), "regress"),                            # one value: nothing to classify
])
def test_auto_task_table(y, task):
    got, _, reason = infer_task(y)
    assert got == task, reason


def test_integer_regression_target_is_not_hundreds_of_classes(diabetes, capsys):
    path, X, y, names = diabetes
    code, out, err = run(["train", path, "--label-column", "target", "--hidden", "16",
                          "--epochs", "2", "--threads", "1"], capsys)
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith("fastgd train: task: regression (")
    assert f"{np.unique(y).size} distinct whole numbers from 25 to 346" in first
    assert first.endswith("--task classify to override")
    assert "MLP [10, 16, 1]" in out
    code, out, err = run(["train", path, "--label-column", "target", "--task", "classify",
                          "--epochs", "1", "--hidden", "none", "--threads", "1"], capsys)
    assert code == 0 and "classes: 347" in out and "task:" not in out   # asked for


# ----------------------------------------------------------------- the model file
def test_model_stores_names_label_and_standardizer(small, tmp_path, capsys):
    path, X, y = small
    model_path = tmp_path / "m.npz"
    code, out, err = run(["train", path, "--standardize", "--hidden", "8", "--epochs", "3",
                          "--save", model_path, "--threads", "1"], capsys)
    assert code == 0, err
    assert "standardized" in out
    model, meta = load_model(str(model_path))
    assert meta.names == ["a", "b", "c"] and meta.label == "label" and meta.task == "classify"
    Xf = np.loadtxt(path, delimiter=",", skiprows=1)[:, :3]
    np.testing.assert_allclose(meta.mean, Xf.mean(axis=0))
    np.testing.assert_allclose(meta.scale, Xf.std(axis=0))
    plain = fastgd.MLP.load(str(model_path))           # MLP.load ignores the cli_ keys
    np.testing.assert_array_equal(plain._flat, model._flat)
    # predict applies the standardizer: the same predictions as by hand
    preds = tmp_path / "p.csv"
    code, out, err = run(["predict", model_path, path, "--out", preds], capsys)
    assert code == 0, err
    want = model.predict(((Xf - meta.mean) / meta.scale).astype(np.float32))
    np.testing.assert_array_equal(np.loadtxt(preds, delimiter=",", skiprows=1), want)
    assert "accuracy against the file's labels" in out


def test_predict_matches_columns_by_name_and_drops_the_label(small, tmp_path, capsys):
    path, X, y = small
    model_path = tmp_path / "m.npz"
    assert run(["train", path, "--standardize", "--hidden", "8", "--epochs", "2", "--save",
                model_path, "--threads", "1"], capsys)[0] == 0
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    base = tmp_path / "p0.csv"
    assert run(["predict", model_path, path, "--out", base], capsys)[0] == 0
    want = np.loadtxt(base, delimiter=",", skiprows=1)
    # the same data, columns shuffled, label in front, an extra id column
    shuffled = write_csv(tmp_path / "shuffled.csv", ["label", "c", "id", "a", "b"],
                         [[int(r[3]), r[2], i, r[0], r[1]] for i, r in enumerate(rows)])
    out_csv = tmp_path / "p1.csv"
    code, out, err = run(["predict", model_path, shuffled, "--out", out_csv], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(np.loadtxt(out_csv, delimiter=",", skiprows=1), want)
    assert "matched by name" in err and "ignored column(s)" in err and "'id'" in err
    # without the label column at all
    nolabel = write_csv(tmp_path / "nolabel.csv", ["b", "a", "c"],
                        [[r[1], r[0], r[2]] for r in rows])
    code, out, err = run(["predict", model_path, nolabel], capsys)
    assert code == 0, err
    np.testing.assert_array_equal([int(v) for v in out.split()], want)
    # a renamed column is refused, naming it
    renamed = write_csv(tmp_path / "renamed.csv", ["a", "B", "c"], rows[:, :3])
    code, out, err = run(["predict", model_path, renamed], capsys)
    assert code == 1 and "lacks the model's feature column(s) 'b'" in err


def test_model_without_names_takes_columns_by_position(small, tmp_path, capsys):
    path, X, y = small
    npz = tmp_path / "s.npz"
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    np.savez(npz, X=rows[:, :3], y=rows[:, 3])
    model_path = tmp_path / "m.npz"
    assert run(["train", npz, "--hidden", "none", "--epochs", "1", "--save", model_path,
                "--threads", "1"], capsys)[0] == 0
    code, out, err = run(["predict", model_path, path], capsys)   # a CSV with a header
    assert code == 0, err
    assert "stores no feature names: columns taken by position" in err
    # and a CSV-trained model given an .npz says how it takes the columns
    model2 = tmp_path / "m2.npz"
    assert run(["train", path, "--hidden", "none", "--epochs", "1", "--save", model2,
                "--threads", "1"], capsys)[0] == 0
    code, out, err = run(["predict", model2, npz], capsys)
    assert code == 0 and "has no column names" in err and "'a', 'b', 'c'" in err


# ----------------------------------------------------------------- columns and cells
def test_text_columns_need_drop_or_features(tmp_path, capsys):
    rows = [["x%d" % i, i % 3, i * 0.5, (i * 7) % 5, i % 2] for i in range(40)]
    path = write_csv(tmp_path / "mixed.csv", ["name", "a", "b", "c", "label"], rows)
    code, out, err = run(["train", path, "--epochs", "1"], capsys)
    assert code == 1
    assert "line 2, column 'name': 'x0' is not a number" in err and "--drop name" in err
    model_path = tmp_path / "m.npz"
    code, out, err = run(["train", path, "--drop", "name", "--epochs", "1", "--hidden", "4",
                          "--save", model_path, "--threads", "1"], capsys)
    assert code == 0 and "40 samples x 3 features" in out and "left out column(s) 'name'" in out
    assert load_model(str(model_path))[1].names == ["a", "b", "c"]
    # predict on the same file: 'name' is not a feature of the model, so it is ignored
    code, out, err = run(["predict", model_path, path], capsys)
    assert code == 0, err
    code, out, err = run(["train", path, "--features", "c,a", "--epochs", "1", "--hidden",
                          "none", "--save", model_path, "--threads", "1"], capsys)
    assert code == 0 and "40 samples x 2 features" in out
    assert load_model(str(model_path))[1].names == ["c", "a"]
    for flags, msg in [(["--drop", "nope"], "--drop names 'nope', not a column"),
                       (["--features", "a,label"], "'label' is the label column"),
                       (["--features", "a,a"], "a column is named twice")]:
        code, _, err = run(["train", path, "--epochs", "1", *flags], capsys)
        assert code == 1 and msg in err, (flags, err)


def test_empty_and_nan_cells_are_named(tmp_path, capsys):
    path = tmp_path / "holes.csv"
    path.write_text("a,b,label\n1,2,0\n\n3, ,1\n4,5,0\n")
    code, _, err = run(["train", path, "--epochs", "1"], capsys)
    assert code == 1 and "line 4, column 'b': empty cell" in err
    path.write_text("a,b,label\n1,2,0\n3,nan,1\n")
    code, _, err = run(["train", path, "--epochs", "1"], capsys)
    assert code == 1 and "line 3, column 'b': NaN" in err
    path.write_text("a,b,label\n1,2,0\n3,4,\n")
    code, _, err = run(["train", path, "--epochs", "1"], capsys)
    assert code == 1 and "line 3, column 'label': empty cell" in err
    path.write_text("a,a,label\n1,2,0\n")
    code, _, err = run(["train", path, "--epochs", "1"], capsys)
    assert code == 1 and "two columns are named 'a'" in err
    npz = tmp_path / "holes.npz"
    X = np.ones((4, 3))
    X[2, 1] = np.inf
    np.savez(npz, X=X, y=np.array([0, 1, 0, 1]))
    code, _, err = run(["train", npz, "--epochs", "1"], capsys)
    assert code == 1 and "row 2, column 1: inf" in err


# ----------------------------------------------------------------- output paths
def test_output_paths_checked_before_training(small, tmp_path, capsys):
    path, X, y = small
    data_before = path.read_bytes()
    link = tmp_path / "link.npz"
    os.symlink(path, link)                    # --save through a link onto the data
    hard = tmp_path / "hard.npz"
    os.link(path, hard)                       # a hard link to the data
    cases = [
        (tmp_path / "missing" / "m.npz", "no such directory"),
        (link, "is the training data"),
        (hard, "is the training data"),
        (tmp_path, "is a directory"),
    ]
    for save, msg in cases:
        code, out, err = run(["train", path, "--save", save, "--epochs", "1"], capsys)
        assert code == 1 and msg in err, (save, err)
        assert "epoch" not in out, "checked before training"
    assert path.read_bytes() == data_before
    assert os.path.islink(link)
    # another spelling of an .npz data file (--save adds .npz to a name without it)
    npz = tmp_path / "data.npz"
    np.savez(npz, X=X, y=y)
    (tmp_path / "sub").mkdir()
    for save in [tmp_path / "sub" / ".." / "data.npz", tmp_path / "sub" / ".." / "data"]:
        code, out, err = run(["train", npz, "--save", save, "--epochs", "1"], capsys)
        assert code == 1 and "is the training data" in err, (save, err)
    with np.load(npz) as f:
        np.testing.assert_array_equal(f["X"], X)


def test_predict_out_never_overwrites_model_or_data(small, tmp_path, capsys):
    path, X, y = small
    model_path = tmp_path / "m.npz"
    assert run(["train", path, "--epochs", "1", "--hidden", "none", "--save", model_path,
                "--threads", "1"], capsys)[0] == 0
    model_bytes = model_path.read_bytes()
    link = tmp_path / "preds.csv"
    os.symlink(model_path, link)
    for out_path, msg in [(model_path, "is the model"), (link, "is the model"),
                          (path, "is the data"), (tmp_path, "is a directory"),
                          (tmp_path / "nodir" / "p.csv", "no such directory")]:
        code, _, err = run(["predict", model_path, path, "--out", out_path], capsys)
        assert code == 1 and msg in err, (out_path, err)
    assert model_path.read_bytes() == model_bytes


def test_saves_are_atomic_and_replace(small, tmp_path, capsys):
    path, X, y = small
    model_path = tmp_path / "m.npz"
    model_path.write_bytes(b"old")
    assert run(["train", path, "--epochs", "1", "--hidden", "none", "--save", model_path,
                "--threads", "1"], capsys)[0] == 0
    load_model(str(model_path))
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "small.csv"], "no temporary left"


# ----------------------------------------------------------------- one-line errors
def test_unexpected_errors_are_one_line(small, monkeypatch, capsys):
    path, X, y = small

    def boom(*a, **k):
        raise RuntimeError("kaboom\nsecond line")
    monkeypatch.setattr(fastgd, "fit", boom)
    code, out, err = run(["train", path, "--epochs", "1"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("fastgd train: error: unexpected RuntimeError: kaboom second line")
    monkeypatch.setenv("FASTGD_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["train", str(path), "--epochs", "1"])


def test_every_error_is_one_line_in_a_real_process(small, tmp_path):
    """The exit code and the whole stderr of `python -m fastgd` for each kind of error."""
    path, X, y = small
    model_path = tmp_path / "m.npz"
    fastgd.MLP([3, 2]).save(model_path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(model_path.read_bytes()[:100])
    holes = tmp_path / "holes.csv"
    holes.write_text("a,b,c,label\n1,,2,0\n")
    text = tmp_path / "text.csv"
    text.write_text("a,b,c,label\n1,x,2,0\n")
    link = tmp_path / "link.npz"
    os.symlink(path, link)
    cases = [
        (2, "train", ["train", path, "--epochs", "0"]),
        (1, "train", ["train", tmp_path / "nope.csv"]),
        (1, "train", ["train", tmp_path]),                     # a directory as data
        (1, "train", ["train", holes]),
        (1, "train", ["train", text]),
        (1, "train", ["train", path, "--save", link]),
        (1, "train", ["train", path, "--save", tmp_path / "no" / "m.npz"]),
        (1, "predict", ["predict", truncated, path]),
        (1, "predict", ["predict", path, path]),               # a CSV is not a model
        (1, "predict", ["predict", model_path, path, "--out", model_path]),
    ]
    for want, cmd, argv in cases:
        code, out, err = cli(*argv)
        assert code == want, (argv, code, err)
        assert err.startswith(f"fastgd {cmd}: error: ") and err.count("\n") == 1, (argv, err)
        assert "Traceback" not in err
    assert path.read_text().startswith("a,b,c,label")


def test_predict_with_unknown_labels_still_predicts(small, tmp_path, capsys):
    """New data often has the label column with nothing in it: predict, do not score."""
    path, X, y = small
    model_path = tmp_path / "m.npz"
    assert run(["train", path, "--hidden", "none", "--epochs", "1", "--save", model_path,
                "--threads", "1"], capsys)[0] == 0
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    new = write_csv(tmp_path / "new.csv", ["a", "b", "c", "label"],
                    [[r[0], r[1], r[2], ""] for r in rows[:5]])
    code, out, err = run(["predict", model_path, new], capsys)
    assert code == 0, err
    assert len(out.split()) == 5 and "accuracy" not in err
    assert "the label column 'label' is not scored (line 2, column 'label': empty cell" in err


def test_text_labels_are_classes_and_come_back_as_names(tmp_path, capsys):
    """An iris-like CSV: the species column holds names; predict writes names back."""
    rng = np.random.default_rng(2)
    species = np.array(["setosa", "versicolor", "virginica"])
    ids = rng.integers(0, 3, 90)
    X = rng.standard_normal((90, 2)) * 0.3 + ids[:, None]
    path = write_csv(tmp_path / "iris.csv", ["sepal", "petal", "species"],
                     [[round(a, 4), round(b, 4), species[i]] for (a, b), i in zip(X, ids)])
    model_path = tmp_path / "m.npz"
    code, out, err = run(["train", path, "--label-column", "species", "--hidden", "8",
                          "--epochs", "20", "--lr", "0.05", "--save", model_path,
                          "--threads", "1"], capsys)
    assert code == 0, err
    assert ("task: classification (text labels: 3 classes 'setosa', 'versicolor', "
            "'virginica')") in out and "classes: 3" in out
    model, meta = load_model(str(model_path))
    assert meta.classes == list(species)
    preds = tmp_path / "p.csv"
    code, out, err = run(["predict", model_path, path, "--out", preds, "--proba"], capsys)
    assert code == 0, err
    lines = preds.read_text().splitlines()
    assert lines[0] == "prediction,p_setosa,p_versicolor,p_virginica"
    got = [line.split(",")[0] for line in lines[1:]]
    assert set(got) <= set(species) and len(got) == 90
    want = species[model.predict(X.round(4).astype(np.float32))]
    assert got == list(want)
    assert "accuracy against the file's labels" in out
    code, out, err = run(["predict", model_path, path], capsys)
    assert code == 0 and out.split() == list(want)
    code, out, err = run(["train", path, "--label-column", "species", "--task", "regress"],
                         capsys)
    assert code == 1 and "needs numbers in the label column 'species'" in err
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("a,label\n1,0\n2,1\n3,x\n")        # numbers with a stray word
    code, out, err = run(["train", mixed, "--epochs", "1"], capsys)
    assert code == 1 and "line 4, column 'label': 'x' is not a number" in err
