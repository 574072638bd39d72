"""Hide, show, merge, extract and export clusters in a real viewer."""

import csv

import numpy as np
import pytest
from skimage import data

import napari_kmeans_segment as nks
from napari_kmeans_segment._session.colors import hidden_labels

PLUGIN = "napari-kmeans-segment"


@pytest.fixture
def ran(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    img = data.coffee()
    viewer.add_image(img, name="coffee")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["n_clusters"].value = 4
    widget["seed"].value = 0
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    qtbot.waitUntil(lambda: not widget.busy, timeout=5000)
    return viewer, widget, img


def test_panel_lists_clusters_from_the_layer(ran):
    viewer, widget, img = ran
    rows = widget.panel.rows()
    assert sorted(r["label"] for r in rows) == [1, 2, 3, 4]
    assert all(r["visible"] for r in rows)
    assert sum(r["share"] for r in rows) == pytest.approx(100, abs=0.3)
    assert {r["name"] for r in rows} == {f"cluster {i}" for i in range(1, 5)}


def test_hiding_clusters_masks_the_original_like_the_tutorial(ran):
    viewer, widget, img = ran
    assert "coffee masked" not in viewer.layers
    widget.set_cluster_visible(2, False)
    clusters = viewer.layers["coffee clusters"]
    assert clusters.colormap.color_dict[2][3] == 0
    assert all(clusters.colormap.color_dict[i][3] == 1 for i in (1, 3, 4))
    masked = viewer.layers["coffee masked"].data
    expected = img.copy()
    expected[clusters.data == 2] = [0, 0, 0]
    assert np.array_equal(masked, expected)
    assert not [r for r in widget.panel.rows() if r["label"] == 2][0]["visible"]
    widget.set_cluster_visible(3, False)
    expected[clusters.data == 3] = 0
    assert np.array_equal(viewer.layers["coffee masked"].data, expected)
    widget.set_cluster_visible(2, True)
    assert np.array_equal(viewer.layers["coffee masked"].data[clusters.data == 2], img[clusters.data == 2])
    widget.set_cluster_visible(3, True)
    assert "coffee masked" not in viewer.layers  # nothing hidden: it would repeat the image
    assert np.array_equal(viewer.layers["coffee"].data, img)  # source untouched


def test_panel_follows_a_colormap_changed_from_the_console(ran):
    from napari.utils.colormaps import DirectLabelColormap

    viewer, widget, img = ran
    layer = viewer.layers["coffee clusters"]
    cd = dict(layer.colormap.color_dict)
    cd[4] = np.array([1.0, 0, 0, 0])
    layer.colormap = DirectLabelColormap(color_dict=cd)
    assert hidden_labels(layer) == [4]
    assert [r["visible"] for r in sorted(widget.panel.rows(), key=lambda r: r["label"])] == [
        True,
        True,
        True,
        False,
    ]
    assert (viewer.layers["coffee masked"].data[layer.data == 4] == 0).all()
    # napari's own "show selected label" keeps working with the plugin's colormaps
    layer.selected_label = 1
    layer.show_selected_label = True
    widget.set_cluster_visible(3, False)
    assert layer.show_selected_label and layer.colormap.use_selection
    assert layer.colormap.map(np.array([2]))[0][3] == 0  # others dimmed by napari
    assert layer.colormap.map(np.array([1]))[0][3] == 1
    layer.show_selected_label = False
    assert layer.colormap.map(np.array([2]))[0][3] == 1
    assert layer.colormap.map(np.array([3]))[0][3] == 0  # hidden by the plugin


def test_panel_checkbox_and_buttons(ran, qtbot):
    from qtpy.QtCore import Qt

    viewer, widget, img = ran
    table = widget.panel.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 2).text() == "1")
    table.item(row, 0).setCheckState(Qt.CheckState.Unchecked)
    assert hidden_labels(viewer.layers["coffee clusters"]) == [1]
    widget.panel.invert_btn.click()
    assert hidden_labels(viewer.layers["coffee clusters"]) == [2, 3, 4]
    widget.panel.show_all_btn.click()
    assert hidden_labels(viewer.layers["coffee clusters"]) == []
    widget.panel.hide_all_btn.click()
    assert hidden_labels(viewer.layers["coffee clusters"]) == [1, 2, 3, 4]
    # renaming writes to the layer's features
    row = next(r for r in range(table.rowCount()) if table.item(r, 2).text() == "3")
    table.item(row, 3).setText("crema")
    f = viewer.layers["coffee clusters"].features
    assert f.loc[f["index"] == 3, "name"].item() == "crema"


def test_merge_and_undo(ran, qtbot):
    viewer, widget, img = ran
    layer = viewer.layers["coffee clusters"]
    before = layer.data.copy()
    rec_before = viewer.layers["coffee recolored"].data.copy()
    widget.merge_clusters([4, 2])
    assert set(np.unique(layer.data)) == {1, 2, 3}
    assert np.array_equal(layer.data == 2, np.isin(before, [2, 4]))
    assert list(layer.features["index"]) == [1, 2, 3]
    assert layer.features["count"].sum() == before.size
    merged = viewer.layers["coffee recolored"].data[layer.data == 2]
    assert (merged == merged[0]).all()
    assert {r["label"] for r in widget.panel.rows()} == {1, 2, 3}
    # a model saved now merges the same clusters on the next image
    merged_model = widget.current_model()
    assert np.array_equal(merged_model.apply(img).labels, layer.data)
    widget.undo()
    assert np.array_equal(layer.data, before)
    assert widget.current_model().label_map is None
    assert np.array_equal(viewer.layers["coffee recolored"].data, rec_before)
    assert list(layer.features["index"]) == [1, 2, 3, 4]
    # a merged layer is still ours: the next Run updates it in place
    widget.merge_clusters([1, 2])
    n = len(viewer.layers)
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert len(viewer.layers) == n and viewer.layers["coffee clusters"] is layer
    assert layer.data.max() == 4


def test_bad_requests_change_nothing(ran):
    viewer, widget, img = ran
    layer = viewer.layers["coffee clusters"]
    before = layer.data.copy()
    with pytest.raises(ValueError, match="at least two"):
        widget.merge_clusters([1])
    with pytest.raises(ValueError, match="No cluster 9"):
        widget.merge_clusters([1, 9])
    with pytest.raises(ValueError, match="No cluster 9"):
        widget.set_cluster_visible(9, False)
    with pytest.raises(ValueError, match="Nothing to undo"):
        widget.undo()
    assert np.array_equal(layer.data, before)


def test_acting_before_any_run(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    with pytest.raises(ValueError, match="Run k-means first"):
        widget.set_cluster_visible(1, False)
    with pytest.raises(ValueError, match="Run k-means first"):
        widget.extract_cluster(1)
    widget.panel.merge_btn.click()  # the button reports instead of raising
    assert len(viewer.layers) == 0


def test_extract_objects_and_export(ran, tmp_path):
    viewer, widget, img = ran
    layer = viewer.layers["coffee clusters"]
    mask = widget.extract_cluster(1)
    assert np.array_equal(mask.data.astype(bool), layer.data == 1)
    objs = widget.extract_cluster(4, objects=True, min_size=50)
    assert objs.name == "coffee cluster 4 objects" and objs.data.max() >= 1
    assert (np.bincount(objs.data.ravel())[1:] >= 50).all()
    widget.set_cluster_visible(3, False)
    path = widget.export_table(tmp_path / "t.csv")
    rows = list(csv.DictReader(open(path)))
    assert [int(r["index"]) for r in rows] == [1, 2, 3, 4]
    assert [r["visible"] for r in rows] == ["True", "True", "False", "True"]
    assert {"name", "count", "fraction", "center_R", "center_G", "center_B"} <= set(rows[0])


def test_models_from_the_widget(ran, tmp_path, qtbot):
    viewer, widget, img = ran
    path = widget.save_model(tmp_path / "m.json")
    model = nks.load_model(path)
    assert np.array_equal(model.apply(img).labels, viewer.layers["coffee clusters"].data)
    code = widget.python_code()
    ns = {"viewer": viewer}
    exec(code, ns)  # the copied Python reproduces the run
    assert np.array_equal(ns["seg"].labels, viewer.layers["coffee clusters"].data)
    viewer.add_image(data.chelsea(), name="cat")
    widget.load_model(path)
    assert widget.apply_model(viewer.layers["cat"]) is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert viewer.layers["cat clusters"].data.max() <= 4
    assert widget.clusters_layer is viewer.layers["cat clusters"]


# ---------------------------------------------------------------------------------------------
# Regressions of the clusters panel, in a real viewer
# ---------------------------------------------------------------------------------------------
def _run(qtbot, widget):
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)


@pytest.fixture
def dock(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["seed"].value = 0
    return viewer, widget


def test_merge_on_several_channel_layers(dock, qtbot):
    """Regression: merge on a result from several channel layers raised IndexError."""
    viewer, widget = dock
    rgb = data.astronaut()[::8, ::8]
    for i, name in enumerate(["r", "g", "b"]):
        viewer.add_image(rgb[..., i], name=name, blending="additive")
    widget["image_layer"].value = viewer.layers["r"]
    widget["channel_layers"].reset_choices()
    widget["channel_layers"].value = [viewer.layers["g"], viewer.layers["b"]]
    _run(qtbot, widget)
    layer = viewer.layers["r clusters"]
    before = layer.data.copy()
    widget.merge_clusters([1, 3])
    assert np.array_equal(layer.data, np.where(before == 3, 1, before))
    assert list(layer.features["index"]) == [1, 2]
    for name in ("r", "g", "b"):
        merged = viewer.layers[f"r recolored ({name})"].data[layer.data == 1]
        assert (merged == merged[0]).all()
    widget.undo()
    assert np.array_equal(layer.data, before)


def test_merge_on_rgba_updates_both_layers_and_undo_restores_both(dock, qtbot):
    """Regression: on an RGBA source merge changed the clusters layer but not the
    recoloured one (half-applied; undo out of step)."""
    viewer, widget = dock
    rgb = data.astronaut()[::8, ::8]
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    alpha[:10] = 100
    viewer.add_image(np.concatenate([rgb, alpha], axis=-1), name="rgba")
    _run(qtbot, widget)
    layer, rec = viewer.layers["rgba clusters"], viewer.layers["rgba recolored"]
    before, rec_before = layer.data.copy(), rec.data.copy()
    widget.merge_clusters([2, 3])
    merged = rec.data[layer.data == 2][:, :3]
    assert not np.array_equal(rec.data, rec_before)
    assert (merged == merged[0]).all()  # one colour for the merged cluster
    assert np.array_equal(rec.data[..., 3], alpha[..., 0])  # alpha kept
    widget.undo()
    assert np.array_equal(layer.data, before) and np.array_equal(rec.data, rec_before)


def test_merge_on_multiscale_keeps_the_levels(dock, qtbot):
    """Regression: merge on a multiscale result turned the clusters layer into a 1-D array."""
    viewer, widget = dock
    img = data.astronaut()[::4, ::4]
    viewer.add_image([img, img[::2, ::2]], name="pyramid", rgb=True)
    _run(qtbot, widget)
    layer = viewer.layers["pyramid clusters"]
    shapes = [lv.shape for lv in layer.data]
    coarse = np.asarray(layer.data[1]).copy()
    widget.merge_clusters([1, 2])
    assert layer.multiscale and [lv.shape for lv in layer.data] == shapes
    assert np.array_equal(np.asarray(layer.data[1]), np.where(coarse == 2, 1, coarse))


def test_merge_after_a_run_kept_an_edited_layer_writes_the_plugins_own(dock, qtbot):
    """Regression: after a Run kept an edited recoloured layer (result in "... (1)"), merge
    wrote into the edited layer."""
    viewer, widget = dock
    viewer.add_image(data.astronaut()[::8, ::8], name="astro")
    _run(qtbot, widget)
    edited = viewer.layers["astro recolored"]
    edited.data[:8, :8] = 0
    kept = edited.data.copy()
    _run(qtbot, widget)
    ours = viewer.layers["astro recolored (1)"]
    widget.merge_clusters([1, 2])
    assert np.array_equal(edited.data, kept)
    merged = ours.data[viewer.layers["astro clusters"].data == 1]
    assert (merged == merged[0]).all()


def test_a_persons_output_names_do_not_pile_up_layers(dock, qtbot):
    """A person's layers named like the outputs stay theirs, and every hide, preview and Run
    updates the plugin's one "(1)" layer of each kind instead of adding another "(n)"."""
    viewer, widget = dock
    viewer.add_image(data.astronaut()[::8, ::8], name="astro")
    for kind in ("clusters", "masked", "preview"):
        viewer.add_labels(np.zeros((8, 8), np.uint8), name=f"astro {kind}")
    widget["image_layer"].value = viewer.layers["astro"]
    for n in (3, 4):
        widget["n_clusters"].value = n
        _run(qtbot, widget)
        widget.set_cluster_visible(1, False)
        widget.set_cluster_visible(2, False)
        widget["live_preview"].value = True
        qtbot.waitUntil(
            lambda n=n: (
                "astro preview (1)" in viewer.layers and viewer.layers["astro preview (1)"].data.max() == n
            ),
            timeout=30_000,
        )
        widget["live_preview"].value = False
        assert "astro preview (1)" not in viewer.layers  # preview off removes our preview
    extra = sorted(ly.name for ly in viewer.layers if "(" in ly.name)
    assert extra == ["astro clusters (1)", "astro masked (1)"], extra
    assert "astro preview" in viewer.layers  # the person's layer of that name stays


def test_apply_model_uses_a_loaded_model_only_until_the_next_run(dock, qtbot, tmp_path):
    """A loaded model is what "apply model to image" uses only until the next Run: then it
    applies the new Run's model, not the one loaded before."""
    viewer, widget = dock
    viewer.add_image(data.astronaut()[::8, ::8], name="astro")
    widget["n_clusters"].value = 3
    _run(qtbot, widget)
    path = widget.save_model(tmp_path / "three.json")
    widget.load_model(path)
    widget["n_clusters"].value = 4
    _run(qtbot, widget)  # a new Run sets the loaded model aside ...
    assert widget.apply_model() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert viewer.layers["astro clusters"].data.max() == 4  # ... so apply uses this run's
    assert widget.status.value == "The current result's model applied: 4 clusters in 'astro clusters'."
    assert widget.panel.loaded_row.isHidden()  # no loaded model shown any more
    assert widget.panel.apply_model_btn.text() == "apply model"
    widget.load_model(path)  # loading it again is explicit, and shown by name
    assert "three.json" in widget.panel.model_label.text()
    assert "three.json" in widget.panel.apply_model_btn.toolTip()
    assert widget.apply_model() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert viewer.layers["astro clusters"].data.max() == 3
    assert widget.status.value.startswith("Model 'three.json' applied: 3 clusters")


def test_console_api_as_the_docs_show_it(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """The napari-console block of docs/console.md (linked from the README), executed as it is
    written there (one statement after the other, as pasted). Without w.wait() it would fail:
    suggest_k runs in the background, so the next statement would find no suggestion."""
    from pathlib import Path

    root = Path(__file__).parents[2]
    assert "(docs/console.md" in (root / "README.md").read_text(encoding="utf-8")
    page = (root / "docs" / "console.md").read_text(encoding="utf-8")
    after = page.index("From napari's console")
    start = page.index("```python\n", after) + len("```python\n")
    block = page[start : page.index("```", start)]
    assert "w.suggest_k()" in block and "w.apply_model(" in block
    monkeypatch.chdir(tmp_path)
    viewer = make_napari_viewer()
    viewer.add_image(data.coffee()[::2, ::2], name="coffee")
    viewer.add_image(data.chelsea()[::2, ::2], name="next image")
    ns = {"viewer": viewer}
    exec(block, ns)
    w = ns["w"]
    assert w.suggested_k is not None and w["n_clusters"].value == w.suggested_k
    assert w.background_clusters() == [3]
    assert "next image uncertainty" in viewer.layers
    assert "next image cluster 1+2 objects" in viewer.layers
    for name in ("clusters.csv", "classes.json", "objects.csv"):
        assert (tmp_path / name).is_file()
    code = {"viewer": viewer}
    exec(w.python_code(), code)  # the result shown now is the applied model's; its Python
    assert np.array_equal(code["seg"].labels, viewer.layers["next image clusters"].data)


def test_save_dialogs_offer_names_from_the_image(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """Every export offered "clusters.csv" / "model.json" / "objects.csv", so a folder of
    slides ended with files overwritten or hard to tell apart: the image's name (made safe
    for a file name) comes first."""
    from qtpy.QtWidgets import QFileDialog

    viewer = make_napari_viewer()
    viewer.add_image(data.coffee()[::4, ::4], name="slide 3/a:b")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["n_clusters"].value = 3
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    offered = []

    def dialog(parent, title, name, filt):
        offered.append(name)
        return str(tmp_path / name), filt

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    widget.panel.export_btn.click()
    widget.panel._save_model()
    widget.extract_objects(1, min_size=5)
    widget.panel.measure.export_objects_btn.click()
    assert offered == [
        "slide 3_a_b clusters.csv",
        "slide 3_a_b model.json",
        "slide 3_a_b cluster 1 objects.csv",
    ]
    assert all((tmp_path / name).is_file() for name in offered)
