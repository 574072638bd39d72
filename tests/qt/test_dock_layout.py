"""The dock fits a 1280x800 screen, explains every control, and stacks its layers
so that none hides what the person looks at.

The layout tests show a real napari window resized to 1280x800 (napari's default docks: layer
controls and layer list on the left, this dock on the right) and measure it after Run and
after Suggest K. They only read public Qt geometry (the window's, the dock's, the table's).
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QWidget,
)
from skimage import data

PLUGIN = "napari-kmeans-segment"
WIDGET = "K-means segmentation"
SCREEN = (1280, 800)


def wait_idle(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)
    qtbot.wait(300)  # let Qt lay the dock out again


@pytest.fixture
def small_screen(make_napari_viewer, qtbot):
    """napari in a 1280x800 window with the coffee photo and the dock."""
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(*SCREEN)
    viewer.add_image(data.coffee(), name="coffee")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["seed"].value = 0
    qtbot.wait(300)
    return viewer, dock, widget


def fully_visible_rows(table) -> int:
    """Rows of ``table`` whose whole first cell is on screen now: inside the table's viewport
    and not clipped by any ancestor (the dock, a scroll area around the form)."""
    visible = table.viewport().visibleRegion().boundingRect()
    model = table.model()
    return sum(visible.contains(table.visualRect(model.index(r, 0))) for r in range(table.rowCount()))


def check_fits(viewer, dock, widget, width_before):
    _, _, w, h = viewer.window.geometry()
    assert (w, h) == SCREEN, f"the window grew to {w}x{h}"
    table = widget.panel.table
    assert fully_visible_rows(table) >= min(6, table.rowCount())
    assert table.viewport().visibleRegion().boundingRect().height() >= 6 * table.rowHeight(0)
    assert not table.horizontalScrollBar().isVisible()  # name and share % need no scrolling
    assert dock.width() <= width_before + 2, "the dock widened"


def check_suggestion_in_view(widget):
    """The Suggest K plot and 'use K = n' are wholly on screen (the form scrolled to them)."""
    for w in (widget.suggest_plot, widget.use_k_button.native):
        assert not w.isHidden()
        assert w.visibleRegion().boundingRect().height() == w.height() > 20, w


def test_dock_fits_1280x800_after_run_and_suggest_k(small_screen, qtbot):
    """Regression: the window grew from 760 to 954 px after Run and 1080 after Suggest K, the
    table showed one row and needed horizontal scrolling, the dock widened by 100 px."""
    viewer, dock, widget = small_screen
    width = dock.width()
    assert 300 <= width <= 480
    widget["n_clusters"].value = 8
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    check_fits(viewer, dock, widget, width)

    assert widget.suggest_k() is not None
    wait_idle(qtbot, widget)
    check_fits(viewer, dock, widget, width)
    assert widget.suggest_plot.drawn()["ks"] == list(range(2, 11))
    check_suggestion_in_view(widget)


def test_suggest_k_then_run_keeps_both_in_view(small_screen, qtbot):
    """The README's order: Suggest K first, then Run; the Run's table and measure line must
    not push the suggestion out of view or the window past the screen."""
    viewer, dock, widget = small_screen
    width = dock.width()
    assert widget.suggest_k() is not None
    wait_idle(qtbot, widget)
    check_suggestion_in_view(widget)
    widget["n_clusters"].value = 6
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    check_fits(viewer, dock, widget, width)
    check_suggestion_in_view(widget)


def test_long_status_text_wraps_instead_of_widening_the_dock(small_screen, qtbot):
    viewer, dock, widget = small_screen
    width = dock.width()
    widget.status.value = "a very long message " * 20
    qtbot.wait(200)
    assert dock.width() <= width + 2
    assert viewer.window.geometry()[2:] == SCREEN


# -- words ---------------------------------------------------------------------------------
INPUTS = (QAbstractButton, QAbstractSpinBox, QComboBox, QAbstractItemView, QLineEdit)


def _controls(root: QWidget) -> list[QWidget]:
    """Every button and input the person can reach (not the parts inside another control)."""
    out = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, INPUTS):
            continue
        parent, inner = w.parentWidget(), False
        while parent is not None and parent is not root:
            if isinstance(parent, INPUTS):
                inner = True  # a spin box's line edit, a table's corner button
                break
            parent = parent.parentWidget()
        if not inner:
            out.append(w)
    return out


def test_every_control_and_button_has_a_tooltip(make_napari_viewer, qtbot):
    """Regression: 16 of 18 controls and every panel button had no tooltip."""
    viewer = make_napari_viewer()
    viewer.add_image(data.coffee(), name="coffee")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    assert widget.suggest_k() is not None
    wait_idle(qtbot, widget)
    controls = _controls(widget.native)
    assert len(controls) >= 25
    missing = [
        f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r} {w.objectName()!r}"
        for w in controls
        if not w.toolTip().strip()
    ]
    assert not missing, missing
    header = widget.panel.table.horizontalHeader()
    for c in range(widget.panel.table.columnCount()):
        item = widget.panel.table.horizontalHeaderItem(c)
        assert item is not None and item.toolTip().strip(), c
    assert not header.isHidden()
    assert widget.suggest_plot.toolTip().strip()


def test_seed_shows_random_and_the_search_settings_are_folded(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    seed = widget["seed"]
    assert seed.value == -1 and seed.native.findChild(QLineEdit).text() == "random"
    # the OpenCV stopping rules sit together, folded away, after the task's controls
    for name in ("attempts", "max_iter", "epsilon", "init", "seed"):
        assert widget[name].native.isHidden() or not widget[name].native.isVisibleTo(widget.native), name
    order = [widget[n].native for n in ("image_layer", "n_clusters", "color_space")]
    ys = [w.mapTo(widget.native, w.rect().topLeft()).y() for w in order]
    assert ys == sorted(ys)
    run_y = widget.run_button.native.mapTo(widget.native, widget.run_button.native.rect().topLeft()).y()
    assert run_y > ys[-1]


# -- layers --------------------------------------------------------------------------------
def test_layer_stack_after_run_and_hiding(make_napari_viewer, qtbot):
    """Regression: the recoloured layer covered the clusters overlay and the image; the
    opaque masked layer covered everything, so 'show selected label' showed nothing."""
    viewer = make_napari_viewer()
    img = data.coffee()
    viewer.add_image(img, name="coffee")
    viewer.add_image(np.zeros((10, 10)), name="other on top")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["image_layer"].value = viewer.layers["coffee"]
    widget["n_clusters"].value = 4
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    widget.set_cluster_visible(2, False)  # makes "coffee masked"
    names = [ly.name for ly in viewer.layers]
    pos = {n: names.index(n) for n in names}
    # bottom to top: the image, the masked copy, the recoloured copy (ticking its eye shows
    # it), the clusters overlay
    assert pos["coffee"] < pos["coffee masked"] < pos["coffee recolored"] < pos["coffee clusters"]
    assert pos["coffee clusters"] < pos["other on top"]  # the person's layers keep their place
    assert not viewer.layers["coffee recolored"].visible  # never covers what is looked at
    clusters = viewer.layers["coffee clusters"]
    assert viewer.layers.selection.active is clusters
    assert clusters.visible and 0.5 <= clusters.opacity < 1
    # readable: no cluster is drawn in a colour close to its own average colour
    centers = clusters.features[["center_R", "center_G", "center_B"]].to_numpy() / 255
    index = clusters.features["index"].to_numpy()
    drawn = np.asarray(clusters.colormap.map(index.astype(clusters.data.dtype)))[:, :3]
    shown = [lab for lab in index if lab != 2]
    for lab in shown:
        i = list(index).index(lab)
        assert np.linalg.norm(drawn[i] - centers[i]) > 0.35, (lab, drawn[i], centers[i])
    assert len({tuple(np.round(c, 3)) for c in drawn}) == len(index)  # all different


def test_second_run_keeps_the_persons_layer_order_and_visibility(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(data.coffee()[::2, ::2], name="coffee")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    rec = viewer.layers["coffee recolored"]
    rec.visible = True
    viewer.layers.move(viewer.layers.index(rec), len(viewer.layers))  # to the top
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    assert viewer.layers[-1] is rec and rec.visible


def test_preview_layer_is_removed_when_preview_is_switched_off(make_napari_viewer, qtbot):
    """Regression: the preview layer stayed after live preview was switched off."""
    viewer = make_napari_viewer()
    viewer.add_image(data.coffee(), name="coffee")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["live_preview"].value = True
    qtbot.waitUntil(lambda: "coffee preview" in viewer.layers, timeout=20_000)
    widget["live_preview"].value = False
    assert "coffee preview" not in viewer.layers
    widget["n_clusters"].value = 5  # a parameter change with preview off adds nothing
    qtbot.wait(800)
    assert "coffee preview" not in viewer.layers


# -- channels ------------------------------------------------------------------------------
def test_more_channels_follow_the_image(make_napari_viewer, qtbot):
    """Regression: the list was not refreshed when the image changed, offered the image
    itself, and clustered it twice."""
    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((30, 40), np.uint16), name="a")
    b = viewer.add_image(np.ones((30, 40), np.uint16), name="b")
    viewer.add_image(np.ones((31, 40), np.uint16), name="other size")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    chans = widget["channel_layers"]
    widget["image_layer"].value = a
    assert [c for c in chans.choices] == [b]
    chans.value = [b]
    widget["image_layer"].value = b
    assert list(chans.choices) == [a]
    assert b not in (chans.value or [])


def test_channel_axis_of_one_multichannel_layer(make_napari_viewer, qtbot):
    """A (3, Y, X) stack with channel axis 0 is clustered by its three values per pixel."""
    viewer = make_napari_viewer()
    rgb = np.zeros((40, 60, 3), np.uint16)
    rgb[:, 20:40, 0] = 3000
    rgb[:, 40:, 1] = 3000
    stack = np.moveaxis(rgb, -1, 0)
    viewer.add_image(stack, name="stack")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    axis = widget["channel_axis"]
    assert axis.value is None  # a 3-D stack stays a stack unless asked
    assert list(axis.choices) == [None, 0, 1, 2]  # none, or one of the three axes
    axis.value = 0
    widget["n_clusters"].value = 3
    assert widget.run() is not None
    wait_idle(qtbot, widget)
    lab = viewer.layers["stack clusters"].data
    assert lab.shape == (40, 60)
    assert len(np.unique(lab[:, :20])) == len(np.unique(lab[:, 20:40])) == 1
    assert len(np.unique(lab)) == 3
    assert viewer.layers["stack recolored"].data.shape == stack.shape
    widget["live_preview"].value = True  # the preview reads the channels the same way
    qtbot.waitUntil(lambda: "stack preview" in viewer.layers, timeout=20_000)
    assert viewer.layers["stack preview"].data.shape == (40, 60)
    assert widget.suggest_k(k_range=range(2, 5)) is not None
    wait_idle(qtbot, widget)
    assert widget.suggested_k == 3


@pytest.mark.parametrize("k", [2, 3, 5, 6, 7, 12, 30])
def test_overlay_colors_are_distinct_and_stand_out_from_the_clusters(k):
    """Qt-free: the overlay colour of each cluster differs from every other and, for the
    palette's clusters, from the cluster's own average colour (which it is drawn over)."""
    from napari_kmeans_segment._session.stack import PALETTE, overlay_colors

    rng = np.random.default_rng(k)
    average = rng.random((k, 3))
    counts = rng.integers(1, 1000, k)
    colors = overlay_colors(average, counts)
    assert colors.shape == (k, 4) and (colors[:, 3] == 1).all()
    assert len({tuple(np.round(c, 4)) for c in colors}) == k
    assert np.array_equal(colors, overlay_colors(average, counts))  # same clusters, same colours
    largest = np.argsort(-counts, kind="stable")[: len(PALETTE)]  # these get palette colours
    assert np.linalg.norm(colors[largest, :3] - average[largest], axis=1).min() > 0.3
    # the worst case: clusters in exactly the palette's colours get other colours
    same = overlay_colors(PALETTE[: min(k, 6)])
    assert not any(np.allclose(a, b) for a, b in zip(same[:, :3], PALETTE[: min(k, 6)]))


def test_new_layers_are_stacked_above_their_source():
    """Qt-free: stack_index puts a new output just above the source and the plugin's layers
    that belong below it, not on top of the person's other layers."""
    from napari_kmeans_segment._session.stack import stack_index

    src, other, rec, clusters = object(), object(), object(), object()
    slots = {rec: "recolored", clusters: "clusters"}
    layers = [src, rec, clusters, other]
    assert stack_index(layers, "masked", [src, rec, clusters], slots.get) == 1  # under recolored
    assert stack_index(layers, "preview", [src, rec, clusters], slots.get) == 3
    assert stack_index([src, other], "recolored", [src], slots.get) == 1
    assert stack_index(layers, "cluster 2", [src, rec, clusters], slots.get) == 4  # on top
    assert stack_index([other], "masked", [src], slots.get) == 1  # source gone: on top


def test_plugins_menu_names_the_widget_once():
    """Regression: the Plugins menu read 'K-means segmentation (K-means segmentation)'
    (napari shows 'widget (plugin display name)')."""
    from npe2 import PluginManifest

    mf = PluginManifest.from_distribution(PLUGIN)
    (widget,) = mf.contributions.widgets
    assert widget.display_name == WIDGET and mf.display_name != widget.display_name
