"""The dock widget in a real napari viewer: press Run, check the layers."""

import numpy as np
import pytest
from conftest import blocks_image, same_partition
from skimage import data

import napari_kmeans_segment as nks
from napari_kmeans_segment._session.layers import MARK

PLUGIN = "napari-kmeans-segment"


@pytest.fixture
def viewer_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    return viewer, widget


def run_and_wait(qtbot, widget, timeout=30_000):
    """Press Run and wait until the widget has handled the result (or the error).

    Polls the widget rather than the worker's ``finished`` signal: a quick worker can emit
    it before a test could connect to it."""
    worker = widget.run()
    assert worker is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)
    return worker


def test_run_makes_two_layers_with_source_transform(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    img = data.coffee()
    src = viewer.add_image(img, name="coffee", scale=(2, 3), translate=(5, 7))
    before = img.copy()
    assert widget["image_layer"].value is src  # defaults to the active image layer
    widget["n_clusters"].value = 4
    widget["seed"].value = 3
    assert widget.run_button.text == "Run"
    run_and_wait(qtbot, widget)
    labels = viewer.layers["coffee clusters"]
    rec = viewer.layers["coffee recolored"]
    assert labels.data.shape == img.shape[:2] and labels.data.dtype == np.uint8
    assert set(np.unique(labels.data)) == {1, 2, 3, 4}
    assert rec.rgb and rec.data.shape == img.shape
    for ly in (labels, rec):
        assert tuple(ly.scale) == (2, 3) and tuple(ly.translate) == (5, 7)
    assert list(labels.features["index"]) == [1, 2, 3, 4]
    assert labels.features["count"].sum() == img.shape[0] * img.shape[1]
    for lab in range(1, 5):  # opaque centre colours
        assert labels.colormap.color_dict[lab][3] == 1.0
    assert labels.metadata[MARK]["params"]["seed_used"] == 3
    assert np.array_equal(src.data, before)
    # the widget's result equals the core's
    import napari_kmeans_segment as nks

    seg = nks.segment(img, 4, seed=3)
    assert np.array_equal(seg.labels, labels.data)


def test_second_run_updates_in_place(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(data.coffee()[::2, ::2], name="coffee")
    run_and_wait(qtbot, widget)
    n = len(viewer.layers)
    first = viewer.layers["coffee clusters"]
    widget["n_clusters"].value = 5
    run_and_wait(qtbot, widget)
    assert len(viewer.layers) == n
    assert viewer.layers["coffee clusters"] is first
    assert first.data.max() == 5


def test_edited_clusters_layer_is_not_overwritten(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(data.coffee()[::2, ::2], name="coffee")
    run_and_wait(qtbot, widget)
    painted = viewer.layers["coffee clusters"]
    painted.data[:10, :10] = 2  # the person paints
    kept = painted.data.copy()
    run_and_wait(qtbot, widget)
    assert np.array_equal(painted.data, kept)
    assert "coffee clusters (1)" in viewer.layers


def test_layer_of_same_name_not_ours_is_kept(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(data.coffee()[::2, ::2], name="coffee")
    mine = viewer.add_labels(np.zeros((200, 300), np.uint8), name="coffee clusters")
    run_and_wait(qtbot, widget)
    assert not mine.data.any()
    assert "coffee clusters (1)" in viewer.layers


def test_no_image_layer_gives_a_message_and_adds_nothing(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    errors = []
    from napari.utils.notifications import notification_manager

    notification_manager.notification_ready.connect(lambda n: errors.append(str(n.message)))
    assert widget.run() is None
    assert len(viewer.layers) == 0
    assert any("No image layer" in m for m in errors)


def test_k_larger_than_distinct_colors_reports_and_adds_nothing(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, 20:] = 200
    viewer.add_image(img, name="two", rgb=True)
    widget["n_clusters"].value = 5
    msgs = []
    from napari.utils.notifications import notification_manager

    notification_manager.notification_ready.connect(lambda n: msgs.append(str(n.message)))
    run_and_wait(qtbot, widget)
    qtbot.waitUntil(lambda: any("distinct" in m for m in msgs), timeout=5000)
    assert [ly.name for ly in viewer.layers] == ["two"]


def test_cancel_adds_nothing_and_run_is_disabled_meanwhile(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(data.astronaut(), name="astro")
    widget["mode"].value = "exact"
    widget["n_clusters"].value = 8
    assert widget.run() is not None
    assert not widget.run_button.enabled and widget.cancel_button.enabled
    assert widget.run() is None  # a second click while running does nothing
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.busy, timeout=10_000)
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=5000)
    assert [ly.name for ly in viewer.layers] == ["astro"]


def test_source_removed_during_run_discards_result(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(data.astronaut(), name="astro")
    widget["mode"].value = "exact"
    assert widget.run() is not None
    viewer.layers.remove("astro")
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert len(viewer.layers) == 0


def test_event_loop_runs_while_the_fit_computes(viewer_widget, qtbot, monkeypatch):
    """Run computes off the main thread: while cv2.kmeans is working, napari's event loop
    keeps handling events (a timer of the window fires before the fit returns)."""
    import threading

    import cv2
    from qtpy.QtCore import QTimer

    viewer, widget = viewer_widget
    viewer.add_image(data.astronaut(), name="astro")
    widget["mode"].value = "exact"
    widget["n_clusters"].value = 6
    fitting, ticked, seen = threading.Event(), threading.Event(), {}
    real = cv2.kmeans

    def kmeans(*args, **kwargs):
        seen.setdefault("thread", threading.get_ident())
        fitting.set()
        # held here until the main thread's timer has fired during the fit (or 60 s passed)
        seen.setdefault("loop ran during the fit", ticked.wait(60))
        return real(*args, **kwargs)

    monkeypatch.setattr(cv2, "kmeans", kmeans)
    timer = QTimer()
    timer.timeout.connect(lambda: fitting.is_set() and ticked.set())
    timer.start(20)
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=180_000)
    timer.stop()
    assert seen["thread"] != threading.get_ident()
    assert seen["loop ran during the fit"]
    assert "astro clusters" in viewer.layers


def test_grayscale_and_stack(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    # a 16-bit "z-stack" of a real micrograph-like photo (coins), with intensity drift
    stack = np.stack([data.coins().astype(np.uint16) * (200 + 20 * z) for z in range(4)])
    viewer.add_image(stack, name="nuclei", scale=(0.29, 0.52, 0.52))
    widget["n_clusters"].value = 3
    run_and_wait(qtbot, widget)
    lab = viewer.layers["nuclei clusters"]
    assert lab.data.shape == stack.shape
    assert tuple(lab.scale) == pytest.approx((0.29, 0.52, 0.52))
    assert viewer.layers["nuclei recolored"].data.dtype == np.uint16


def test_three_channel_layers_segment_together(viewer_widget, qtbot):
    """A 16-bit three-channel z-stack opened as three layers, segmented in one Run."""
    viewer, widget = viewer_widget
    rgb, truth = blocks_image()
    chans = [np.stack([rgb[..., i].astype(np.uint16) * (200 + 10 * z) for z in range(4)]) for i in range(3)]
    for i, ch in enumerate(chans):
        viewer.add_image(
            ch,
            name=f"ch{i}",
            scale=(2.0, 0.5, 0.5),
            colormap=["red", "green", "blue"][i],
            blending="additive",
        )
    widget["image_layer"].value = viewer.layers["ch0"]
    widget["channel_layers"].reset_choices()
    widget["channel_layers"].value = [viewer.layers["ch1"], viewer.layers["ch2"]]
    run_and_wait(qtbot, widget)
    lab = viewer.layers["ch0 clusters"]
    assert lab.data.shape == chans[0].shape and tuple(lab.scale) == (2.0, 0.5, 0.5)
    assert same_partition(lab.data, np.broadcast_to(truth, lab.data.shape))
    rec = viewer.layers["ch0 recolored (ch2)"]
    assert rec.data.shape == chans[2].shape and rec.data.dtype == np.uint16
    assert {"center_ch0", "center_ch1", "center_ch2"} <= set(lab.features.columns)


def test_mask_layer_restricts_clustering(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    img, _ = blocks_image()
    viewer.add_image(img, name="bands")
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[10:40, 10:80] = 1
    viewer.add_labels(mask, name="roi")
    widget["image_layer"].value = viewer.layers["bands"]
    widget["mask_layer"].reset_choices()
    widget["mask_layer"].value = viewer.layers["roi"]
    run_and_wait(qtbot, widget)
    lab = viewer.layers["bands clusters"].data
    assert (lab[mask == 0] == 0).all() and (lab[mask == 1] > 0).all()


def test_dask_image_gives_lazy_layers(viewer_widget, qtbot):
    import dask.array as da

    viewer, widget = viewer_widget
    img = da.from_array(data.coffee(), chunks=(100, 150, 3))
    viewer.add_image(img, name="lazy", rgb=True)
    run_and_wait(qtbot, widget)
    assert isinstance(viewer.layers["lazy clusters"].data, da.Array)


def test_suggest_k_offers_k_and_sets_it_only_when_asked(viewer_widget, qtbot):
    """Regression: Suggest K changed K behind the person's back."""
    viewer, widget = viewer_widget
    img, _ = blocks_image(
        shape=(80, 120), colors=((20, 20, 200), (220, 30, 30), (30, 200, 40), (230, 230, 230))
    )
    viewer.add_image(img, name="four", rgb=True)
    widget["n_clusters"].value = 6
    assert widget.suggest_k(k_range=range(2, 8)) is not None
    qtbot.waitUntil(lambda: not widget.use_k_button.native.isHidden(), timeout=60_000)
    assert widget["n_clusters"].value == 6  # unchanged until the person asks
    assert widget.use_k_button.text == "use K = 4"
    widget.use_k_button.native.click()
    assert widget["n_clusters"].value == 4
    plot = widget.suggest_plot  # matplotlib, in the dock above the verdict
    assert not plot.isHidden() and not widget.suggest_box.native.isHidden()
    drawn = plot.drawn()
    assert drawn["ks"] == list(range(2, 8)) and drawn["marked_k"] == 4
    assert int(np.argmax(drawn["silhouette"])) == 2  # K = 4 is the third point of 2..7
    assert np.all(np.diff(drawn["compactness"]) <= 1e-9)  # compactness falls with K
    assert "K = 4" in widget.suggest_result.value  # the verdict, in words
    assert widget.status.value == "K set to 4; press Run."
    img = plot.grab().toImage()  # it paints without error
    assert img.width() > 0


def test_suggest_k_reports_progress_and_can_be_cancelled(viewer_widget, qtbot):
    """Suggest K runs through the dock's one job helper: a progress bar, Cancel, and a
    cancelled search changes neither K nor the plot."""
    viewer, widget = viewer_widget
    viewer.add_image(data.astronaut(), name="astro")
    widget["n_clusters"].value = 5
    widget["attempts"].value = 30  # slow enough to cancel
    assert widget.suggest_k() is not None
    assert widget.cancel_button.enabled and not widget.run_button.enabled
    assert widget.status.value == "Trying K = 2 to 10…"
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    qtbot.waitUntil(lambda: "cancelled" in widget.status.value, timeout=5000)
    assert widget.status.value == "Suggest K cancelled; K was not changed."
    assert widget["n_clusters"].value == 5 and widget.suggested_k is None
    assert widget.use_k_button.native.isHidden()


def test_live_preview_follows_parameters(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(data.coffee(), name="coffee")
    widget["live_preview"].value = True
    qtbot.waitUntil(lambda: "coffee preview" in viewer.layers, timeout=15_000)
    widget["n_clusters"].value = 6
    qtbot.waitUntil(lambda: viewer.layers["coffee preview"].data.max() == 6, timeout=15_000)
    assert "coffee clusters" not in viewer.layers


def test_closing_the_viewer_mid_run(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(data.astronaut(), name="astro")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["mode"].value = "exact"
    widget["n_clusters"].value = 8
    worker = widget.run()
    finished = []
    worker.finished.connect(lambda: finished.append(1))  # an exact K=8 run takes seconds
    viewer.close()
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)  # cancelled, not run to the end


def test_switching_layers_during_a_run_writes_to_the_layer_that_was_run(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(data.coffee(), name="coffee")
    other = viewer.add_image(data.chelsea(), name="cat")
    widget["image_layer"].value = viewer.layers["coffee"]
    assert widget.run() is not None
    widget["image_layer"].value = other
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert "coffee clusters" in viewer.layers and "cat clusters" not in viewer.layers
    assert viewer.layers["coffee clusters"].data.shape == data.coffee().shape[:2]


def test_multiscale_layer_gives_multiscale_outputs(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    img = data.astronaut()
    viewer.add_image([img, img[::2, ::2], img[::4, ::4]], name="pyramid", rgb=True)
    run_and_wait(qtbot, widget)
    lab = viewer.layers["pyramid clusters"]
    assert lab.multiscale and len(lab.data) == 3
    assert lab.data[0].shape == img.shape[:2]
    assert np.asarray(lab.data[2]).max() == 3


def test_apply_model_labels_dask_and_multiscale_layers_as_the_numpy_image(viewer_widget, qtbot):
    """The dock's 'apply model' on a lazy and on a multiscale layer gives, level by level,
    the labels the model gives the image in memory."""
    import dask.array as da

    viewer, widget = viewer_widget
    img = data.astronaut()
    model = nks.segment(img, 3, seed=0).model
    viewer.add_image(da.from_array(img, chunks=(128, 128, 3)), name="lazy", rgb=True)
    viewer.add_image([img, img[::2, ::2], img[::4, ::4]], name="pyramid", rgb=True)
    for name in ("lazy", "pyramid"):
        assert widget.apply_model(viewer.layers[name], model) is not None
        qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert isinstance(viewer.layers["lazy clusters"].data, da.Array)
    assert np.array_equal(np.asarray(viewer.layers["lazy clusters"].data), model.apply(img).labels)
    pyramid = viewer.layers["pyramid clusters"]
    assert pyramid.multiscale and len(pyramid.data) == 3
    for level, step in zip(pyramid.data, (1, 2, 4)):
        assert np.array_equal(np.asarray(level), model.apply(img[::step, ::step]).labels)


def test_suggest_k_runs_through_the_job_helper_and_cancels(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(data.astronaut(), name="astro")
    assert widget.suggest_k(k_range=range(2, 12)) is not None
    assert widget.busy and not widget.run_button.enabled and widget.cancel_button.enabled
    assert widget.run() is None  # one main job at a time
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert widget.suggested_k is None and widget.use_k_button.native.isHidden()
    assert widget.run_button.enabled and [ly.name for ly in viewer.layers] == ["astro"]


def test_panel_follows_the_selected_clusters_layer(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(data.astronaut()[::8, ::8], name="astro")
    viewer.add_image(data.camera()[::8, ::8], name="camera")
    for name, k in (("astro", 3), ("camera", 4)):
        widget["image_layer"].value = viewer.layers[name]
        widget["n_clusters"].value = k
        run_and_wait(qtbot, widget)
    assert widget.clusters_layer is viewer.layers["camera clusters"]
    assert len(widget.panel.rows()) == 4
    viewer.layers.selection.active = viewer.layers["astro clusters"]
    assert widget.clusters_layer is viewer.layers["astro clusters"]
    assert len(widget.panel.rows()) == 3
    widget.set_cluster_visible(1, False)  # the console acts on what the panel shows
    assert widget.hidden_clusters() == [1] and "astro masked" in viewer.layers
    viewer.layers.remove("astro")  # its session goes with the source
    assert widget.clusters_layer is None and widget.panel.rows() == []


def test_layers_read_through_naparis_plugin_proxy_are_the_same_layers(viewer_widget, qtbot):
    """napari hands the widget a proxy of the viewer: a layer picked through it (the active
    layer) and the layer itself must give one session and update the same outputs."""
    viewer, widget = viewer_widget
    viewer.add_image(data.astronaut()[::8, ::8], name="astro")
    run_and_wait(qtbot, widget)
    n = len(viewer.layers)
    proxy = widget.viewer.layers["astro"]
    assert proxy is not viewer.layers["astro"]  # what a console script on the widget gets
    assert widget.apply_model(proxy) is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert len(viewer.layers) == n and len(widget.sessions) == 1
