"""The dock in a real napari viewer at the edges of what napari allows: a flipped or
zero-size axis, painting on the clusters layer, two docks on one viewer, cancelling the
measurement of hundreds of thousands of objects, a failure while writing a result, and
napari closing right after a Run."""

import contextlib
import sys
import threading

import numpy as np
import pytest
from napari.utils.notifications import notification_manager
from qtpy import sip
from skimage import data

import napari_kmeans_segment as nks
from napari_kmeans_segment._session.layers import MARK

PLUGIN = "napari-kmeans-segment"


@pytest.fixture
def notes():
    got = []

    def keep(n):
        got.append(str(n.message))

    notification_manager.notification_ready.connect(keep)
    yield got
    notification_manager.notification_ready.disconnect(keep)


@pytest.fixture
def dock(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["seed"].value = 0
    return viewer, widget


def run(qtbot, widget):
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)


# -- a flipped or zero-size axis ------------------------------------------------------------------
def test_a_flipped_axis_gives_outputs_over_the_source_and_true_areas(dock, qtbot, notes):
    viewer, widget = dock
    img = data.coffee()[::4, ::4]
    viewer.add_image(img, name="coffee", scale=(-2.0, 3.0), translate=(5.0, 7.0))
    run(qtbot, widget)
    clusters, recolored = viewer.layers["coffee clusters"], viewer.layers["coffee recolored"]
    for layer in (clusters, recolored):  # drawn over the source, flipped like it
        assert tuple(layer.scale) == (-2.0, 3.0) and tuple(layer.translate) == (5.0, 7.0)
    f = clusters.features
    assert f["area_px"].sum() == img.shape[0] * img.shape[1]
    np.testing.assert_allclose(f["area"], f["area_px"] * 6.0)  # |-2| x 3 per pixel
    assert "3 clusters in 'coffee clusters'" in widget.status.value
    objects = widget.extract_objects(1, min_size=5)
    assert tuple(objects.scale) == (-2.0, 3.0)
    np.testing.assert_allclose(objects.features["area"], objects.features["area_px"] * 6.0)
    assert (objects.features["area"] > 0).all()


def test_a_zero_scale_is_refused_before_any_work(dock, qtbot, notes):
    viewer, widget = dock
    src = viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    with contextlib.suppress(Exception):  # napari complains, but keeps the scale it was given
        src.scale = (0.0, 1.0)
    assert tuple(src.scale) == (0.0, 1.0)
    assert widget.run() is None  # nothing started
    assert [ly.name for ly in viewer.layers] == ["coffee"]
    assert any("scale" in n and "non-zero" in n for n in notes)
    assert "non-zero" in widget.status.value and not widget.busy


def test_a_failure_writing_the_result_is_reported_not_lost(dock, qtbot, notes, monkeypatch):
    """Whatever goes wrong after the work ends in a notification and a status that says so,
    never in an exception lost in Qt's event loop with the status stuck on 'Grouping…'."""
    from napari_kmeans_segment._session.session import ClusterSession

    def broken(*a, **kw):
        raise RuntimeError("the result could not be written")

    monkeypatch.setattr(ClusterSession, "set_result", broken)
    viewer, widget = dock
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    run(qtbot, widget)
    assert any("could not be written" in n for n in notes)
    assert "could not be written" in widget.status.value
    assert widget.run_button.enabled


# -- one guard for every action ------------------------------------------------------------------
def layer_state(viewer):
    """What a refused action must leave as it was: every layer's name, data, scale, visibility,
    and a labels layer's colours (cluster visibility) and features (cluster names)."""
    state = []
    for ly in viewer.layers:
        colors = getattr(getattr(ly, "colormap", None), "color_dict", None)
        features = getattr(ly, "features", None)
        state.append(
            (
                ly.name,
                np.asarray(ly.data).copy(),
                tuple(ly.scale),
                ly.visible,
                None if colors is None else {k: tuple(np.round(v, 6)) for k, v in colors.items()},
                None if features is None else features.to_dict("list"),
            )
        )
    return state


def assert_same_layers(before, after):
    assert [s[0] for s in after] == [s[0] for s in before]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a[1], b[1])
        assert a[2:] == b[2:], b[0]


def test_every_kind_of_action_refuses_bad_input_with_one_notification(
    dock, qtbot, notes, tmp_path, monkeypatch
):
    """A cluster action, a measure action and loading a damaged model file each end in one
    notification that says what to do, and no layer changes."""
    from qtpy.QtWidgets import QFileDialog

    viewer, widget = dock
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    run(qtbot, widget)
    before = layer_state(viewer)
    panel = widget.panel

    notes.clear()
    panel.table.clearSelection()
    panel.extract_btn.click()  # a cluster action with no cluster selected
    assert notes == ["Select exactly one cluster to extract."]
    assert_same_layers(before, layer_state(viewer))

    notes.clear()
    panel.measure.pixel_size.setValue(0.5)
    panel.measure.pixel_unit.setCurrentText("kg")  # a measure action with a unit that is no length
    panel.measure.pixel_set_btn.click()
    assert len(notes) == 1 and "'kg'" in notes[0] and "length" in notes[0]
    assert_same_layers(before, layer_state(viewer))

    notes.clear()
    bad = tmp_path / "damaged model.json"
    bad.write_text('{"format": "napari-kmeans-segment model", "centers": [[1, 2')
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), "JSON (*.json)"))
    panel.model_actions["load_model"].trigger()  # the model menu's "load model…"
    assert len(notes) == 1 and "unexpected" not in notes[0]
    assert widget.loaded_model is None and not panel.loaded_row.isVisibleTo(panel)
    assert_same_layers(before, layer_state(viewer))


def test_a_bug_in_an_action_is_told_as_unexpected_with_its_traceback_logged(dock, qtbot, notes, caplog):
    """An error the person cannot fix (a bug) is not lost in Qt's event loop and not dressed
    as bad input: one notification says the action failed unexpectedly, and the log keeps the
    traceback."""
    viewer, widget = dock
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    run(qtbot, widget)
    before = layer_state(viewer)

    def broken():
        raise KeyError("a bug")

    widget.session.invert = broken
    notes.clear()
    with caplog.at_level("ERROR"):
        widget.panel.invert_btn.click()
    assert len(notes) == 1 and "invert failed unexpectedly (KeyError" in notes[0]
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)
    assert_same_layers(before, layer_state(viewer))


# -- painting on the clusters layer ---------------------------------------------------------------
def test_painting_the_clusters_layer_leaves_the_result_and_undo_alone(dock, qtbot, notes):
    viewer, widget = dock
    img = data.coffee()[::4, ::4]
    viewer.add_image(img, name="coffee")
    widget["n_clusters"].value = 4
    run(qtbot, widget)
    truth = nks.segment(img, 4, seed=0)
    painted = viewer.layers["coffee clusters"]
    session = widget.session
    assert np.array_equal(session.seg.labels, truth.labels)
    assert not np.shares_memory(painted.data, session.seg.labels)
    painted.paint((20, 20), 3)  # the brush, as a person paints
    painted.data[:5, :5] = 2  # and the console
    strokes = painted.data.copy()
    assert not np.array_equal(strokes, truth.labels)
    assert np.array_equal(session.seg.labels, truth.labels)  # the result is untouched

    widget.merge_clusters([1, 2])
    assert np.array_equal(painted.data, strokes)  # the painted layer is kept as it is
    assert any("edited" in n for n in notes)
    merged = widget.clusters_layer
    assert merged is not painted and merged.name == "coffee clusters (1)"
    assert np.array_equal(merged.data, truth.merge([1, 2]).labels)  # no strokes carried
    counts = np.bincount(merged.data.ravel(), minlength=5)
    assert merged.features["count"].tolist() == counts[merged.features["index"]].tolist()

    widget.undo()
    assert np.array_equal(widget.clusters_layer.data, truth.labels)
    assert np.array_equal(painted.data, strokes)


# -- two docks on one viewer ----------------------------------------------------------------------
def test_two_docks_share_the_layers_of_an_image(dock, qtbot, notes):
    from napari_kmeans_segment._qt.dock import KMeansWidget

    viewer, first = dock
    coffee = viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    run(qtbot, first)
    layer = viewer.layers["coffee clusters"]
    second = KMeansWidget(viewer)
    viewer.window.add_dock_widget(second, name="second K-means")
    second["image_layer"].value = coffee
    second["n_clusters"].value = 4
    second["seed"].value = 0
    run(qtbot, second)
    assert viewer.layers["coffee clusters"] is layer and layer.data.max() == 4  # updated in place
    assert [ly.name for ly in viewer.layers].count("coffee clusters (1)") == 0
    assert not any("kept because" in n for n in notes)
    assert second.session is first.session
    assert len(first.panel.rows()) == 4  # the first dock shows what the second did
    second.merge_clusters([1, 2])
    assert len(first.panel.rows()) == 3
    first.undo()
    assert len(second.panel.rows()) == 4 and layer.data.max() == 4


def test_an_earlier_result_no_dock_holds_is_named_as_such(dock, qtbot, notes):
    viewer, widget = dock
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    earlier = viewer.add_labels(
        np.ones((100, 150), np.uint8),
        name="coffee clusters",
        metadata={MARK: {"kind": "clusters", "source": "coffee"}},
    )
    run(qtbot, widget)
    assert earlier.data.min() == 1 and earlier.data.max() == 1  # kept
    assert "coffee clusters (1)" in viewer.layers
    note = next(n for n in notes if "kept because" in n)
    assert "earlier result of this plugin" in note and "not made by this plugin" not in note


# -- cancelling the measurement of many objects -----------------------------------------------------
def lattice(n=200):
    """Single red pixels two apart on blue: n*n objects of one pixel (8-connected apart)."""
    img = np.zeros((2 * n, 2 * n, 3), np.uint8)
    img[...] = (20, 30, 200)
    img[::2, ::2] = (220, 30, 20)
    return img


@pytest.fixture
def lattice_dock(dock, qtbot):
    viewer, widget = dock
    viewer.add_image(lattice(), name="dots")
    widget["n_clusters"].value = 2
    run(qtbot, widget)
    f = viewer.layers["dots clusters"].features
    red = int(f.loc[f["center_R"] > 100, "index"].item())
    return viewer, widget, red


def test_cancel_stops_measuring_objects_and_adds_nothing(lattice_dock, qtbot, notes, monkeypatch):
    from napari_kmeans_segment._core.model import clusters

    viewer, widget, red = lattice_dock
    gate = threading.Event()
    member = clusters.member

    def gated(*a, **kw):  # the job waits here until Cancel was pressed
        gate.wait(30)
        return member(*a, **kw)

    monkeypatch.setattr(clusters, "member", gated)
    measure = widget.panel.measure
    assert measure.start_objects([red]) is not None
    measure.jobs.cancel("objects")  # the progress bar's Cancel
    gate.set()
    qtbot.waitUntil(lambda: measure.jobs.idle, timeout=60_000)
    # the job stopped itself (it used to measure every object, then drop the result)
    assert any("cancelled; nothing was added" in n for n in notes)
    assert "dots cluster 1 objects" not in viewer.layers and "dots cluster 2 objects" not in viewer.layers


# Python and C function calls between two polls of cancel: a few hundred per slab (and for
# pandas' table at the end), where one step per object would make at least 40 000
CALLS_BETWEEN_POLLS = 10_000
PIXELS_BETWEEN_POLLS = 1 << 23  # pixel values counted (np.bincount) between two polls


def test_measuring_objects_polls_cancel_with_bounded_work_between(lattice_dock, monkeypatch):
    """Structural, not timed: 40 000 objects are measured with a bounded amount of work
    between two polls of cancel (no Python step per object), and the numbers are right."""
    viewer, widget, red = lattice_dock
    compute, _ = widget.session.measure.objects_job([red])
    since = {"calls": 0, "pixels": 0}
    worst = {"calls": 0, "pixels": 0}
    polls = []
    bincount = np.bincount

    def counted(x, *a, **kw):
        since["pixels"] += int(np.size(x))
        return bincount(x, *a, **kw)

    def poll():
        for k in since:
            worst[k] = max(worst[k], since[k])
            since[k] = 0
        polls.append(1)
        return False

    def profile(frame, event, arg):
        if event in ("call", "c_call"):
            since["calls"] += 1

    monkeypatch.setattr(np, "bincount", counted)
    before = sys.getprofile()
    sys.setprofile(profile)
    try:
        objects, table = compute(None, poll)
    finally:
        sys.setprofile(before)
    for k in since:
        worst[k] = max(worst[k], since[k])
    assert len(polls) >= 3, f"cancel polled {len(polls)} times"
    assert worst["calls"] <= CALLS_BETWEEN_POLLS, f"{worst['calls']} calls between two polls"
    assert worst["pixels"] <= PIXELS_BETWEEN_POLLS
    # known answer: every red pixel is an object of one pixel, in raster order
    rows, cols = np.nonzero(objects)
    assert len(table) == 200 * 200 == objects.max()
    assert (rows % 2 == 0).all() and (cols % 2 == 0).all()
    assert (table["area_px"] == 1).all()
    np.testing.assert_array_equal(table["centroid-0"], np.repeat(np.arange(0, 400, 2), 200))
    np.testing.assert_array_equal(table["bbox-3"], np.tile(np.arange(1, 401, 2), 200))
    np.testing.assert_array_equal(table["mean_R"], 220.0)
    assert (table["cluster"] == red).all()


def test_a_scroll_queued_just_before_the_dock_closes_is_dropped(make_napari_viewer, qtbot):
    """What Run or a model scrolls into view once laid out is dropped when the dock closed
    first (closing napari right after a Run must not raise from the event loop)."""
    viewer = make_napari_viewer(show=True)
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    qtbot.wait(50)
    widget.reveal_later(widget.panel.table, widget.panel.heading)
    viewer.window.remove_dock_widget(dock)
    sip.delete(widget.native)  # napari closing: the C++ widgets go before the event loop returns
    qtbot.wait(100)


def test_extract_before_any_run_says_to_run_first(dock, notes):
    """ "extract" before any Run says what every other cluster button says ("Run k-means
    first"), not "select exactly one cluster" (there is no table to select in yet)."""
    viewer, widget = dock
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    widget.panel.extract_btn.click()
    assert notes == ["Run k-means first: there is no clusters layer yet."]
    assert [ly.name for ly in viewer.layers] == ["coffee"]
