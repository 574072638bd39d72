"""The Qt-free ClusterSession on napari's ViewerModel (no window, no Qt): outputs found by
identity, all-or-nothing actions, undo, events."""

import subprocess
import sys

import numpy as np
import pytest
from napari.components import ViewerModel
from skimage import data

import napari_kmeans_segment as nks
from napari_kmeans_segment._session.layers import MARK, LayerSlots, Output, Source
from napari_kmeans_segment._session.session import ClusterSession


@pytest.fixture
def viewer():
    return ViewerModel()


def start(viewer, img=None, k=3, name="img"):
    img = data.astronaut()[::8, ::8] if img is None else img
    layer = viewer.add_image(img, name=name)
    src = Source.from_layers([layer])
    session = ClusterSession(viewer, layer)
    session.set_result(nks.segment(src.data, k, seed=0), src)
    return session, src, layer


def names(viewer):
    return [ly.name for ly in viewer.layers]


def test_session_needs_no_qt():
    code = (
        "import sys; import napari_kmeans_segment._session.session, napari_kmeans_segment._session.colors; "
        "bad = [m for m in ('qtpy', 'PyQt6', 'PyQt5') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_result_layers_and_events(viewer):
    seen = []
    layer = viewer.add_image(data.astronaut()[::8, ::8], name="img")
    session = ClusterSession(viewer, layer)
    session.changed.connect(seen.append)
    with pytest.raises(ValueError, match="Run k-means first"):
        session.hidden()
    src = Source.from_layers([layer])
    written = session.set_result(nks.segment(src.data, 3, seed=0), src, code="x = 1")
    assert names(viewer) == ["img", "img recolored", "img clusters"]  # overlay on top
    assert written[0] is session.clusters and session.code == "x = 1"
    session.set_visible({2: False})
    session.rename(1, "sky")
    session.merge([2, 3])
    session.undo()
    assert seen == ["result", "visibility", "names", "merge", "undo"]


def test_a_persons_layer_names_do_not_pile_up_outputs(viewer):
    """A person's layers named like the outputs stay theirs, and every Run, hide and preview
    updates the plugin's one "(1)" layer of each kind instead of adding another "(n)"."""
    layer = viewer.add_image(data.astronaut()[::8, ::8], name="img")
    for kind in ("clusters", "masked", "preview"):
        viewer.add_labels(np.zeros((4, 4), np.uint8), name=f"img {kind}")
    src = Source.from_layers([layer])
    session = ClusterSession(viewer, layer)
    seg = nks.segment(src.data, 3, seed=0)
    for _ in range(3):
        session.set_result(seg, src)
        session.set_visible({1: False})
        session.set_visible({1: True, 2: False})
        session.write_preview(seg.labels, src, np.ones((3, 4)), src.scale, src.translate)
    assert sorted(n for n in names(viewer) if "(" in n) == [
        "img clusters (1)",
        "img masked (1)",
        "img preview (1)",
    ]
    assert len(viewer.layers) == 8
    assert not viewer.layers["img clusters"].data.any()  # the person's layers untouched


def test_merge_writes_the_plugins_own_layer_not_an_edited_one(viewer):
    """Regression: after a Run kept an edited recoloured layer and wrote to
    "... (1)", merge wrote into the edited layer (outputs were found by name)."""
    session, src, _ = start(viewer)
    edited = viewer.layers["img recolored"]
    edited.data[:5, :5] = 0  # the person paints on the recoloured image
    kept = edited.data.copy()
    session.set_result(nks.segment(src.data, 3, seed=1), src)
    assert "img recolored (1)" in viewer.layers
    ours = viewer.layers["img recolored (1)"]
    session.merge([1, 2])
    assert np.array_equal(edited.data, kept)
    assert np.array_equal(ours.data, session.seg.recolored)
    edited.name = "mine"  # names do not matter: the session holds its layers
    session.undo()
    assert np.array_equal(ours.data, session.seg.recolored)
    assert np.array_equal(viewer.layers["mine"].data, kept)


def test_renamed_output_is_still_updated_in_place(viewer):
    session, src, _ = start(viewer)
    clusters = session.clusters
    clusters.name = "my clusters"
    n = len(viewer.layers)
    session.set_result(nks.segment(src.data, 4, seed=0), src)
    assert len(viewer.layers) == n and session.clusters is clusters
    assert clusters.name == "my clusters" and clusters.data.max() == 4


def test_edited_clusters_layer_is_left_alone_by_merge(viewer):
    session, src, _ = start(viewer)
    painted = session.clusters
    painted.data[:3, :3] = 1
    kept = painted.data.copy()
    session.merge([2, 3])
    assert np.array_equal(painted.data, kept)
    assert session.clusters is viewer.layers["img clusters (1)"]
    assert set(np.unique(session.clusters.data)) == {1, 2}


def test_bad_requests_change_nothing(viewer):
    session, src, _ = start(viewer)
    before = {ly.name: ly.data for ly in viewer.layers}
    cmap = session.clusters.colormap
    for call, match in (
        (lambda: session.merge([1]), "at least two"),
        (lambda: session.merge([1, 9]), "No cluster 9"),
        (lambda: session.set_visible({9: False}), "No cluster 9"),
        (lambda: session.extract(9), "No cluster 9"),
        (session.undo, "Nothing to undo"),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    assert {ly.name: ly.data for ly in viewer.layers} == before  # the same arrays
    assert session.clusters.colormap is cmap and not session.can_undo


def test_undo_restores_colors_and_visibility_and_keeps_new_names(viewer):
    session, src, _ = start(viewer)
    session.set_visible({3: False})
    cmap_before = session.clusters.colormap.map(np.array([1, 2, 3], np.uint8))
    session.merge([1, 3])
    assert session.hidden() == []  # 3 merged into the visible 1
    session.rename(1, "sky")
    session.undo()
    assert session.hidden() == [3]
    assert np.allclose(session.clusters.colormap.map(np.array([1, 2, 3], np.uint8)), cmap_before)
    assert session.names() == {1: "sky", 2: "cluster 2", 3: "cluster 3"}
    masked = viewer.layers["img masked"].data
    assert (masked[session.clusters.data == 3] == 0).all()


def test_the_session_keeps_the_result_in_memory_not_json(viewer):
    session, src, _ = start(viewer)
    md = session.clusters.metadata["napari_kmeans_segment"]
    assert "model" not in md and md["params"]["seed_used"] == 0
    unmerged = session.model.apply(src.data).labels
    merged = session.merge([1, 2])
    assert session.seg is merged and merged.label_map is not None
    # the model of the merged result writes the merged classes
    assert np.array_equal(session.model.apply(src.data).labels, np.where(unmerged == 2, 1, unmerged))


def test_removed_clusters_layer(viewer):
    session, src, _ = start(viewer)
    viewer.layers.remove(session.clusters)
    with pytest.raises(ValueError, match="removed"):
        session.merge([1, 2])
    session.set_result(nks.segment(src.data, 3, seed=0), src)  # a Run makes it again
    assert "img clusters" in viewer.layers and session.clusters is not None


def _clusters_output(data, scale):
    meta = {"name": "img clusters", "scale": scale, "metadata": {MARK: {"kind": "clusters"}}}
    return Output("clusters", data, meta, "labels")


def test_the_clusters_layer_takes_new_levels_in_place(viewer):
    """A merge on a multiscale result updates its clusters layer in place (napari < 0.7.1's
    Labels data setter failed on a list of levels: "'list' object has no attribute 'shape'")."""
    slots = LayerSlots(viewer)
    levels = [np.zeros((32, 32), np.uint8), np.zeros((16, 16), np.uint8)]
    layer, _ = slots.write(_clusters_output(levels, (1.0, 1.0)))
    new = [np.full((32, 32), 2, np.uint8), np.full((16, 16), 3, np.uint8)]
    again, note = slots.write(_clusters_output(new, (1.0, 1.0)))
    assert again is layer and note is None and names(viewer) == ["img clusters"]
    assert layer.multiscale and [np.asarray(lv).max() for lv in layer.data] == [2, 3]
    assert [tuple(lv.shape) for lv in layer.data] == [(32, 32), (16, 16)]
    assert np.allclose(layer.extent.data, [[0, 0], [31, 31]])


def test_the_clusters_layer_takes_a_result_with_other_axes_in_place(viewer):
    """A (3, Y, X) stack run as a volume, then again with its channel axis: the clusters layer
    goes from 3 axes to 2 (and back) in place, and its transforms follow (napari < 0.7.1's
    Labels data setter kept the old transforms, so drawing it failed on a 3x3 against a 4x4 matrix)."""
    slots = LayerSlots(viewer)
    layer, _ = slots.write(_clusters_output(np.ones((3, 32, 32), np.uint8), (1.0, 2.0, 2.0)))
    again, _ = slots.write(_clusters_output(np.full((32, 32), 2, np.uint8), (2.0, 2.0)))
    assert again is layer and layer.ndim == 2 and tuple(layer.scale) == (2.0, 2.0)
    assert np.allclose(layer.extent.world, [[0, 0], [62, 62]])
    assert viewer.dims.ndim == 2
    slots.write(_clusters_output(np.ones((3, 32, 32), np.uint8), (1.0, 2.0, 2.0)))  # and back
    assert layer.ndim == 3 and tuple(layer.scale) == (1.0, 2.0, 2.0) and viewer.dims.ndim == 3
