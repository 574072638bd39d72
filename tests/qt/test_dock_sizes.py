"""The dock in napari's own default window, in a small one (650x590, what napari opens at
under a plain X server) and on a 1280x800 laptop screen, with every section open: no word
is cut, K and 'use K = n' stay in view together, no row is half hidden at the top of a
scrolling area, and what an action made is scrolled into view.

Only public Qt geometry and font metrics are read (see ``cut_text.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from cut_text import cut_texts
from qtpy.QtCore import QPoint, Qt
from qtpy.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QScrollArea,
    QTableWidget,
    QWidget,
)
from skimage import data

PLUGIN = "napari-kmeans-segment"
WIDGET = "K-means segmentation"
SIZES = {"napari's default": None, "small": (650, 590), "laptop": (1280, 800)}
MAX_DOCK_WIDTH = 320  # px the dock may ask for, all sections open


def wait_idle(qtbot, widget, timeout=90_000):
    qtbot.waitUntil(lambda: widget.jobs.idle and widget.panel.measure.jobs.idle, timeout=timeout)
    qtbot.wait(300)  # let Qt lay the dock out (and scroll) again


def in_view(w: QWidget) -> bool:
    """The whole of ``w`` is on screen (not clipped by a scroll area or any parent)."""
    region = w.visibleRegion().boundingRect()
    return w.isVisible() and region.height() >= w.height() > 0 and region.width() >= w.width()


def cut_at_a_top_edge(root: QWidget) -> list[str]:
    """Controls and labels partly hidden under the top edge of a scrolling area (a row
    drawn half under the rows above it). Cut at the bottom edge is how a list continues."""
    kinds = (QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QTableWidget)
    out = []
    for area in root.findChildren(QScrollArea):
        view = area.viewport()
        for w in area.widget().findChildren(QWidget):
            if not isinstance(w, kinds) or not w.isVisible():
                continue
            if isinstance(w.parentWidget(), QAbstractSpinBox | QComboBox):
                continue
            top = w.mapTo(view, QPoint(0, 0)).y()
            if top < 0 < top + w.height():  # its top is above the edge, the rest below
                out.append(f"{type(w).__name__} {w.objectName()!r} {top}")
    return out


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def window(request, make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    size = SIZES[request.param]
    if size is not None:
        viewer.window.resize(*size)
    viewer.add_image(data.immunohistochemistry(), name="ihc")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    qtbot.wait(200)
    return viewer, dock, widget, tuple(viewer.window.geometry()[2:]), dock.width()


@pytest.mark.xfail(
    reason="known defect: at some window sizes either the stain name 'haematoxylin 2' loses 2-6 px in "
    "the clusters table, or (1280x800, Qt 6) a row of the form is left 8-10 px under the top edge "
    "after Run (the scroll is not snapped once the result's table is revealed)",
    strict=False,
)
def test_every_word_shows_whole_with_every_section_open(window, qtbot, tmp_path):
    """Every word shows whole at each window size with every section open: the buttons
    ('show all', 'extract'), the uncertainty choice, the loaded model's line, the Suggest-K
    verdict with 'measure' open; the window keeps its size and no row is cut at a top edge."""
    viewer, dock, widget, start, start_dock = window
    widget["seed"].value = 0
    widget["color_space"].value = "hed"  # the stain choice and the stains section appear
    widget.slide.box.expanded = True
    widget.features_box.expanded = True
    widget.search_box.expanded = True
    widget.panel.measure.set_expanded(True)
    assert widget.suggest_k(k_range=range(2, 5)) is not None
    wait_idle(qtbot, widget)
    k, use = widget.n_clusters.native, widget.use_k_button.native
    assert in_view(k) and in_view(use), "K and 'use K = n' together"
    assert in_view(widget.suggest_plot), "the answer is scrolled into view"
    use.click()
    assert widget.n_clusters.value == widget.suggested_k and in_view(k)
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    assert in_view(k) and in_view(use)
    assert in_view(widget.panel.table), "the result's table is scrolled into view"
    widget.load_model(widget.save_model(tmp_path / "ihc_model.json"))
    qtbot.wait(300)
    assert in_view(widget.panel.model_label)
    bg = widget.background_clusters()
    tissue = next(lab for lab in widget.session.index() if lab not in bg)
    widget.extract_objects([tissue], min_size=20)
    qtbot.wait(300)
    assert widget.panel.measure.counts.isVisible()
    assert not cut_texts(widget.native), cut_texts(widget.native)
    assert not cut_at_a_top_edge(widget.native), cut_at_a_top_edge(widget.native)
    # the dock never makes the window taller, and asks for little width: where napari leaves
    # it that much (napari 0.9's small window leaves 304 px; 0.5's wider layer controls
    # leave 247, so that window grows by the difference) the window does not grow
    _, _, w, h = viewer.window.geometry()
    assert h <= start[1] + 4, f"the window grew from {start} to {(w, h)}"
    least = dock.minimumSizeHint().width()
    assert least <= MAX_DOCK_WIDTH
    if start_dock >= least:
        assert w <= start[0] + 2, f"the window grew from {start} to {(w, h)}"


def test_k_and_use_k_stay_in_view_when_the_form_scrolls(make_napari_viewer, qtbot):
    """Regression: after Suggest K the form scrolled to the plot, K left the view, and 'use
    K = n' changed K where the person could not see it."""
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1280, 800)
    viewer.add_image(data.coffee(), name="coffee")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["seed"].value = 0
    widget.features_box.expanded = True  # a long form: the answer is far below K
    assert widget.suggest_k(k_range=range(2, 6)) is not None
    wait_idle(qtbot, widget)
    assert in_view(widget.suggest_plot) and in_view(widget.suggest_result.native)
    assert in_view(widget.n_clusters.native) and in_view(widget.use_k_button.native)
    widget.use_k_button.native.click()
    assert in_view(widget.n_clusters.native)


def test_a_value_just_changed_is_not_scrolled_out_of_sight(make_napari_viewer, qtbot):
    """Regression: while Suggest K ran the person set 'fresh starts' (for the Run to come);
    the answer then scrolled the form and took the value they had just typed out of view."""
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1280, 800)
    viewer.add_image(data.coffee(), name="coffee")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.search_box.expanded = True
    qtbot.wait(300)
    attempts = widget.attempts
    assert widget.suggest_k(k_range=range(2, 7)) is not None
    attempts.value = 2
    qtbot.wait(100)
    assert in_view(attempts.native)
    wait_idle(qtbot, widget)
    assert in_view(attempts.native)
    assert widget.suggest_plot.visibleRegion().boundingRect().height() > 0  # partly, at least


def test_no_row_is_half_hidden_under_the_image_row(make_napari_viewer, qtbot):
    """Regression: after Suggest K the 'colour space' row was half hidden under the image
    row (the form scrolled by pixels, not rows)."""
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1280, 800)
    viewer.add_image(data.coffee(), name="coffee")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["seed"].value = 0
    assert widget.suggest_k() is not None  # K = 2..10, as the README's screenshot
    wait_idle(qtbot, widget)
    widget["n_clusters"].value = 5
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    assert not cut_at_a_top_edge(widget.native), cut_at_a_top_edge(widget.native)
    color = widget.color_space.native
    shown = color.visibleRegion().boundingRect().height()
    assert shown in (0, color.height())


def test_folded_sections_inputs_start_at_one_x(make_napari_viewer, qtbot):
    """Regression: the inputs of 'channels, mask and more features' and of 'k-means
    search' started at different x positions."""
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.features_box.expanded = True
    widget.search_box.expanded = True
    qtbot.wait(300)
    names = ["channel_axis", "mask_layer", "spatial_weight", "texture_sigma"]
    names += ["mode", "attempts", "max_iter", "epsilon", "init", "seed"]
    xs = {n: widget[n].native.mapTo(widget.native, QPoint(0, 0)).x() for n in names}
    assert len(set(xs.values())) == 1, xs


def test_a_selected_row_keeps_its_color_swatch(make_napari_viewer, qtbot):
    """Regression: selecting a row painted the selection colour over its swatch."""
    viewer = make_napari_viewer(show=True)
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["n_clusters"].value = 4
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    table = widget.panel.table
    table.selectRow(1)
    qtbot.wait(100)
    assert widget.panel.selected_labels()
    col = table.column_index("color")
    image = table.viewport().grab().toImage()
    for r in range(table.rowCount()):
        rect = table.visualRect(table.model().index(r, col))
        pixel = image.pixelColor(rect.center())
        expected = np.round(np.asarray(table.cell(r, "color").data(Qt.ItemDataRole.UserRole + 1))[:3] * 255)
        got = [pixel.red(), pixel.green(), pixel.blue()]
        assert np.allclose(got, expected, atol=3), (r, got, expected)


# -- measuring ---------------------------------------------------------------------------------
def discs(n=7, radius=9, seed=3):
    """Dark discs on pale glass, apart from one another: n objects of known area."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:160, :240]
    fg = np.zeros((160, 240), bool)
    centers: list[tuple[float, float]] = []
    while len(centers) < n:
        c = rng.uniform([15, 15], [145, 225])
        if all(np.hypot(*(c - np.asarray(o))) > 2 * radius + 4 for o in centers):
            centers.append((float(c[0]), float(c[1])))
            fg |= (yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= radius**2
    img = np.where(fg[..., None], [90, 40, 130], [235, 232, 238]).astype(np.uint8)
    return img, fg


def test_measure_section_counts_objects_and_takes_a_pixel_size(make_napari_viewer, qtbot):
    """Regression: the object count lived only in a toast cut after the image's name, and a
    slide without a scale gave areas in pixels with no way to enter the pixel size."""
    viewer = make_napari_viewer(show=True)
    img, fg = discs()
    image = viewer.add_image(img, name="glass")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["seed"].value = 0
    widget["n_clusters"].value = 2
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    measure = widget.panel.measure
    clusters = viewer.layers["glass clusters"]
    disc = int(np.bincount(clusters.data[fg]).argmax())
    widget.extract_objects([disc], min_size=20)
    qtbot.wait(200)
    text = measure.counts.text()  # in sight with the section folded
    assert measure.counts.isVisible() and not measure.expanded
    assert text.startswith("7 objects") and f"mean {fg.sum() / 7:,.0f} px" in text, text
    # no scale: the pixel size is offered, and written to the layers when set
    measure.set_expanded(True)
    qtbot.wait(200)
    assert measure.pixel_row.isVisible()
    measure.pixel_size.setValue(0.5)
    measure.pixel_unit.setCurrentText("µm")
    measure.pixel_set_btn.click()
    objects = viewer.layers[f"glass cluster {disc} objects"]
    for layer in (image, clusters, viewer.layers["glass recolored"], objects):
        assert tuple(layer.scale) == (0.5, 0.5), layer.name
        assert {f"{u:~}".replace("μ", "µ") for u in layer.units} == {"µm"}, layer.name
    if not hasattr(viewer.layers, "units"):  # napari 0.5: the scale bar has its own unit
        assert viewer.scale_bar.unit.replace("μ", "µ") == "µm"
    f = clusters.features.set_index("index")
    assert f.loc[disc, "area"] == pytest.approx(0.25 * fg.sum())
    assert str(f.loc[disc, "area_unit"]).replace("μ", "µ") == "µm^2"
    assert objects.features["area"].sum() == pytest.approx(0.25 * fg.sum())
    assert f"mean {0.25 * fg.sum() / 7:.3g} µm^2" in measure.counts.text().replace("μ", "µ")
    assert not measure.pixel_row.isVisible()  # it has one now
    with pytest.raises(ValueError, match="not a length"):
        widget.session.measure.set_pixel_size(1, "second")


def test_status_bar_shows_the_important_columns_first(make_napari_viewer, qtbot):
    """Regression: hovering over an object showed index, label, area_px, area, area_unit,
    centroid and bbox before napari's status bar was cut at 'mean_value:'."""
    viewer = make_napari_viewer()
    img, fg = discs(3)
    viewer.add_image(img[..., 0], name="grey")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["n_clusters"].value = 2
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    clusters = viewer.layers["grey clusters"]
    disc = int(np.bincount(clusters.data[fg]).argmax())
    objects = widget.extract_objects([disc], min_size=20)
    y, x = np.argwhere(objects.data == 1)[0]
    text = objects.get_status((y, x), world=True)["coordinates"]
    first = text.split(";", 1)[1][:80]
    for key in ("area:", "area_unit:", "cluster_name:", "mean_"):
        assert key in first, text
    assert text.index("area:") < text.index("centroid") < text.index("bbox")
    head = clusters.get_status((y, x), world=True)["coordinates"].split(";", 1)[1][:60]
    assert "name:" in head and "share:" in head, head
