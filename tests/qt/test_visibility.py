"""What an action makes or changes is in sight right after it: checked on the rendered canvas
(``viewer.screenshot(canvas_only=True)``), not only in the layer list.

A layer "shows" when ticking its eye changes the canvas; a result is "in view" when the
canvas with it differs from the canvas without it. Background clusters can be drawn
see-through, so the image shows through them.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

PLUGIN = "napari-kmeans-segment"
WIDGET = "K-means segmentation"


# -- helpers ---------------------------------------------------------------------------------
def canvas(viewer) -> np.ndarray:
    return viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)


def changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    """Canvas pixels that differ by more than rounding (10 levels in a channel); a canvas
    that changed size by a pixel while the dock was laid out again is compared where both
    have pixels."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return int((np.abs(a[:h, :w] - b[:h, :w]).max(axis=-1) > 10).sum())


def shows(viewer, layer, at_least: int = 200) -> bool:
    """True when ``layer`` changes the canvas: the canvas with it differs from the canvas
    with its eye ticked the other way (which is put back)."""
    before = canvas(viewer)
    layer.visible = not layer.visible
    try:
        after = canvas(viewer)
    finally:
        layer.visible = not layer.visible
    return changed_pixels(before, after) >= at_least


def wait_idle(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: widget.jobs.idle and widget.panel.measure.jobs.idle, timeout=timeout)


@pytest.fixture
def dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1100, 700)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget["seed"].value = 0
    return viewer, widget


def run(qtbot, widget, image, k, color_space="rgb"):
    widget["image_layer"].value = image
    widget["n_clusters"].value = k
    widget["color_space"].value = color_space
    assert widget.run() is not None
    wait_idle(qtbot, widget)


# -- the layer stack ---------------------------------------------------------------------------
def test_show_all_removes_the_masked_copy_and_the_recolored_eye_changes_the_canvas(dock, qtbot):
    """Regression: after 'show all' the masked layer (a copy of the image) stayed visible
    above the recoloured layer, so ticking the recoloured layer's eye changed nothing."""
    viewer, widget = dock
    image = viewer.add_image(data.coffee()[::2, ::2], name="coffee")
    run(qtbot, widget, image, 4)
    recolored = viewer.layers["coffee recolored"]
    assert not recolored.visible
    widget.panel.hide_all_btn.click()
    assert "coffee masked" in viewer.layers
    assert shows(viewer, recolored)  # above the masked copy while clusters are hidden
    widget.panel.show_all_btn.click()
    assert widget.hidden_clusters() == []
    assert "coffee masked" not in viewer.layers  # it would only repeat the image
    assert shows(viewer, recolored)
    recolored.visible = True
    assert shows(viewer, viewer.layers["coffee clusters"])  # the overlay stays on top


def test_an_edited_masked_layer_is_kept_on_show_all(dock, qtbot):
    viewer, widget = dock
    image = viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    run(qtbot, widget, image, 3)
    widget.set_cluster_visible(1, False)
    masked = viewer.layers["coffee masked"]
    masked.data = masked.data.copy()  # the person's own copy now
    widget.set_cluster_visible(1, True)
    assert masked in viewer.layers


def test_uncertainty_map_goes_on_top_shown_and_selected(dock, qtbot):
    """Regression: the map was added hidden just above the image, under the masked,
    clusters and objects layers: ticking its eye showed nothing."""
    viewer, widget = dock
    image = viewer.add_image(data.coffee()[::2, ::2], name="coffee")
    run(qtbot, widget, image, 4)
    widget.set_cluster_visible(1, False)  # a masked layer, as in the report
    before = canvas(viewer)
    widget.uncertainty_map("distance")
    wait_idle(qtbot, widget)
    layer = viewer.layers["coffee uncertainty"]
    assert viewer.layers[-1] is layer and layer.visible
    assert viewer.layers.selection.active is layer
    assert changed_pixels(before, canvas(viewer)) > 1000
    assert shows(viewer, layer)
    # pressed again after the person hid it and moved it down: shown again, above the image
    layer.visible = False
    viewer.layers.move(viewer.layers.index(layer), 0)
    widget.uncertainty_map("margin")
    wait_idle(qtbot, widget)
    assert layer.visible and shows(viewer, layer)


def test_apply_model_to_an_image_under_another_image_brings_its_result_into_view(dock, qtbot):
    """Regression: applying a model to an image lying under another image left its overlay
    under that image: nothing changed on the canvas."""
    viewer, widget = dock
    lower = viewer.add_image(data.coffee()[:400:2, :512:2], name="lower")
    upper = viewer.add_image(data.astronaut()[:400:2, :512:2], name="upper")  # opaque, on top
    run(qtbot, widget, upper, 4)
    before = canvas(viewer)
    assert widget.apply_model(lower) is not None
    wait_idle(qtbot, widget)
    result = viewer.layers["lower clusters"]
    assert viewer.layers.selection.active is result
    assert changed_pixels(before, canvas(viewer)) > 1000
    assert shows(viewer, result)
    names = [ly.name for ly in viewer.layers]
    # the image and its result came up together, in the plugin's order; the upper image
    # and its own result keep theirs
    assert names.index("upper") < names.index("lower") < names.index("lower clusters")
    assert names.index("upper") < names.index("upper clusters")


def test_run_on_an_image_under_another_image_shows_its_result(dock, qtbot):
    viewer, widget = dock
    lower = viewer.add_image(data.coffee()[:400:2, :512:2], name="lower")
    viewer.add_image(data.astronaut()[:400:2, :512:2], name="upper")  # the same size, on top
    before = canvas(viewer)
    run(qtbot, widget, lower, 3)
    assert changed_pixels(before, canvas(viewer)) > 1000
    assert shows(viewer, viewer.layers["lower clusters"])


def test_an_image_that_covers_only_another_region_is_left_alone(dock, qtbot):
    """Only a layer that overlaps the result counts as covering it."""
    viewer, widget = dock
    image = viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    viewer.add_image(data.camera()[::8, ::8], name="elsewhere", translate=(2000, 2000))
    run(qtbot, widget, image, 3)
    assert [ly.name for ly in viewer.layers][-1] == "elsewhere"


def test_extracting_again_shows_the_layer_the_person_had_hidden(dock, qtbot):
    viewer, widget = dock
    image = viewer.add_image(data.coffee()[::2, ::2], name="coffee")
    run(qtbot, widget, image, 4)
    new = widget.extract_cluster(2)
    assert viewer.layers.selection.active is new and viewer.layers[-1] is new
    assert shows(viewer, new)
    new.visible = False
    viewer.layers.move(viewer.layers.index(new), 0)  # under the image
    viewer.layers.selection.active = image
    again = widget.extract_cluster(2)
    assert again is new and new.visible and viewer.layers.selection.active is new
    assert shows(viewer, new)


def test_hiding_shows_the_overlay_the_person_had_switched_off(dock, qtbot):
    viewer, widget = dock
    image = viewer.add_image(data.coffee()[::2, ::2], name="coffee")
    run(qtbot, widget, image, 4)
    clusters = viewer.layers["coffee clusters"]
    clusters.visible = False
    widget.set_cluster_visible(3, False)
    assert clusters.visible and shows(viewer, clusters)


def test_reveal_moves_the_group_above_a_covering_image_only():
    """Qt-free: napari layers in a LayerList, no viewer."""
    from napari.components import LayerList
    from napari.layers import Image, Labels

    from napari_kmeans_segment._session.stack import covers, reveal

    src = Image(np.zeros((10, 10)), name="src")
    mine = Labels(np.zeros((10, 10), np.uint8), name="mine", opacity=0.5)
    faint = Image(np.zeros((10, 10)), name="faint", opacity=0.5)
    added = Image(np.zeros((10, 10)), name="added", blending="additive")
    cover = Image(np.zeros((10, 10)), name="cover")
    far = Image(np.zeros((10, 10)), name="far", translate=(50, 50))
    corner = Image(np.zeros((4, 4)), name="corner")  # over a corner: the rest is in view
    top = Labels(np.zeros((10, 10), np.uint8), name="top")
    layers = LayerList([src, mine, faint, added, cover, far, top])
    assert covers(cover, mine) and not covers(faint, mine) and not covers(added, mine)
    assert not covers(far, mine) and not covers(top, mine) and not covers(corner, mine)
    assert reveal(layers, mine, [src])
    assert [ly.name for ly in layers] == ["faint", "added", "cover", "src", "mine", "far", "top"]
    assert not reveal(layers, mine, [src])  # nothing covers it now
    cover.visible = False
    mine.visible = False
    layers.move(layers.index(cover), len(layers))
    assert not reveal(layers, mine, [src]) and mine.visible  # a hidden image covers nothing


# -- see-through background ---------------------------------------------------------------
def slide_like(seed=0):
    """Pale glass with purple (haematoxylin-like) discs (a quarter of the image), and where
    the discs are."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:200, :300]
    fg = np.zeros((200, 300), bool)
    for cy, cx in rng.uniform([20, 20], [180, 280], (40, 2)):
        fg |= (yy - cy) ** 2 + (xx - cx) ** 2 < 12**2
    img = np.where(fg[..., None], [110, 60, 150], [235, 232, 238]).astype(float)
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), fg


def overlay_pixels(viewer, clusters) -> int:
    """Canvas pixels the clusters overlay changes."""
    before = canvas(viewer)
    clusters.visible = False
    try:
        return changed_pixels(before, canvas(viewer))
    finally:
        clusters.visible = True


def test_background_is_see_through_by_default_on_slides(dock, qtbot):
    """Regression: with two clusters (nuclei vs glass) the whole background was painted
    over at opacity 0.5, hiding the image."""
    viewer, widget = dock
    img, fg = slide_like()
    image = viewer.add_image(img, name="slide")
    widget.tissue.value = False  # every pixel clustered: the glass is a cluster marked background
    run(qtbot, widget, image, 2, color_space="hed")
    session = widget.session
    clusters = viewer.layers["slide clusters"]
    (bg,) = widget.background_clusters()  # named "background" by the hed fit
    assert session.see_through and widget.panel.measure.see_through.isChecked()
    assert np.array_equal(clusters.data == bg, ~fg)
    painted = overlay_pixels(viewer, clusters)
    session.set_see_through(False)
    assert not widget.panel.measure.see_through.isChecked()
    everywhere = overlay_pixels(viewer, clusters)
    # see-through: the overlay paints the discs only; otherwise the whole image
    assert painted / everywhere == pytest.approx(fg.mean(), abs=0.04), (painted, everywhere)
    # a see-through cluster is shown, not hidden: ticked, not blacked out in a masked layer
    widget.panel.measure.see_through.setChecked(True)
    assert session.see_through
    assert widget.hidden_clusters() == [] and "slide masked" not in viewer.layers
    assert all(r["visible"] for r in widget.panel.rows())
    widget.set_cluster_visible(bg, False)  # hiding it still hides (and masks) it
    assert widget.hidden_clusters() == [bg] and "slide masked" in viewer.layers
    widget.set_cluster_visible(bg, True)
    assert widget.hidden_clusters() == [] and overlay_pixels(viewer, clusters) == pytest.approx(
        painted, rel=0.1
    )


def test_two_clusters_see_through_once_marked_many_clusters_only_when_asked(dock, qtbot):
    viewer, widget = dock
    img, fg = slide_like(1)
    image = viewer.add_image(img, name="cells")
    run(qtbot, widget, image, 2)  # rgb: nothing is named background
    clusters = viewer.layers["cells clusters"]
    assert widget.background_clusters() == []
    everywhere = overlay_pixels(viewer, clusters)
    bg = int(np.bincount(clusters.data[~fg]).argmax())
    widget.set_background([bg])  # the person ticks it in the measure table
    assert widget.session.see_through
    assert overlay_pixels(viewer, clusters) < 0.3 * everywhere
    widget.set_background([])
    assert overlay_pixels(viewer, clusters) == pytest.approx(everywhere, rel=0.05)
    # a photo with more clusters: off by default, and the person's choice is kept
    run(qtbot, widget, image, 4)
    assert not widget.session.see_through
    marks = [int(v) for v in np.unique(clusters.data[~fg])]
    widget.set_background(marks)
    assert overlay_pixels(viewer, clusters) == pytest.approx(everywhere, rel=0.05)
    widget.session.set_see_through(True)
    assert overlay_pixels(viewer, clusters) < 0.3 * everywhere
    run(qtbot, widget, image, 4)
    assert widget.session.see_through  # kept for the next run
    widget.merge_clusters([1, 2])
    assert widget.session.see_through
