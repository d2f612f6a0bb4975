"""Model files and checkpoints that are truncated, bit-flipped, hostile or of another
version: a ValueError naming the file and the problem, before anything is allocated from
the sizes the file declares -- never a zipfile traceback, never pickle, never a silently
different model."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

import fastgd
from fastgd import schedules as S


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    model = fastgd.MLP([4, 5, 3], dtype=np.float64, seed=1)
    opt = fastgd.Adam(model.parameters(), lr=0.01)
    sched = S.StepLR(opt, 1, gamma=0.5)
    h = fastgd.fit(model, X, y, opt, epochs=2, batch_size=8, seed=0, schedule=sched)
    return {"model": model.save(d / "model"),
            "checkpoint": fastgd.save(d / "ckpt", model, opt, sched, h),
            "flat": model._flat.copy(), "dir": d}


def open_bytes(path):
    with open(path, "rb") as f:
        return f.read()


LOADERS = {"model": fastgd.MLP.load, "checkpoint": fastgd.load}


def _params(obj):
    return (obj if isinstance(obj, fastgd.MLP) else obj.model)._flat


@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_truncated_files_raise_value_error(kind, files, tmp_path):
    data = open_bytes(files[kind])
    cuts = sorted(set(list(range(0, 64)) + list(range(0, len(data), max(1, len(data) // 150)))
                      + [len(data) - k for k in range(1, 40)]))
    for cut in cuts:
        p = tmp_path / "cut.npz"
        p.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut.npz"):
            LOADERS[kind](p)


@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_bit_flips_raise_or_change_nothing(kind, files, tmp_path):
    """A flipped bit is caught (zip CRC-32, header checks) or lies where it changes no
    value (a timestamp): the file then loads with the original parameters."""
    data = bytearray(open_bytes(files[kind]))
    step = max(1, len(data) // 400)
    errors = 0
    for pos in range(0, len(data), step):
        bad = bytearray(data)
        bad[pos] ^= 1 << (pos % 8)
        p = tmp_path / "flip.npz"
        p.write_bytes(bytes(bad))
        try:
            loaded = LOADERS[kind](p)
        except ValueError as e:
            assert "flip.npz" in str(e)
            errors += 1
            continue
        np.testing.assert_array_equal(_params(loaded), files["flat"], err_msg=f"byte {pos}")
    assert errors > 0.8 * len(range(0, len(data), step))


def _write_entries(path, entries, compression=zipfile.ZIP_STORED):
    """A zip of raw .npy byte strings (or arrays) -- for files np.savez would not write."""
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, value in entries.items():
            if isinstance(value, np.ndarray):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, value, allow_pickle=True)
                value = buf.getvalue()
            z.writestr(name + ".npy", value)
    return path


def _npy_header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _model_entries(layer_sizes=(4, 5, 3), params=None):
    n = sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    if params is None and n > 10**6:
        params = np.zeros(1)
    return {"layer_sizes": np.array(layer_sizes, dtype=np.int64),
            "activation": np.array("relu"), "output": np.array("softmax"),
            "alpha": np.array(0.0), "dtype": np.array("float64"),
            "params": np.zeros(n) if params is None else params}


def test_small_file_cannot_declare_a_huge_model(tmp_path, monkeypatch):
    """1 KB declaring 10^10 parameters (~75 GB): refused before the model is built."""
    built = []
    real_init = fastgd.MLP.__init__
    monkeypatch.setattr(fastgd.MLP, "__init__",
                        lambda self, *a, **k: built.append(a) or real_init(self, *a, **k))
    entries = _model_entries((100_000, 100_000))
    entries["params"] = _npy_header((100_000 * 100_000 + 100_000,)) + b"\0" * 64
    p = _write_entries(tmp_path / "huge.npz", entries)
    assert os.path.getsize(p) < 2048
    with pytest.raises(ValueError, match="huge.npz.*params.*declares shape"):
        fastgd.MLP.load(p)
    # the header alone matching its data size is still refused: sizes disagree
    entries["params"] = np.zeros(10)
    with pytest.raises(ValueError, match="huge.npz.*params"):
        fastgd.MLP.load(_write_entries(tmp_path / "huge.npz", entries))
    assert built == []


def test_deflated_entry_cannot_claim_more_than_deflate_gives(tmp_path):
    entries = _model_entries()
    p = _write_entries(tmp_path / "z.npz", entries, zipfile.ZIP_DEFLATED)
    np.testing.assert_array_equal(fastgd.MLP.load(p)._flat, 0.0)   # deflate is fine
    raw = bytearray(p.read_bytes())
    # claim 2**31 uncompressed bytes for the params entry in the central directory
    with zipfile.ZipFile(p) as z:
        info = z.getinfo("params.npy")
    cd = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"params.npy"))
    assert cd > 0
    raw[cd + 24:cd + 28] = (2 ** 31).to_bytes(4, "little")
    assert info.file_size < 2 ** 31
    (tmp_path / "z.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="z.npz.*params"):
        fastgd.MLP.load(tmp_path / "z.npz")


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    entries = _model_entries()
    entries["activation"] = np.array([os.system], dtype=object)
    p = _write_entries(tmp_path / "pickle.npz", entries)
    with pytest.raises(ValueError, match="pickle.npz.*activation.*object"):
        fastgd.MLP.load(p)


@pytest.mark.parametrize("change, match", [
    (lambda e: e.update(layer_sizes=np.array([4, 0, 3])), "layer_sizes"),
    (lambda e: e.update(layer_sizes=np.array([4.0, 5.0, 3.0])), "layer_sizes"),
    (lambda e: e.update(layer_sizes=np.ones((2, 2), dtype=np.int64)), "layer_sizes"),
    (lambda e: e.update(activation=np.array("swish")), "activation"),
    (lambda e: e.update(dtype=np.array("float16")), "dtype"),
    (lambda e: e.update(params=np.zeros(7)), "params"),
    (lambda e: e.update(params=np.zeros(43, dtype=np.float32)), "params"),
    (lambda e: e.update(params=np.full(43, np.nan)), "NaN"),
    (lambda e: e.pop("output"), "output"),
    (lambda e: e.update(alpha=np.array("0.1")), "alpha"),
])
def test_wrong_contents_name_the_entry(change, match, tmp_path):
    entries = _model_entries()
    change(entries)
    p = _write_entries(tmp_path / "bad.npz", entries)
    with pytest.raises(ValueError, match=f"bad.npz.*{match}"):
        fastgd.MLP.load(p)


def test_not_a_zip_and_missing_file(tmp_path):
    p = tmp_path / "text.npz"
    p.write_text("hello")
    with pytest.raises(ValueError, match="text.npz.*not a valid"):
        fastgd.MLP.load(p)
    with pytest.raises(FileNotFoundError):
        fastgd.load(tmp_path / "absent.npz")


def _rewrite_header(src, dst, edit):
    with zipfile.ZipFile(src) as z:
        entries = {i.filename[:-4]: z.read(i) for i in z.infolist()}
    header = json.loads(str(np.load(io.BytesIO(entries["fastgd_checkpoint"]))[()]))
    edit(header)
    entries["fastgd_checkpoint"] = np.array(json.dumps(header))
    return _write_entries(dst, entries)


@pytest.mark.parametrize("edit, match", [
    (lambda h: h.update(version=3), "version 3 is newer"),
    (lambda h: h.update(version="1"), "version"),
    (lambda h: h.update(format="other"), "not a fastgd checkpoint"),
    (lambda h: h.update(epoch=-3), "epoch"),
    (lambda h: h["optimizer"].update({"class": "os.system"}), "optimizer"),
    (lambda h: h["optimizer"]["param_groups"][0].update(params=[0, 0, 1, 2]), "indices"),
    (lambda h: h["optimizer"]["param_groups"][0].update(params=[0, 1, 2, 9]), "indices"),
    (lambda h: h["optimizer"]["state"]["0"]["scalars"].update(step=-1), "step"),
    (lambda h: h["optimizer"]["state"]["0"]["scalars"].update(step=2.5), "step"),
    (lambda h: h["optimizer"]["param_groups"][0]["hyper"].update(lr=-1.0), "lr"),
    (lambda h: h["optimizer"]["defaults"].pop("eps"), "defaults"),
    (lambda h: h["optimizer"]["state"]["0"].update(arrays=["exp_avg", "nothing"]),
     "nothing"),
    (lambda h: h["schedule"]["state"].update(lr_at=1), "lr_at"),
    (lambda h: h["schedule"]["state"].update(step_size="x"), "schedule"),
    (lambda h: h["schedule"]["state"].update(interval="sometimes"), "schedule"),
    (lambda h: h["schedule"]["state"].update(optimizer={}), "optimizer"),
    (lambda h: h["schedule"]["state"].update(gamma="half"), "gamma|schedule"),
    (lambda h: h["schedule"]["state"].update(last_epoch=None), "schedule"),
    (lambda h: h.update(model={"layer_sizes": [4, 5, 3]}), "architecture"),
    (lambda h: h["history"].update(nonsense=[1]), "history"),
    (lambda h: h["history"].update(loss=["x", 1.0]), "history"),
    (lambda h: h["history"].update(loss=[1.0]), "history"),
    (lambda h: h["history"].update(stopped_at=[1, 2]), "history"),
    (lambda h: h.pop("meta"), "malformed"),
])
def test_bad_checkpoint_headers(edit, match, files, tmp_path):
    p = _rewrite_header(files["checkpoint"], tmp_path / "edited.npz", edit)
    with pytest.raises(ValueError, match=f"edited.npz.*({match})"):
        fastgd.load(p)


def test_wrong_shape_state_array(files, tmp_path):
    with zipfile.ZipFile(files["checkpoint"]) as z:
        entries = {i.filename[:-4]: z.read(i) for i in z.infolist()}
    entries["optimizer.0.exp_avg"] = np.zeros((5, 4))
    p = _write_entries(tmp_path / "shape.npz", entries)
    with pytest.raises(ValueError, match="shape.npz.*optimizer.0.exp_avg.*shape"):
        fastgd.load(p)


def test_model_file_is_not_a_checkpoint(files):
    with pytest.raises(ValueError, match="no checkpoint header"):
        fastgd.load(files["model"])


def test_model_save_appends_npz_and_replaces_atomically(tmp_path):
    m = fastgd.MLP([3, 2], seed=0)
    assert m.save(tmp_path / "a") == str(tmp_path / "a.npz")
    m.initialize(seed=5)
    m.save(tmp_path / "a.npz")
    np.testing.assert_array_equal(fastgd.MLP.load(tmp_path / "a.npz")._flat, m._flat)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
    buf = io.BytesIO()             # file objects still work, as with np.savez
    m.save(buf)
    buf.seek(0)
    np.testing.assert_array_equal(fastgd.MLP.load(buf)._flat, m._flat)


def test_saving_through_a_symlink_replaces_the_link_not_its_target(tmp_path):
    """The write is a rename over the path: a link named like the model file is replaced,
    and the file it pointed at (training data, say) is left alone."""
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    link = tmp_path / "model.npz"
    link.symlink_to(data)
    fastgd.MLP([2, 2], seed=0).save(link)
    assert data.read_text() == "a,b\n1,2\n" and not link.is_symlink()
    fastgd.MLP.load(link)


def test_loading_never_unpickles(files, monkeypatch):
    import pickle

    def refuse(*args, **kw):
        raise AssertionError("pickle used while loading")
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    ckpt = fastgd.load(files["checkpoint"])
    np.testing.assert_array_equal(ckpt.model._flat, files["flat"])
    fastgd.MLP.load(files["model"])
