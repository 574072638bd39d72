"""Counting nuclei in a real viewer: the measure section's source, 'split touching' and
'count objects', the count in sight, hover columns, words for fluorescence, colour spaces
that apply."""

import re

import numpy as np
import pytest

from napari_kmeans_segment._core.truth import match_objects, synthetic_nuclei

PLUGIN = "napari-kmeans-segment"


@pytest.fixture
def nuclei_dock(make_napari_viewer):
    viewer = make_napari_viewer()
    nu = synthetic_nuclei((256, 256), n=30, seed=2)
    viewer.add_image(nu.image, name="nuclei")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["seed"].value = 0
    widget["n_clusters"].value = 3
    return viewer, widget, nu


def run(qtbot, widget):
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)


def test_count_objects_shows_the_count_and_splits_touching_nuclei(nuclei_dock, qtbot):
    viewer, widget, nu = nuclei_dock
    run(qtbot, widget)
    measure = widget.panel.measure
    assert measure.source.currentData() == "all but darkest"
    assert measure.split.isChecked()
    assert not measure.counts.text()
    measure.count_btn.click()
    qtbot.waitUntil(lambda: not measure.jobs.busy("objects"), timeout=60_000)
    layer = [ly for ly in viewer.layers if ly.name.endswith("objects")][-1]
    n = len(layer.features)
    assert match_objects(layer.data, nu.truth).f1 > 0.8
    text = measure.counts.text()
    assert text.startswith(f"{n} objects, median area ")
    median = float(np.median(layer.features["area"]))
    assert f"{median:,.0f}" in text or f"{median:.3g}" in text
    assert measure.counts.isVisibleTo(widget.panel)  # shown with the section folded
    # hover: napari's status shows the columns in order; the important ones come first
    assert list(layer.features.columns[:4]) == ["index", "area", "area_unit", "cluster_name"]
    meta = layer.metadata["napari_kmeans_segment"]
    assert meta["split"] is True and meta["labels"] == [2, 3]


def test_count_without_split_merges_touching_nuclei(nuclei_dock, qtbot):
    viewer, widget, nu = nuclei_dock
    run(qtbot, widget)
    measure = widget.panel.measure
    counts = []
    for split in (False, True):
        measure.split.setChecked(split)
        measure.count_btn.click()
        qtbot.waitUntil(lambda: not measure.jobs.busy("objects"), timeout=60_000)
        layer = [ly for ly in viewer.layers if ly.name.endswith("objects")][-1]
        counts.append(len(layer.features))
    assert counts[0] < counts[1]


def test_fluorescence_speaks_of_foreground_not_tissue(nuclei_dock, qtbot):
    viewer, widget, _ = nuclei_dock
    run(qtbot, widget)
    measure = widget.panel.measure
    assert "tissue" not in measure.summary.text().lower()
    assert "foreground" in measure.summary.text()
    header = measure.table.horizontalHeaderItem(5)
    assert header is not None and header.text() == "% foreground"


def test_summary_names_the_counted_clusters_and_asks_to_open_measure_only_when_folded(nuclei_dock, qtbot):
    """K = 3, smoothing 1, objects from 'all but darkest': the summary says which clusters
    are counted (not "the foreground is the whole image"), and asks to open 'measure' only
    while it is folded."""
    viewer, widget, _ = nuclei_dock
    widget["smoothing"].value = 1
    run(qtbot, widget)
    measure = widget.panel.measure
    assert not measure.expanded
    folded = measure.summary.text()
    assert "in 'measure'" in folded and "Objects are counted in clusters 2 + 3 ('all but darkest')" in folded
    assert "whole image" not in folded
    measure.toggle.click()  # open the section
    assert measure.expanded
    opened = measure.summary.text()
    assert "'measure'" not in opened and "below" in opened and "clusters 2 + 3" in opened
    measure.source.setCurrentIndex(measure.source.findData("all but brightest"))
    assert "('all but brightest')" in measure.summary.text()
    measure.source.setCurrentIndex(measure.source.findData(None))  # the selected clusters
    assert "Objects are counted" not in measure.summary.text()
    measure.source.setCurrentIndex(measure.source.findData("all but darkest"))
    measure.count_btn.click()
    qtbot.waitUntil(lambda: not measure.jobs.busy("objects"), timeout=60_000)
    layer = [ly for ly in viewer.layers if ly.name.endswith("objects")][-1]
    assert layer.metadata["napari_kmeans_segment"]["labels"] == [2, 3]


def test_grayscale_image_is_not_offered_stain_color_spaces(nuclei_dock, qtbot):
    viewer, widget, _ = nuclei_dock
    assert list(widget["color_space"].choices) == ["rgb"]
    viewer.add_image(np.zeros((32, 32, 3), np.uint8), name="photo", rgb=True)
    widget["image_layer"].value = viewer.layers["photo"]
    assert "hed" in widget["color_space"].choices


def test_smoothing_in_the_dock_reaches_result_model_and_python(nuclei_dock, qtbot):
    viewer, widget, nu = nuclei_dock
    viewer.layers["nuclei"].scale = (0.5, 0.5)  # µm per pixel: smoothing 1 is 2 pixels
    widget["smoothing"].value = 1.0
    run(qtbot, widget)
    clusters = viewer.layers["nuclei clusters"]
    params = clusters.metadata["napari_kmeans_segment"]["params"]
    assert params["smoothing"] == 1.0 and params["smoothing_sigma"] == [2.0, 2.0]
    code = widget.python_code()
    assert "smoothing=1.0" in code and "scale=(0.5, 0.5)" in code
    import napari_kmeans_segment as nks

    again = nks.segment(nu.image, 3, seed=0, smoothing=1.0, scale=(0.5, 0.5))
    np.testing.assert_array_equal(np.asarray(clusters.data), again.labels)


def test_preview_keeps_the_smoothing_width_on_its_strided_copy(make_napari_viewer, qtbot):
    """The preview clusters every n-th pixel of a 1 MP image: smoothing 2 (pixels of the
    image) is 2/n pixels of the copy, the width a Run smooths the full image over."""
    from napari_kmeans_segment._qt.preview import downsample

    viewer = make_napari_viewer()
    nu = synthetic_nuclei((1024, 1024), n=200, seed=4)
    viewer.add_image(nu.image, name="big")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["seed"].value = 0
    widget["smoothing"].value = 2.0
    widget["live_preview"].value = True
    qtbot.waitUntil(lambda: "big preview" in viewer.layers, timeout=30_000)
    import napari_kmeans_segment as nks
    from napari_kmeans_segment._session.layers import Source

    data, step, _, _ = downsample(Source.from_layers([viewer.layers["big"]]))
    assert step[0] > 1
    want = nks.segment(data, 3, seed=0, smoothing=2.0, scale=tuple(float(s) for s in step))
    other = nks.segment(data, 3, seed=0, smoothing=2.0)  # 2 pixels of the copy: wider
    assert not np.array_equal(other.labels, want.labels)
    np.testing.assert_array_equal(np.asarray(viewer.layers["big preview"].data), want.labels)


def count_objects(qtbot, viewer, widget):
    measure = widget.panel.measure
    measure.count_btn.click()
    qtbot.waitUntil(lambda: not measure.jobs.busy("objects"), timeout=60_000)
    return [ly for ly in viewer.layers if ly.name.endswith("objects")][-1]


def relative_luminance(rgba):
    """WCAG relative luminance of sRGB colours (0 black .. 1 white)."""
    c = np.asarray(rgba, float)[..., :3]
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ [0.2126, 0.7152, 0.0722]


def test_hovering_a_cluster_or_an_object_reads_its_area_in_whole_pixels(nuclei_dock, qtbot):
    """napari's status bar printed the area of an image without a pixel size as a float
    ('area: 8.52e+04' on napari 0.9, 'area: 85187.0' before): it reads the whole number of
    pixels, equal to the pixel count."""
    viewer, widget, nu = nuclei_dock
    run(qtbot, widget)
    clusters = viewer.layers["nuclei clusters"]
    objects = count_objects(qtbot, viewer, widget)
    for layer in (clusters, objects):
        f = layer.features
        for label in f["index"][:3]:
            pos = tuple(int(v) for v in np.argwhere(np.asarray(layer.data) == label)[0])
            status = layer.get_status(pos, world=True)
            text = status["coordinates"] if isinstance(status, dict) else str(status)
            area = re.search(r"\barea: ([^,;]+)", text)
            assert area is not None, text
            pixels = int(f.loc[f["index"] == label, "area_px"].iloc[0])
            assert area.group(1) == str(pixels), text
            assert "e+" not in text


def test_objects_are_drawn_in_light_colors_that_show_over_the_clusters(nuclei_dock, qtbot):
    """napari's default label colours include near-black ones (navy, brown, deep purple) that
    vanished over the clusters overlay: every object is drawn in a light colour, its
    neighbours in label order in another one, and the background stays transparent."""
    viewer, widget, nu = nuclei_dock
    run(qtbot, widget)
    objects = count_objects(qtbot, viewer, widget)
    labels = np.arange(1, max(int(np.asarray(objects.data).max()), 60) + 1)
    rgba = np.asarray(objects.colormap.map(labels))
    assert (rgba[:, 3] == 1).all()
    assert relative_luminance(rgba).min() >= 0.35
    assert (np.abs(np.diff(rgba[:, :3], axis=0)).max(axis=1) > 0.1).all()
    assert np.asarray(objects.colormap.map(np.array([0])))[0, 3] == 0
