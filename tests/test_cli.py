"""The fastgd command line, end to end on small files: exit codes, files written, messages."""
import io
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import fastgd
from fastgd.cli import bench as _bench
from fastgd.training import progress as _progress
from fastgd.cli import main


@pytest.fixture(scope="module")
def digits():
    X, y = fastgd.datasets.load_digits(return_X_y=True)
    return X[:300], y[:300]


@pytest.fixture
def files(tmp_path, digits):
    X, y = digits
    csv = tmp_path / "digits.csv"
    header = ",".join([f"px{i}" for i in range(X.shape[1])] + ["digit"])
    np.savetxt(csv, np.column_stack([X, y]), delimiter=",", header=header, comments="",
               fmt="%.6g")
    npz = tmp_path / "digits.npz"
    np.savez(npz, X=X, y=y)
    npy = tmp_path / "digits.npy"
    np.save(npy, np.column_stack([X, y]))
    return types.SimpleNamespace(dir=tmp_path, csv=str(csv), npz=str(npz), npy=str(npy))


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------- arguments
@pytest.mark.parametrize("argv", [
    [],
    ["nonsense"],
    ["train"],
    ["train", "x.csv", "--epochs", "0"],
    ["train", "x.csv", "--lr", "-1"],
    ["train", "x.csv", "--hidden", "64,abc"],
    ["train", "x.csv", "--schedule", "bogus"],
    ["train", "x.csv", "--schedule", "exponential:0.9:3"],
    ["train", "x.csv", "--val-split", "1.5"],
    ["train", "x.csv", "--optimizer", "lbfgs"],
    ["predict", "model.npz"],
    ["demo", "--threads", "0"],
    ["bench", "--repeat", "x"],
])
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.startswith("fastgd") and err.count("\n") == 1, err
    assert ": error: " in err and "--help" in err


def test_help_and_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"fastgd {fastgd.__version__}"
    code, out, _ = run(["train", "--help"], capsys)
    assert code == 0 and "--label-column" in out and "last column" in out


def test_python_dash_m_entry_point():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fastgd.__file__)), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "fastgd", "train", "--epochs", "0", "x.csv"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("fastgd train: error: argument --epochs")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


# ----------------------------------------------------------------- unusable data
def test_unreadable_data_exits_1(files, capsys):
    d = files.dir
    (d / "bad.csv").write_text("a,b,label\n1,2,0\n3,oops,1\n")
    (d / "ragged.csv").write_text("a,b,label\n1,2,0\n3,1\n")
    (d / "empty.csv").write_text("")
    (d / "data.txt").write_text("1 2 3\n")
    np.savez(d / "noX.npz", features=np.zeros((3, 2)))
    (d / "nan.csv").write_text("a,label\n1,0\nnan,1\n")
    cases = [(str(d / "missing.csv"), "no such file"), (str(d / "bad.csv"), "number"),
             (str(d / "ragged.csv"), "line 3"), (str(d / "empty.csv"), "empty"),
             (str(d / "data.txt"), "unsupported file type"),
             (str(d / "noX.npz"), "named 'X'"), (str(d / "nan.csv"), "NaN")]
    for path, msg in cases:
        code, out, err = run(["train", path, "--epochs", "1"], capsys)
        assert code == 1, path
        assert err.startswith("fastgd train: error:") and msg in err, err
        assert "Traceback" not in err


def test_missing_label_column_is_named(files, capsys):
    code, _, err = run(["train", files.csv, "--epochs", "1"], capsys)   # column is 'digit'
    assert code == 1 and "no column named 'label'" in err and "--label-column" in err


def test_predict_rejects_a_non_model_and_wrong_width(files, capsys):
    code, _, err = run(["predict", files.npz, files.npz], capsys)
    assert code == 1 and "cannot load a fastgd model" in err
    model = files.dir / "m.npz"
    fastgd.MLP([5, 3]).save(model)
    code, _, err = run(["predict", str(model), files.npz], capsys)
    assert code == 1 and "64 features, the model expects 5" in err


def test_save_never_overwrites_the_data(files, capsys):
    code, _, err = run(["train", files.npz, "--save", files.npz, "--epochs", "1"], capsys)
    assert code == 1 and "is the training data" in err
    with np.load(files.npz) as f:
        assert "X" in f.files


# ----------------------------------------------------------------- round trips
def test_train_save_predict_round_trip_csv(files, capsys):
    model_path = str(files.dir / "model.npz")
    preds = str(files.dir / "preds.csv")
    code, out, err = run(["train", files.csv, "--label-column", "digit", "--hidden", "32",
                          "--epochs", "4", "--batch-size", "32", "--lr", "0.01",
                          "--val-split", "0.2", "--schedule", "exponential:0.9",
                          "--save", model_path, "--seed", "3", "--threads", "1"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("fastgd train: task: classification (10 distinct whole numbers "
                               "from 0 to 9); --task regress to override")
    lines = lines[1:]
    assert "240 samples x 64 features (+ 60 validation), classes: 10" in lines[0]
    assert sum(line.startswith("epoch ") for line in lines) == 4
    assert "val_accuracy" in lines[1] and "lr 0.01" in lines[1] and "lr 0.009 " in lines[2]
    assert "done: 4 epochs" in out and f"saved model to {model_path}" in out
    assert "\r" not in out, "no progress bar when stdout is not a terminal"
    code, out, err = run(["predict", model_path, files.csv, "--label-column", "digit",
                          "--out", preds, "--proba"], capsys)
    assert code == 0, err
    assert "predicted 300 rows; accuracy against the file's labels:" in out
    table = np.loadtxt(preds, delimiter=",", skiprows=1)
    with open(preds) as f:
        assert f.readline().strip() == ",".join(["prediction"] + [f"p_{j}" for j in range(10)])
    model = fastgd.MLP.load(model_path)
    X = np.loadtxt(files.csv, delimiter=",", skiprows=1)[:, :64].astype(np.float32)
    np.testing.assert_array_equal(table[:, 0], model.predict(X))
    np.testing.assert_allclose(table[:, 1:].sum(axis=1), 1.0, atol=1e-4)
    acc = float(out.split("labels: ")[1].split(";")[0])
    assert acc > 0.5


def test_train_predict_round_trip_npz_to_stdout(files, capsys):
    model_path = str(files.dir / "m")
    code, out, err = run(["train", files.npz, "--hidden", "16,16", "--optimizer", "sgd",
                          "--lr", "0.1", "--epochs", "2", "--save", model_path], capsys)
    assert code == 0, err
    assert os.path.exists(model_path + ".npz")
    code, out, err = run(["predict", model_path + ".npz", files.npy], capsys)
    assert code == 0, err
    preds = [int(v) for v in out.split()]
    assert len(preds) == 300 and set(preds) <= set(range(10))
    assert "accuracy against the file's labels" in err     # stdout stays predictions only


def test_npy_last_column_is_the_label(files, capsys):
    code, out, _ = run(["train", files.npy, "--epochs", "1", "--hidden", "none"], capsys)
    assert code == 0 and "300 samples x 64 features" in out and "[64, 10]" in out


def test_regression_is_inferred_and_predicted(tmp_path, capsys):
    X, y = fastgd.datasets.make_regression(200, 4, noise=0.01, seed=0)
    data = tmp_path / "reg.npz"
    np.savez(data, X=X, y=y)
    model_path = str(tmp_path / "reg_model.npz")
    code, out, err = run(["train", str(data), "--hidden", "none", "--optimizer", "sgd",
                          "--lr", "0.1", "--batch-size", "16", "--epochs", "30",
                          "--schedule", "cosine", "--save", model_path], capsys)
    assert code == 0, err
    assert "regression" in out and "train r2" in out
    r2 = float(out.split("train r2 ")[1].split(",")[0].split()[0])
    assert r2 > 0.95
    preds = str(tmp_path / "p.csv")
    code, out, err = run(["predict", model_path, str(data), "--out", preds], capsys)
    assert code == 0 and "r2 against the file's labels" in out
    assert np.loadtxt(preds, delimiter=",", skiprows=1).shape == (200,)


def test_classify_rejects_fractional_labels(tmp_path, capsys):
    data = tmp_path / "f.npz"
    np.savez(data, X=np.ones((4, 2)), y=np.array([0.5, 1, 0, 1]))
    code, _, err = run(["train", str(data), "--task", "classify", "--epochs", "1"], capsys)
    assert code == 1 and "whole-number class ids" in err


def test_diverging_training_exits_1(files, capsys):
    code, _, err = run(["train", files.npz, "--optimizer", "sgd", "--lr", "1e30",
                        "--epochs", "3"], capsys)
    assert code == 1 and "non-finite loss" in err


# ----------------------------------------------------------------- progress bar
def test_plain_progress_bar_only_on_a_terminal():
    s = io.StringIO()
    with _progress.EpochProgress(3, stream=s) as bar:     # StringIO is not a TTY
        bar.update(1, "loss 1")
        bar.write("epoch 1")
    assert s.getvalue() == "epoch 1\n"
    s = io.StringIO()
    with _progress.EpochProgress(4, stream=s, enabled=True) as bar:
        bar.update(2, "loss 1")
        bar.write("epoch 2")
    text = s.getvalue()
    assert "\r" in text and "2/4 epochs" in text and "[############------------]" in text
    assert "epoch 2\n" in text


def test_tqdm_is_used_when_installed(monkeypatch):
    calls = []

    class FakeTqdm:
        def __init__(self, **kw):
            calls.append(("init", kw["total"], kw["disable"]))

        def update(self, n):
            calls.append(("update", n))

        def set_postfix_str(self, s, refresh=True):
            calls.append(("postfix", s))

        def close(self):
            calls.append(("close",))

        @staticmethod
        def write(line, file=None):
            file.write(line + "\n")

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    monkeypatch.delenv("FASTGD_NO_TQDM", raising=False)
    s = io.StringIO()
    with _progress.progress(2, stream=s) as bar:
        bar.update(1, "loss 0.5")
        bar.write("line")
    assert calls == [("init", 2, True), ("postfix", "loss 0.5"), ("update", 1), ("close",)]
    assert s.getvalue() == "line\n"
    monkeypatch.setenv("FASTGD_NO_TQDM", "1")
    assert isinstance(_progress.progress(2, stream=s), _progress.EpochProgress)


# ----------------------------------------------------------------- demo and bench
def test_demo_quick_writes_the_report(tmp_path, capsys):
    out_dir = tmp_path / "rep"
    code, out, err = run(["demo", "--quick", "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert (out_dir / "report.html").stat().st_size > 0
    assert (out_dir / "report.md").stat().st_size > 0
    assert "MLP [64, 64, 10] on the digits" in out and "demo finished in" in out


def test_bench_prints_ratios(capsys, monkeypatch):
    monkeypatch.setattr(_bench, "_torch", lambda: None)
    monkeypatch.setattr(_bench, "_sklearn_mlp", lambda: None)
    code, out, err = run(["bench", "--params", "1000", "--samples", "128", "--repeat", "1",
                          "--threads", "1"], capsys)
    assert code == 0, err
    assert "fastgd.Adam" in out and "fastgd.reference.fit (NumPy)" in out
    assert "x fastgd" in out and "torch not installed" in out


def test_bench_with_peers(capsys):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    result = _bench.run_bench(n_params=1000, n_samples=128, repeat=1, n_threads=1,
                              say=lambda *a: None)
    names = [n for n, _ in result["epoch"]]
    assert "torch (nn.Sequential, Adam)" in names
    assert "scikit-learn MLPClassifier.partial_fit" in names
    assert all(s > 0 for _, s in result["optimizer"] + result["epoch"])


def test_large_whole_number_labels_are_a_regression_target():
    from fastgd.cli.datafile import MAX_AUTO_CLASSES, infer_task
    task, y, _ = infer_task(np.array([0, 3, 1, 2]))
    assert task == "classify" and y.dtype == np.int64
    task, y, _ = infer_task(np.array([1999.0, 2005.0, 2010.0]))   # years, not class ids
    assert task == "regress" and y.dtype == np.float64
    assert infer_task(np.arange(MAX_AUTO_CLASSES))[0] == "classify"
    assert infer_task(np.arange(MAX_AUTO_CLASSES + 1))[0] == "regress"
    assert infer_task(np.array([0.5, 1.0]))[0] == "regress"


@pytest.mark.parametrize("spec", ["staircase:0.5:0.5", "step:0.5", "staircase:0.5:2.5",
                                  "cosine:-1"])
def test_schedule_numbers_that_cannot_work_are_usage_errors(spec, tmp_path, capsys):
    assert main(["train", str(tmp_path / "x.csv"), "--schedule", spec]) == 2
    assert "fastgd train: error: argument --schedule" in capsys.readouterr().err


def test_two_column_regression_targets(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.stack([X[:, 0] + 0.5, X[:, 1] - X[:, 2]], axis=1)
    path = tmp_path / "multi.npz"
    np.savez(path, X=X, y=y)
    assert main(["train", str(path), "--task", "regress", "--hidden", "8",
                     "--epochs", "2", "--batch-size", "8"]) == 0
    assert "regression" in capsys.readouterr().out
