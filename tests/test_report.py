"""fastgd.lab.report: the demo's report (HTML + Markdown + PNGs), with and without matplotlib."""
import base64
import io
import os
import re
import sys

import numpy as np
import pytest

from fastgd.lab.report import PLOT_HINT, Report, fmt, format_table
from fastgd.lab.report.demo import DemoSettings, run_demo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("training", "layer_norms", "saddle", "surfaces", "cost_curves", "batch_sweep",
           "decay", "ewa")


def _tiny():
    """Smaller than --quick: for the paths whose numbers are not under test."""
    return DemoSettings(train_scale=0.05, reference_seconds=0.005, depth=10, width=8,
                        saddle_steps=1000, curve_steps=20, curve_epochs=1,
                        sweep_shape=(256, 8), sweep_hidden=(8,), sweep_target=0.5,
                        sweep_max_epochs=2, decay_epochs=3, decay_seeds=(0,))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("report")
    text = io.StringIO()
    result = run_demo(str(out), quick=True, stream=text)
    return out, result, text.getvalue()


def test_figures_are_non_empty_pngs(demo):
    out, result, _ = demo
    names = sorted(os.path.basename(p) for p in result.paths["figures"])
    assert names == sorted(f + ".png" for f in FIGURES)
    for name in names:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 5000, f"{name}: {len(data)} bytes"
        # IHDR: width and height of a real figure, not a 1x1 placeholder
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert w >= 400 and h >= 200, (name, w, h)


def test_html_references_and_embeds_every_figure(demo):
    out, result, _ = demo
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for f in FIGURES:
        assert f'href="{f}.png"' in html, f
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(embedded) == len(FIGURES)
    assert all(base64.b64decode(e).startswith(PNG_SIGNATURE) for e in embedded)
    md = (out / "report.md").read_text(encoding="utf-8")
    for f in FIGURES:
        assert f"]({f}.png)" in md
    assert PLOT_HINT not in html


def test_demo_prints_the_key_numbers(demo):
    _, result, text = demo
    for needle in ("speed-up", "Vanishing / exploding", "Saddle points", "Test surfaces",
                   "Batch size sweep", "Learning-rate decay", "Exponentially weighted", "report:",
                   "finished in"):
        assert needle in text, needle
    n = result.numbers
    assert set(n) == {"training", "depth", "saddle", "surfaces", "cost_curves", "sweep",
                      "decay", "ewa"}
    assert n["saddle"]["GD"]["2d"] > n["saddle"]["Adam"]["2d"]
    assert n["depth"]["W = 1.5·I"]["total"] > 1e3 > 1e-3 > n["depth"]["W = 0.5·I"]["total"]
    assert all(v["speedup"] > 0 for v in n["training"].values())
    # every experiment timed (the README quotes the demo's run time); no limit on it here
    assert list(result.section_seconds) == ["training", "depth", "saddle", "surfaces",
                                            "batch", "decay", "ewa"]
    assert result.seconds >= sum(result.section_seconds.values()) > 0
    assert "seconds per experiment: training" in text


def test_without_matplotlib_the_numbers_are_still_written(tmp_path, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` raise ImportError.
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    text = io.StringIO()
    result = run_demo(str(tmp_path), stream=text, settings=_tiny())
    assert result.paths["figures"] == [] and not list(tmp_path.glob("*.png"))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "pip install fastgd[plot]" in html and "pip install fastgd[plot]" in md
    assert "pip install fastgd[plot]" in text.getvalue()
    assert html.count("<table>") == 8 and "<img" not in html


def test_report_builder_escapes_and_validates(tmp_path):
    rep = Report("a <b> & c")
    rep.section("s1").paragraph("x < y").table(["k", "v"], [["a|b", 1.5], ["n", None]],
                                                 caption="cap")
    with pytest.raises(ValueError, match="not PNG"):
        rep.figure("f", b"GIF89a")
    paths = rep.write(str(tmp_path / "new" / "dir"))
    with open(paths["html"], encoding="utf-8") as f:
        html = f.read()
    assert "a &lt;b&gt; &amp; c" in html and "x &lt; y" in html
    with open(paths["markdown"], encoding="utf-8") as f:
        md = f.read()
    assert "| a\\|b | 1.5 |" in md and "| n | - |" in md


def test_fmt_and_format_table():
    assert fmt(None) == "-" and fmt(3) == "3" and fmt(True) == "yes"
    assert fmt(0.5) == "0.5" and fmt(1.5e-9) == "1.500e-09" and fmt(float("nan")) == "nan"
    text = format_table(["name", "value"], [["a", 1.0], ["bb", 22.5]])
    lines = text.splitlines()
    assert len(lines) == 4 and lines[2].endswith("  1") and lines[3].endswith("22.5")


def test_each_plot_renders_without_warnings():
    pytest.importorskip("matplotlib")
    from fastgd import diagnostics as D
    from fastgd.lab.diagnostics import plots
    fig = plots.plot_ewa(D.ewa_experiment(n_days=30))
    data = plots.png_bytes(fig, dpi=50)
    assert data.startswith(PNG_SIGNATURE)
    # Exploding settings produce inf/0 norms: the log axes must take them quietly.
    st = D.deep_network_experiment(depth=120, width=4, settings=[
        D.DepthSetting("big", "identity", None, 1e3), D.DepthSetting("small", "identity",
                                                                      None, 1e-3)])
    assert not np.all(np.isfinite(st.stats[0].activation_norms))
    assert plots.png_bytes(plots.plot_layer_norms(st), dpi=50).startswith(PNG_SIGNATURE)
