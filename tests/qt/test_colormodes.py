"""Every colormap napari allows on a Labels layer, both ways.

The panel, the masked layer and the console read visibility the way the canvas draws it
(through ``layer.colormap.map``), and hiding from the panel works whatever the colour mode.
"""

import numpy as np
import pytest
from napari.utils.colormaps import DirectLabelColormap, label_colormap
from skimage import data

from napari_kmeans_segment._session.colors import copy_colormap, hidden_labels

PLUGIN = "napari-kmeans-segment"


@pytest.fixture
def ran(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    img = data.astronaut()[::8, ::8]
    viewer.add_image(img, name="astro")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["n_clusters"].value = 4
    widget["seed"].value = 0
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    return viewer, widget, viewer.layers["astro clusters"], img


def canvas(layer, labels):
    """RGBA the canvas draws each label with (napari's public colormap mapping)."""
    return np.asarray(layer.colormap.map(np.asarray(labels, layer.data.dtype)), float)


def panel_state(widget):
    rows = sorted(widget.panel.rows(), key=lambda r: r["label"])
    return {r["label"]: r for r in rows}


def assert_panel_matches_canvas(widget, layer, img):
    rows = panel_state(widget)
    labels = sorted(rows)
    drawn = canvas(layer, labels)
    for lab, rgba in zip(labels, drawn):
        assert rows[lab]["drawn"] == (rgba[3] > 0), lab
    hidden = [lab for lab in labels if not rows[lab]["visible"]]
    assert widget.hidden_clusters() == hidden == hidden_labels(layer)
    if "astro masked" in widget.viewer.layers:
        masked = widget.viewer.layers["astro masked"].data
        sel = np.isin(layer.data, hidden)
        assert (masked[sel] == 0).all() and np.array_equal(masked[~sel], img[~sel])


def test_auto_color_mode_is_read_and_hiding_works(ran):
    """Regression: a CyclicLabelColormap ("auto") raised AttributeError (no color_dict) in
    the panel, which then showed stale visibility."""
    viewer, widget, layer, img = ran
    layer.colormap = label_colormap(10)
    rows = panel_state(widget)
    seen = canvas(layer, sorted(rows))
    assert all(r["visible"] for r in rows.values())
    assert np.allclose(np.stack([rows[k]["color"] for k in sorted(rows)]), seen)
    widget.set_cluster_visible(2, False)
    after = canvas(layer, [1, 2, 3, 4])
    assert after[1, 3] == 0  # the canvas hides cluster 2 ...
    assert np.allclose(after[[0, 2, 3]], seen[[0, 2, 3]])  # ... with the colours seen before
    assert_panel_matches_canvas(widget, layer, img)


def test_panel_follows_a_switch_to_auto_and_back(ran):
    """Regression: after hiding a cluster, switching to auto left the panel saying hidden
    while the canvas drew it."""
    viewer, widget, layer, img = ran
    widget.set_cluster_visible(3, False)
    direct = layer.colormap
    layer.colormap = label_colormap(10)  # napari's colour mode "auto"
    assert canvas(layer, [3])[0, 3] > 0
    assert panel_state(widget)[3]["visible"] and widget.hidden_clusters() == []
    assert "astro masked" not in viewer.layers  # nothing hidden any more
    layer.colormap = direct  # back to direct mode
    assert not panel_state(widget)[3]["visible"] and widget.hidden_clusters() == [3]
    assert_panel_matches_canvas(widget, layer, img)


def test_direct_colormap_with_missing_entries(ran):
    """Regression: hiding with a direct colormap lacking an entry raised a bare KeyError."""
    viewer, widget, layer, img = ran
    yellow = np.array([1.0, 1.0, 0.0, 1.0])
    layer.colormap = DirectLabelColormap(
        color_dict={None: yellow, 0: np.zeros(4), 1: np.array([1.0, 0, 0, 1])}
    )
    widget.set_cluster_visible(3, False)
    after = canvas(layer, [1, 2, 3, 4])
    assert after[2, 3] == 0
    assert np.allclose(after[1], yellow) and np.allclose(after[3], yellow)
    rows = panel_state(widget)
    assert np.allclose(rows[2]["color"], yellow) and rows[2]["visible"]
    assert_panel_matches_canvas(widget, layer, img)
    widget.set_cluster_visible(3, True)
    assert np.allclose(canvas(layer, [3])[0], yellow)


def test_show_selected_label(ran):
    viewer, widget, layer, img = ran
    layer.selected_label = 2
    layer.show_selected_label = True
    rows = panel_state(widget)
    assert [lab for lab, r in rows.items() if r["drawn"]] == [2]
    assert all(r["visible"] for r in rows.values())  # the clusters themselves are not hidden
    widget.set_cluster_visible(4, False)
    assert layer.show_selected_label and layer.colormap.use_selection  # napari's state kept
    assert_panel_matches_canvas(widget, layer, img)
    layer.show_selected_label = False
    assert canvas(layer, [4])[0, 3] == 0 and canvas(layer, [1])[0, 3] > 0
    assert_panel_matches_canvas(widget, layer, img)


def test_opacity_is_the_persons_and_hiding_keeps_it(ran):
    viewer, widget, layer, img = ran
    layer.opacity = 0.25
    widget.set_cluster_visible(1, False)
    assert layer.opacity == 0.25
    assert_panel_matches_canvas(widget, layer, img)


def test_partial_alpha_is_visible_and_kept(ran):
    viewer, widget, layer, img = ran
    cd = {lab: canvas(layer, [lab])[0] for lab in (1, 2, 3, 4)}
    cd[2] = np.r_[cd[2][:3], 0.4]
    layer.colormap = DirectLabelColormap(color_dict={None: np.zeros(4), 0: np.zeros(4), **cd})
    assert panel_state(widget)[2]["visible"]
    widget.set_cluster_visible(1, False)
    assert canvas(layer, [2])[0, 3] == pytest.approx(0.4)
    assert_panel_matches_canvas(widget, layer, img)


# ---------------------------------------------------------------------------------------------
# Every cluster action x every result kind Run can produce x every colour mode
# ---------------------------------------------------------------------------------------------
KINDS = ["gray", "rgb", "rgba", "stack", "channels", "dask", "multiscale"]
MODES = ["direct", "auto", "selected"]


def add_source(viewer, widget, kind):
    """Add a small real image of ``kind`` named "src"; returns {output suffix: source pixels}
    (what each recoloured/masked layer is made from)."""
    import dask.array as da

    rgb = data.astronaut()[::8, ::8]
    gray = data.camera()[::8, ::8]
    if kind == "gray":
        viewer.add_image(gray, name="src")
        pixels = {"": gray}
    elif kind == "rgb":
        viewer.add_image(rgb, name="src")
        pixels = {"": rgb}
    elif kind == "rgba":
        alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
        alpha[:8] = 128
        img = np.concatenate([rgb, alpha], axis=-1)
        viewer.add_image(img, name="src")
        pixels = {"": img}
    elif kind == "stack":
        img = np.stack([gray.astype(np.uint16) * (10 + z) for z in range(3)])
        viewer.add_image(img, name="src")
        pixels = {"": img}
    elif kind == "channels":
        names = ["src", "c1", "c2"]
        for i, name in enumerate(names):
            viewer.add_image(
                rgb[..., i], name=name, colormap=["red", "green", "blue"][i], blending="additive"
            )
        pixels = {f" ({n})": rgb[..., i] for i, n in enumerate(names)}
    elif kind == "dask":
        viewer.add_image(da.from_array(rgb, chunks=(32, 32, 3)), name="src", rgb=True)
        pixels = {"": rgb}
    else:
        viewer.add_image([rgb, rgb[::2, ::2]], name="src", rgb=True)
        pixels = {"": rgb}
    widget["image_layer"].value = viewer.layers["src"]
    if kind == "channels":
        widget["channel_layers"].reset_choices()
        widget["channel_layers"].value = [viewer.layers["c1"], viewer.layers["c2"]]
    return pixels


def finest(layer_data):
    if isinstance(layer_data, list) or getattr(layer_data, "__class__", None).__name__ == ("MultiScaleData"):
        return np.asarray(layer_data[0])
    return np.asarray(layer_data)


def own_colors(layer, labels):
    """The canvas colours without napari's "show selected label" dimming."""
    cm = layer.colormap
    if cm.use_selection:
        cm = copy_colormap(cm)
        cm.use_selection = False
    return canvas_of(cm, layer, labels)


def canvas_of(cm, layer, labels):
    return np.asarray(cm.map(np.asarray(labels, layer.data.dtype)), float).reshape(-1, 4)


def check_agreement(viewer, widget, pixels):
    """Labels, recoloured and masked layers, panel and canvas colours all agree."""
    session = widget.session
    layer = widget.clusters_layer
    assert layer is session.clusters and layer in viewer.layers
    labels = finest(layer.data)
    assert np.array_equal(labels, finest(session.seg.labels))  # the layer shows the result
    index = [int(i) for i in layer.features["index"]]
    assert index == session.seg.index.tolist()
    assert set(np.unique(labels)) <= set(index) | {0}
    rows = panel_state(widget)
    assert sorted(rows) == index
    own = own_colors(layer, index)
    drawn = canvas(layer, index).reshape(-1, 4)
    for lab, c, d in zip(index, own, drawn):
        assert rows[lab]["visible"] == (c[3] > 0) and rows[lab]["drawn"] == (d[3] > 0)
        assert np.allclose(rows[lab]["color"], c)
        assert rows[lab]["name"] == layer.features.set_index("index").loc[lab, "name"]
    hidden = [lab for lab in index if not rows[lab]["visible"]]
    assert widget.hidden_clusters() == hidden
    for suffix, src in pixels.items():
        rec = finest(session.slots.get(f"recolored{suffix}").data)
        color = rec[..., :3] if rec.ndim > labels.ndim else rec
        for lab in index:  # one colour per cluster
            values = color[labels == lab]
            assert (values == values[0]).all(), lab
        if rec.shape[-1:] == (4,) and rec.ndim > labels.ndim:
            assert np.array_equal(rec[..., 3], src[..., 3])  # alpha kept
        masked_layer = session.slots.get(f"masked{suffix}")
        if hidden:
            assert masked_layer is not None
        if masked_layer is not None:
            masked = finest(masked_layer.data)
            sel = np.isin(labels, hidden)
            mc = masked[..., :3] if masked.ndim > labels.ndim else masked
            sc = src[..., :3] if src.ndim > labels.ndim else src
            assert (mc[sel] == 0).all() and np.array_equal(mc[~sel], sc[~sel])
            if src.ndim > labels.ndim and src.shape[-1] == 4:
                assert np.array_equal(masked[..., 3], src[..., 3])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_action_on_every_result_kind_in_every_color_mode(
    make_napari_viewer, qtbot, tmp_path, kind, mode
):
    import csv

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    pixels = add_source(viewer, widget, kind)
    widget["n_clusters"].value = 3
    widget["seed"].value = 0
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    layer = widget.clusters_layer
    n_layers = len(viewer.layers)
    if mode == "auto":
        layer.colormap = label_colormap(12)
    elif mode == "selected":
        layer.selected_label = 1
        layer.show_selected_label = True
    check_agreement(viewer, widget, pixels)

    widget.set_cluster_visible(2, False)  # hide
    assert widget.hidden_clusters() == [2] and own_colors(layer, [2])[0, 3] == 0
    check_agreement(viewer, widget, pixels)
    widget.set_cluster_visible(2, True)  # show
    assert widget.hidden_clusters() == []
    check_agreement(viewer, widget, pixels)
    widget.set_cluster_visible(1, False)
    widget.panel.invert_btn.click()  # invert
    assert widget.hidden_clusters() == [2, 3]
    check_agreement(viewer, widget, pixels)
    widget.panel.show_all_btn.click()
    before = finest(layer.data).copy()

    widget.merge_clusters([2, 3])  # merge
    assert list(layer.features["index"]) == [1, 2]
    assert np.array_equal(finest(layer.data), np.where(before == 3, 2, before))
    check_agreement(viewer, widget, pixels)
    widget.undo()  # undo
    assert np.array_equal(finest(layer.data), before)
    assert list(layer.features["index"]) == [1, 2, 3]
    check_agreement(viewer, widget, pixels)

    mask = widget.extract_cluster(1)  # extract
    assert np.array_equal(finest(mask.data).astype(bool), before == 1)
    widget.rename_cluster(1, "sky")  # rename
    assert panel_state(widget)[1]["name"] == "sky"
    widget.set_cluster_visible(3, False)
    path = widget.export_table(tmp_path / "t.csv")  # export
    rows = list(csv.DictReader(open(path)))
    assert [(int(r["index"]), r["name"], r["visible"]) for r in rows] == [
        (1, "sky", "True"),
        (2, "cluster 2", "True"),
        (3, "cluster 3", "False"),
    ]
    check_agreement(viewer, widget, pixels)

    model_path = widget.save_model(tmp_path / "m.json")  # save / load / apply model
    widget.load_model(model_path)
    assert "m.json" in widget.panel.model_label.text()
    assert widget.apply_model() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert widget.clusters_layer is layer  # written in place, no new layers
    assert widget.session.seg.params["method"] == "model"
    # the model labels its own image as the run did (the exact recipe's cv2.kmeans labels
    # pixels before its last centre update, so a pixel on a boundary may differ)
    assert (finest(layer.data) == before).mean() > 0.99
    check_agreement(viewer, widget, pixels)
    # the extracted mask; the masked layer(s) went with the new result, which shows every cluster
    assert len(viewer.layers) == n_layers + 1, [ly.name for ly in viewer.layers]
    assert not any("masked" in ly.name for ly in viewer.layers)
