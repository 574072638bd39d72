"""Stains and measuring in a real viewer: hed in the dock, background and tissue in the panel, measured
objects, the uncertainty map, and warnings from the background jobs as notifications."""

import csv

import numpy as np
import pytest
from napari.utils.notifications import notification_manager
from qtpy.QtCore import Qt
from skimage import data
from skimage.measure import regionprops_table

import napari_kmeans_segment as nks

PLUGIN = "napari-kmeans-segment"
MARK_COLUMN = 1  # the background tick box, after the label column


@pytest.fixture
def dock(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(data.immunohistochemistry(), name="ihc")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["seed"].value = 0
    return viewer, widget


@pytest.fixture
def notes():
    got = []

    def keep(n):
        got.append(str(n.message))

    notification_manager.notification_ready.connect(keep)
    yield got
    notification_manager.notification_ready.disconnect(keep)


def run(qtbot, widget):
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)


def hed_run(qtbot, widget, k=3, tissue=True):
    """A Run in stain densities; ``tissue=False`` clusters every pixel (the glass is then a
    cluster named background)."""
    widget["n_clusters"].value = k
    widget["color_space"].value = "hed"
    widget["tissue"].value = tissue
    run(qtbot, widget)


def breaks_inside(label, start, length):
    """Widths (px, 120-600) at which ``label``'s word wrap breaks a line inside
    ``text[start:start + length]``, laid out with its font as the QLabel does."""
    from qtpy.QtGui import QTextLayout, QTextOption

    text = label.text()
    found = []
    for width in range(120, 601, 4):
        layout = QTextLayout(text, label.font())
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap)
        layout.setTextOption(option)
        layout.beginLayout()
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            end = line.textStart() + line.textLength()
            if start < end < start + length:
                found.append(width)
        layout.endLayout()
    return found


def label_of(layer, name):
    f = layer.features
    return int(f.loc[f["name"] == name, "index"].item())


def test_hed_in_the_dock_names_clusters_by_stain(dock, qtbot):
    viewer, widget = dock
    vectors = widget["stain_vectors"]
    shown = lambda: not vectors.native.isHidden()  # noqa: E731 - its section may be folded
    assert not shown()  # only with hed
    assert "stain" in widget["color_space"].tooltip and "H-DAB" in widget["color_space"].tooltip
    hed_run(qtbot, widget)
    assert shown() and vectors.value == "fixed"
    clusters = viewer.layers["ihc clusters"]
    # the glass is label 0 (told by optical density), the clusters are stains of the tissue
    names = ["DAB", "haematoxylin", "haematoxylin 2"]
    assert sorted(clusters.features["name"]) == names
    assert sorted(r["name"] for r in widget.panel.rows()) == names
    assert (np.asarray(clusters.data) == 0).any()
    assert "color_space='hed'" in widget.python_code()
    widget.rename_cluster(label_of(clusters, "DAB"), "positive")  # still editable
    assert "positive" in set(clusters.features["name"])
    vectors.value = "macenko"
    run(qtbot, widget)
    assert clusters.metadata["napari_kmeans_segment"]["params"]["stain_vectors"] == "macenko"
    assert "stain_vectors='macenko'" in widget.python_code()
    widget["color_space"].value = "lab"
    assert not shown() and widget.run_options().stain_vectors == "fixed"  # hidden: not used


def test_panel_reports_areas_and_share_of_tissue(dock, qtbot):
    viewer, widget = dock
    viewer.layers["ihc"].scale = (0.5, 0.5)
    viewer.layers["ihc"].units = ("um", "um")
    hed_run(qtbot, widget, tissue=False)
    clusters = viewer.layers["ihc clusters"]
    lab = np.asarray(clusters.data)
    measure = widget.panel.measure
    rows = {r["label"]: r for r in measure.rows()}
    bg = label_of(clusters, "background")
    assert widget.background_clusters() == [bg] and rows[bg]["background"]
    tissue = np.count_nonzero(lab != bg)
    for lab_id, r in rows.items():
        n = np.count_nonzero(lab == lab_id)
        assert r["pixels"] == n
        assert r["area"] == pytest.approx(0.25 * n, rel=1e-3)
        assert r["share"] == pytest.approx(100 * n / lab.size, abs=0.01)
        if lab_id == bg:
            assert np.isnan(r["tissue_share"])
        else:
            assert r["tissue_share"] == pytest.approx(100 * n / tissue, abs=0.01)
    header = measure.table.horizontalHeaderItem(MARK_COLUMN + 2).text()
    assert header == "area (µm^2)"
    assert "Tissue: " in measure.summary.text() and "'background'" in measure.summary.text()
    # unticking background in the panel: the tissue is the whole image
    measure.set_expanded(True)
    row = next(
        r
        for r in range(measure.table.rowCount())
        if measure.table.item(r, MARK_COLUMN).data(Qt.ItemDataRole.UserRole) == bg
    )
    measure.table.item(row, MARK_COLUMN).setCheckState(Qt.CheckState.Unchecked)
    assert widget.background_clusters() == []
    f = clusters.features
    np.testing.assert_allclose(f["tissue_share"], f["area_px"] / lab.size)
    # and from the console
    dab = label_of(clusters, "DAB")
    widget.set_background([bg, dab])
    assert {r["label"] for r in measure.rows() if r["background"]} == {bg, dab}
    (h,) = set(rows) - {bg, dab}
    assert {r["label"]: r for r in measure.rows()}[h]["tissue_share"] == pytest.approx(100)


def select_for_objects(viewer, widget, name):
    """Select the row of the cluster called ``name`` and tick "as objects": (panel, label)."""
    label = label_of(viewer.layers["ihc clusters"], name)
    panel = widget.panel
    row = next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 2).text() == str(label))
    panel.table.selectRow(row)
    panel.objects.setChecked(True)
    return panel, label


def test_extracted_objects_carry_their_measurements(dock, qtbot, tmp_path):
    viewer, widget = dock
    hed_run(qtbot, widget)
    panel, dab = select_for_objects(viewer, widget, "DAB")
    panel.min_size.setValue(30)
    panel.extract_btn.click()
    # measured in the background: the window is not frozen while it runs
    assert panel.measure.jobs.busy("objects")
    assert f"ihc cluster {dab} objects" not in viewer.layers
    qtbot.waitUntil(lambda: not panel.measure.jobs.busy("objects"), timeout=60_000)
    objects = viewer.layers[f"ihc cluster {dab} objects"]
    ref = regionprops_table(
        objects.data,
        intensity_image=viewer.layers["ihc"].data,
        properties=["label", "area", "centroid", "bbox", "intensity_mean"],
    )
    f = objects.features
    assert len(f) == len(ref["label"]) > 0
    np.testing.assert_array_equal(f["label"], ref["label"])
    np.testing.assert_array_equal(f["area_px"], ref["area"])
    for key in ("centroid-0", "centroid-1", "bbox-0", "bbox-1", "bbox-2", "bbox-3"):
        np.testing.assert_allclose(f[key], ref[key])
    for j, ch in enumerate("RGB"):
        np.testing.assert_allclose(f[f"mean_{ch}"], ref[f"intensity_mean-{j}"])
    assert set(f["cluster"]) == {dab}
    # napari shows the object's measurements in the status bar on hover
    where = tuple(np.argwhere(objects.data == 1)[0])
    status = objects.get_status(where)["coordinates"]
    assert f"area_px: {int(ref['area'][0])}" in status and "cluster_name: DAB" in status
    path = widget.export_objects(tmp_path / "objects.csv")
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    assert [int(r["label"]) for r in rows] == list(ref["label"])
    # several clusters at once, from the console
    h = label_of(viewer.layers["ihc clusters"], "haematoxylin")
    both = widget.extract_objects([dab, h], min_size=30)
    assert both.name == f"ihc cluster {min(dab, h)}+{max(dab, h)} objects"
    assert set(both.features["cluster"]) <= {dab, h}


def test_uncertainty_map_in_the_background(dock, qtbot):
    viewer, widget = dock
    hed_run(qtbot, widget)
    measure = widget.panel.measure
    assert widget.uncertainty_map("margin") is not None
    measure.start_uncertainty()  # pressing again cancels: nothing is added
    qtbot.waitUntil(lambda: not measure.jobs.busy("uncertainty"), timeout=30_000)
    assert "ihc uncertainty" not in viewer.layers
    measure.uncertainty_kind.setCurrentIndex(0)
    measure.uncertainty_btn.click()
    qtbot.waitUntil(lambda: not measure.jobs.busy("uncertainty"), timeout=30_000)
    layer = viewer.layers["ihc uncertainty"]
    names = [ly.name for ly in viewer.layers]
    # on top, shown and selected (it used to be hidden just above the image, under the overlay)
    assert names[-1] == "ihc uncertainty" and layer.visible
    assert viewer.layers.selection.active is layer
    seg = widget.session.seg
    np.testing.assert_allclose(layer.data, nks.distance_map(seg, viewer.layers["ihc"].data), rtol=1e-5)
    assert layer.metadata["napari_kmeans_segment"]["measure"] == "distance"


def test_warnings_of_a_job_become_notifications(dock, qtbot, notes):
    """Regression: napari's worker caught warnings.warn in Run/Apply and never showed them."""
    viewer, widget = dock
    hed_run(qtbot, widget)
    model = widget.current_model()
    viewer.add_image(data.coffee(), name="coffee")
    assert widget.apply_model(viewer.layers["coffee"], model) is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    qtbot.waitUntil(lambda: any("far from every cluster" in n for n in notes), timeout=5000)
    # the core's own warning: an image in another range than the model's
    viewer.add_image(data.immunohistochemistry() / 255.0, name="float ihc")
    assert widget.apply_model(viewer.layers["float ihc"], model) is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    qtbot.waitUntil(lambda: any("another range" in n for n in notes), timeout=5000)
    assert not any("far from every cluster" in n and "'ihc'" in n for n in notes)


def test_objects_measured_while_the_clusters_change_are_not_written(dock, qtbot):
    """A merge while the objects are measured in the background makes their result stale:
    nothing is written, and the person is told to extract again."""
    viewer, widget = dock
    hed_run(qtbot, widget)
    panel, dab = select_for_objects(viewer, widget, "DAB")
    panel.extract_btn.click()
    others = [lab for lab in widget.session.index() if lab != dab]
    widget.merge_clusters(others[:2])
    qtbot.waitUntil(lambda: not panel.measure.jobs.busy("objects"), timeout=60_000)
    assert not [ly.name for ly in viewer.layers if "objects" in ly.name]


@pytest.mark.parametrize(("seed", "layout"), [(0, "islands"), (2, "fragments")])
def test_dock_measures_tissue_and_dab_positivity_against_the_truth(
    make_napari_viewer, qtbot, notes, seed, layout
):
    """Run in the dock on a synthetic H-DAB slide with known truth: the measure section
    shows the tissue (pale stroma included) and glass, and the DAB-positive share of the
    tissue with its bins and H-score, within 3 and 4 points of the truth; the model applied
    to an overexposed scan of the slide warns in napari."""
    from napari_kmeans_segment._core.synthetic_slides import make_slide, rescan

    s = make_slide(seed, layout, shape=(384, 384))
    viewer = make_napari_viewer()
    viewer.add_image(s.image, name="slide")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-means segmentation")
    widget["seed"].value = 0
    hed_run(qtbot, widget)
    measure = widget.panel.measure
    got = measure.stain_numbers()
    assert got["tissue"] == pytest.approx(100 * s.tissue_share, abs=3)
    assert got["glass"] == pytest.approx(100 - got["tissue"])
    assert got["positive"] == pytest.approx(100 * s.positive_share, abs=4)
    assert got["weak"] + got["moderate"] + got["strong"] == pytest.approx(got["positive"])
    assert got["h_score"] == pytest.approx(got["weak"] + 2 * got["moderate"] + 3 * got["strong"])
    assert got["warnings"] == []
    text = measure.summary.text()
    assert "glass" in text and "label 0" in text and "DAB+" in text
    # "H-score" never breaks at its hyphen, nor before its number
    assert "H\N{NON-BREAKING HYPHEN}score\N{NO-BREAK SPACE}" in text and "H-score" not in text
    assert not breaks_inside(measure.summary, text.index("H\N{NON-BREAKING HYPHEN}score"), len("H-score 12"))
    tip = measure.summary.toolTip()
    assert "optical density" in tip
    # the DAB+ share is per pixel, not the DAB cluster's share: the tooltip says so
    assert "DAB+ is per pixel" in tip and "not the DAB cluster's share" in tip and "Report DAB+" in tip
    clusters = viewer.layers["slide clusters"]
    lab = np.asarray(clusters.data)
    assert (lab == 0).mean() == pytest.approx(got["glass"] / 100)
    assert clusters.metadata["napari_kmeans_segment"]["stains"]["h_score"] == pytest.approx(got["h_score"])
    # one model, another exposure: the same numbers; an overexposed one is flagged
    model = widget.current_model()
    viewer.add_image(rescan(s.image, 0.9), name="dark")
    assert widget.apply_model(viewer.layers["dark"], model) is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    dark = widget.session.measure.stains()
    assert abs(100 * dark.positive_share - got["positive"]) <= 2
    viewer.add_image(rescan(s.image, 1.15), name="over")
    assert widget.apply_model(viewer.layers["over"], model) is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    qtbot.waitUntil(lambda: any("'over'" in n and "full scale" in n for n in notes), timeout=5000)
    # marking a tissue cluster as background is questioned
    widget.set_background([1])
    qtbot.waitUntil(lambda: any("stained tissue" in n for n in notes), timeout=5000)
