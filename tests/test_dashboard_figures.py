"""What the figures and messages say, without a browser: percent axes that survive a closed
session, heat maps readable with thirty children, one date tick per day, photos only from
allowed folders, ``n/a`` instead of ``NaN``, the review queue's filters, bulk mode and empty
state, the default run on the command line, and a classify error that lists its reasons."""

from __future__ import annotations

import base64
import importlib
import io
import pkgutil

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from bokeh.document import Document
from bokeh.model import Model

import workbench.app
import workbench.plots
from workbench.app.thumbnails import allowed_image, image_roots, thumbnail_uri
from workbench.app.widgets import html_table
from workbench.plots import confusion_heatmap, coverage_curves, level_accuracy_bars, reliability_curve, severity_bars
from workbench.plots.confusion import TITLE_CHAR_PX, axis_labels, counts_fit
from workbench.plots.live_accuracy import day_ticks, live_accuracy_plot

CURVE = pd.DataFrame({"run": ["a"] * 3, "threshold": [0.1, 0.5, 0.9], "coverage": [1, 0.5, 0.1],
                      "accuracy": [0.5, 0.8, 0.99]})


def _share_figures():
    yield coverage_curves(CURVE), "xy"
    yield reliability_curve(CURVE.rename(columns={"coverage": "mean_confidence"}).assign(count=3)), "xy"
    yield severity_bars(pd.DataFrame({"run": ["a", "a"], "distance": [0, 2], "share": [0.8, 0.2]})), "y"
    yield level_accuracy_bars(pd.DataFrame({"run": ["a"], "level": [1], "level_name": ["family"],
                                            "accuracy": [0.9]})), "y"


def _percent(fig, axes: str) -> list[str]:
    return [getattr(fig, f"{a}axis")[0].formatter.format for a in axes]


def test_percent_axes_survive_a_session_that_ends():
    """The cause of the first-session ``0,0``: one formatter shared by every figure lost its
    format when Bokeh destroyed the document of a closed session. Each figure now gets its own."""
    from bokeh.io.doc import set_curdoc

    try:
        for element, axes in _share_figures():
            doc = Document()
            first = hv.render(element)
            doc.add_root(first)
            assert _percent(first, axes) == ["0%"] * len(axes)
            owned = {id(getattr(first, f"{a}axis")[0].formatter) for a in axes}
            doc.models.destroy()  # what the server does to a closed session's document
            set_curdoc(Document())  # later renders get a live document, as a new session would
            later = hv.render(element)
            assert _percent(later, axes) == ["0%"] * len(axes)
            assert not owned & {id(getattr(later, f"{a}axis")[0].formatter) for a in axes}
    finally:
        set_curdoc(Document())  # never leave a destroyed document as the current one


def test_no_bokeh_model_is_created_at_import_time():
    """A Bokeh model in a module constant would be shared by every session's document."""
    found = []
    for package in (workbench.plots, workbench.app):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
                if any(isinstance(v, Model) for v in values):
                    found.append(f"{info.name}.{name}")
    assert found == []


def test_heat_map_stays_readable_with_thirty_children():
    names = [f"Apparel > Topwear > Category number {i:02d} with a long name" for i in range(30)]
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 5000, size=(30, 30))
    counts[rng.random((30, 30)) < 0.5] = 0
    matrix = pd.DataFrame(counts, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))
    labels = axis_labels(names)
    assert len(set(labels.values())) == 30 and max(len(v) for v in labels.values()) <= 18
    overlay = confusion_heatmap(matrix)
    heat, text = overlay.HeatMap.I, overlay.Labels.I
    assert not counts_fit(30, 30, counts) and len(text) == 0  # 4-digit counts do not fit 30 cells
    fig = hv.render(overlay)
    assert fig.xaxis[0].major_label_orientation == pytest.approx(np.radians(60))
    small = confusion_heatmap(matrix.iloc[:6, :6].clip(upper=99))
    shown = small.Labels.I.dframe()
    assert len(shown) == int((matrix.iloc[:6, :6].clip(upper=99).to_numpy() > 0).sum())
    assert "0" not in set(shown["text"])  # empty cells print nothing
    tooltips = [t for t in fig.tools if type(t).__name__ == "HoverTool"][0].tooltips
    assert ("true", "@{true_node}") in tooltips  # the full path on hover
    assert set(heat.dframe()["true_node"]) == set(names)


def test_heat_map_counts_are_white_on_dark_cells_and_black_on_light_ones():
    """Flipkart's top level: the diagonal's counts were black on navy, unreadable."""
    names = ["Baby Care", "Computers", "Watches"]
    counts = np.array([[17, 1, 2], [0, 20, 0], [1, 0, 22]])
    matrix = pd.DataFrame(counts, index=names, columns=names)
    fig = hv.render(confusion_heatmap(matrix))
    glyph = [r for r in fig.renderers if type(r.glyph).__name__ == "Text"][0]
    source = glyph.data_source.data
    colour = dict(zip(source["text"], source[glyph.glyph.text_color["field"]]))
    assert colour["17"] == colour["20"] == colour["22"] == "white"  # the dark diagonal
    assert colour["1"] == colour["2"] == "black"  # the pale cells


def test_heat_map_title_fits_its_plot_for_a_long_parent():
    """A three-level parent with long names cut the title off at the plot's right edge."""
    parent = "Personal Care > Fragrance and Deodorants > Perfume and Body Mist Gift Sets"
    names = [f"{parent} > Child {i}" for i in range(3)]
    matrix = pd.DataFrame(np.eye(3, dtype=int) * 7, index=names, columns=names)
    fig = hv.render(confusion_heatmap(matrix, title=f"Confusion among the children of {parent}"))
    text = fig.title.text
    # the title starts above the cells, so its room is the figure less the axis labels and colour bar
    assert len(text) * TITLE_CHAR_PX <= fig.width - 140
    assert text.startswith("Confusion among the children of … > Per")
    short = hv.render(confusion_heatmap(matrix, title="Confusion among the children of Apparel"))
    assert short.title.text == "Confusion among the children of Apparel"  # short titles untouched


def test_live_accuracy_has_one_tick_per_day():
    days = pd.to_datetime(["2026-02-02", "2026-02-03", "2026-02-05"])
    ticks = day_ticks(pd.Series(days))
    assert ticks == [t.value / 1e6 for t in pd.date_range("2026-02-02", "2026-02-05")]
    assert len(day_ticks(pd.Series(pd.date_range("2026-01-01", periods=90)))) <= 12
    frame = pd.DataFrame({"queue_date": days, "n": [10, 12, 9], "accuracy": [0.9, 0.8, 0.85],
                          "low": [0.6, 0.5, 0.55], "high": [0.98, 0.95, 0.96]})
    fig = hv.render(live_accuracy_plot(frame))
    assert list(fig.xaxis[0].ticker.ticks) == ticks
    assert fig.yaxis[0].formatter.format == "0%"


def test_photos_come_only_from_allowed_folders(tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "shop" / "photos"
    folder.mkdir(parents=True)
    Image.new("RGB", (400, 300), (200, 10, 10)).save(folder / "a.jpg")
    (folder / "notes.txt").write_text("hello")
    (folder / "fake.jpg").write_bytes(b"<svg onload=alert(1)>")
    Image.new("RGB", (100, 100)).save(tmp_path / "outside.jpg")
    (folder / "link.jpg").symlink_to(tmp_path / "outside.jpg")
    assert allowed_image(folder / "a.jpg", image_roots()) is None  # not an allowed folder yet
    monkeypatch.setenv("WORKBENCH_IMAGE_DIRS", str(folder))
    roots = image_roots()
    uri = thumbnail_uri(folder / "a.jpg", roots)
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.format == "JPEG" and max(img.size) <= 64
    for bad in (folder / "notes.txt", folder / "fake.jpg", folder / "link.jpg", "/etc/passwd",
                str(folder / ".." / ".." / "outside.jpg"), "https://example.com/a.jpg", None, ""):
        assert thumbnail_uri(bad, roots) is None, bad
    fashion = sorted((p for r in roots for p in r.glob("*.jpg")), key=str)
    if any("fashion" in str(r) for r in roots):  # the data home's photos are allowed
        assert thumbnail_uri(fashion[0], roots).startswith("data:image/jpeg;base64,")


def test_html_tables_say_n_a_for_missing_numbers():
    pane = html_table(pd.DataFrame({"child": ["a", "b"], "accuracy": [0.5, np.nan]}), percent=["accuracy"])
    html = pane._transform_object(pane.object)["object"]
    assert "50.0%" in html and "n/a" in html and "NaN" not in html
