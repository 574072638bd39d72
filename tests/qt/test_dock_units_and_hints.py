"""The dock at 1280x800: physical units kept, the selected label drawn after a merge, channel-axis hints."""

import numpy as np
import pytest
from skimage import data

import napari_kmeans_segment as nks

PLUGIN = "napari-kmeans-segment"


@pytest.fixture
def viewer_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    return viewer, widget


def run_and_wait(qtbot, widget):
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)


def test_outputs_keep_the_source_units(viewer_widget, qtbot):
    """Outputs written with napari's default "pixel" units made napari warn about inconsistent
    units after every Run and stop using them."""
    viewer, widget = viewer_widget
    # one unit for every axis: napari 0.5.0's add_image takes no sequence of units
    viewer.add_image(data.immunohistochemistry()[::2, ::2], name="ihc", scale=(0.5, 0.5), units="µm")
    widget["n_clusters"].value = 3
    run_and_wait(qtbot, widget)
    widget.set_cluster_visible(1, False)
    widget.extract_cluster(2, objects=True, min_size=5)
    for name in ("ihc clusters", "ihc recolored", "ihc masked", "ihc cluster 2 objects"):
        units = [str(u) for u in viewer.layers[name].units]
        assert units == ["micrometer", "micrometer"], (name, units)


def test_channels_of_a_fluorescence_stack_are_not_called_rgb():
    """A (3, Y, X) stack clustered with channel_axis=0 is not an RGB image."""
    stack = np.stack([data.camera()[::4, ::4], data.moon()[::4, ::4], data.coins()[:128, :128]]).astype(
        np.uint16
    )
    seg = nks.segment(stack, 3, channel_axis=0, seed=0)
    cols = [c for c in seg.table() if c.startswith("center_")]
    assert cols == ["center_0", "center_1", "center_2"]
    rgb = nks.segment(data.coffee()[::4, ::4], 3, seed=0)
    assert [c for c in rgb.table() if c.startswith("center_")] == ["center_R", "center_G", "center_B"]


def test_merge_away_the_selected_label_keeps_show_selected_drawing(viewer_widget, qtbot):
    """With "show selected label" on label 3, merging 1+3 removed label 3 and left the canvas
    empty; the selection now follows the merged cluster."""
    viewer, widget = viewer_widget
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    widget["n_clusters"].value = 4
    run_and_wait(qtbot, widget)
    layer = viewer.layers["coffee clusters"]
    layer.selected_label = 3
    layer.show_selected_label = True
    widget.merge_clusters([1, 3])
    assert layer.selected_label == 1
    assert layer.show_selected_label
    assert (np.asarray(layer.data) == 1).any()


def test_a_few_planes_run_as_a_stack_get_a_channel_axis_hint(viewer_widget, qtbot):
    """A (3, Y, X) fluorescence stack run with 'channel axis' none clusters each plane's pixels
    as gray values of one stack; the status line says how to cluster them as channels."""
    viewer, widget = viewer_widget
    stack = np.moveaxis(data.immunohistochemistry()[::4, ::4], -1, 0)  # (3, 128, 128)
    viewer.add_image(stack, name="fluo")
    widget["n_clusters"].value = 3
    run_and_wait(qtbot, widget)
    assert "choose 'channel axis' 0" in widget.status.value
    assert "3 planes" in widget.status.value
    widget["channel_axis"].value = 0
    run_and_wait(qtbot, widget)
    assert "channel axis" not in widget.status.value
    assert viewer.layers["fluo clusters"].data.shape == (128, 128)


def test_a_z_stack_gets_no_channel_axis_hint(viewer_widget, qtbot):
    """Many planes are z (or time), not channels: no hint."""
    viewer, widget = viewer_widget
    cam = data.camera()[::8, ::8]
    viewer.add_image(np.stack([np.roll(cam, z, axis=0) for z in range(10)]), name="z stack")
    widget["n_clusters"].value = 2
    run_and_wait(qtbot, widget)
    assert "channel axis" not in widget.status.value
    assert viewer.layers["z stack clusters"].data.shape == (10, 64, 64)
