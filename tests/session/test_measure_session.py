"""Stains and measuring on the Qt-free session: stain names, background and tissue, measured objects,
uncertainty; on napari's ViewerModel (no window)."""

import csv
import warnings

import numpy as np
import pytest
from napari.components import ViewerModel
from skimage import data
from skimage.measure import regionprops_table

import napari_kmeans_segment as nks
from napari_kmeans_segment._session.layers import Source
from napari_kmeans_segment._session.measure import check_outliers, physical
from napari_kmeans_segment._session.session import ClusterSession


@pytest.fixture(scope="module")
def ihc():
    return data.immunohistochemistry()


@pytest.fixture(scope="module")
def ihc_seg(ihc):
    # every pixel clustered (no tissue detection): the glass is a cluster named background
    return nks.segment(ihc, 3, color_space="hed", seed=0, tissue=False)


def start(img, seg, **layer_kw):
    viewer = ViewerModel()
    layer = viewer.add_image(img, name="slide", **layer_kw)
    src = Source.from_layers([layer])
    session = ClusterSession(viewer, layer)
    session.set_result(seg, src)
    return viewer, session, src


def feature(layer, label, column):
    f = layer.features
    return f.loc[f["index"] == label, column].item()


def test_hed_result_is_named_by_stain_and_background_is_marked(ihc, ihc_seg):
    viewer, s, _ = start(ihc, ihc_seg)
    f = s.clusters.features
    assert sorted(f["name"]) == ["DAB", "background", "haematoxylin"]
    bg = int(f.loc[f["name"] == "background", "index"].item())
    assert s.measure.background() == [bg]
    assert list(f["background"]) == [int(i) == bg for i in f["index"]]


def test_share_of_tissue_equals_the_value_from_the_labels(ihc, ihc_seg):
    viewer, s, _ = start(ihc, ihc_seg)
    layer = s.clusters
    lab = np.asarray(layer.data)
    (bg,) = s.measure.background()
    tissue = np.count_nonzero((lab > 0) & (lab != bg))
    for i in s.index():
        expected = np.nan if i == bg else np.count_nonzero(lab == i) / tissue
        np.testing.assert_allclose(feature(layer, i, "tissue_share"), expected)
        assert feature(layer, i, "area_px") == np.count_nonzero(lab == i)
        assert feature(layer, i, "share") == pytest.approx(np.count_nonzero(lab == i) / lab.size)
    # marking another cluster changes the tissue and every share of it
    dab = int(layer.features.loc[layer.features["name"] == "DAB", "index"].item())
    s.measure.set_background([bg, dab])
    (h,) = set(s.index()) - {bg, dab}
    assert feature(layer, h, "tissue_share") == pytest.approx(1.0)
    assert np.isnan(feature(layer, dab, "tissue_share"))
    s.measure.set_background([])
    assert feature(layer, h, "tissue_share") == pytest.approx(np.count_nonzero(lab == h) / lab.size)


def test_physical_areas_from_the_layers_scale_and_units(ihc, ihc_seg):
    viewer, s, _ = start(ihc, ihc_seg, scale=(0.5, 0.5), units="um")
    f = s.clusters.features
    np.testing.assert_allclose(f["area"], f["area_px"] * 0.25)
    assert set(f["area_unit"]) == {"µm^2"}


def test_physical_units_rules():
    import pint

    u = pint.get_application_registry()
    px = u.pixel
    assert physical((1, 1), (px, px), 2) == (None, None)  # napari's defaults: pixels
    assert physical((2, 2), (px, px), 2) == ((2.0, 2.0), "unit")  # a scale without units
    scale, unit = physical((0.5, 500), (u.micrometer, u.nanometer), 2)
    assert unit == "µm" and scale == pytest.approx((0.5, 0.5))
    assert physical((1, 1), (u.micrometer, px), 2) == (None, None)  # not convertible
    assert physical((1, 0.5, 0.5), None, 2, channel_axis=0) == ((0.5, 0.5), "unit")
    assert physical((0.5, 0.5, 0.5), None, 2) == (None, None)  # does not match the labels


def test_bad_background_request_changes_nothing(ihc, ihc_seg):
    viewer, s, _ = start(ihc, ihc_seg)
    before = s.clusters.features.copy()
    with pytest.raises(ValueError, match="No cluster 9"):
        s.measure.set_background([9])
    assert s.clusters.features.equals(before)


def test_marks_survive_merge_and_undo_and_follow_the_console(blocks):
    img, _ = blocks
    seg = nks.segment(img, 3, seed=0)
    viewer, s, _ = start(img, seg)
    seen = []
    s.changed.connect(seen.append)
    s.measure.set_background([3])
    assert seen == ["background"]
    s.merge([1, 3])  # the merged cluster keeps label 1's mark (none)
    assert s.measure.background() == []
    s.undo()
    assert s.measure.background() == [3]
    s.merge([2, 3])
    s.measure.set_background([1])
    s.undo()  # a mark given since the merge is kept; the merged-away label gets its old one
    assert s.measure.background() == [1, 3]
    # the person edits the column from napari's console: the shares follow
    f = s.clusters.features.copy()
    f["background"] = [False, False, True]
    s.clusters.features = f
    assert s.measure.background() == [3]
    assert np.isnan(feature(s.clusters, 3, "tissue_share"))
    assert feature(s.clusters, 1, "tissue_share") + feature(s.clusters, 2, "tissue_share") == (
        pytest.approx(1.0)
    )


def test_object_features_equal_regionprops(ihc, ihc_seg, tmp_path):
    viewer, s, _ = start(ihc, ihc_seg, scale=(0.5, 0.5), units="um")
    f = s.clusters.features
    dab = int(f.loc[f["name"] == "DAB", "index"].item())
    objects = s.measure.extract_objects(dab, min_size=30)
    assert objects.name == f"slide cluster {dab} objects"
    assert tuple(objects.scale) == (0.5, 0.5)
    got = objects.features
    ref = regionprops_table(
        objects.data, intensity_image=ihc, properties=["label", "area", "centroid", "bbox", "intensity_mean"]
    )
    assert len(got) == len(ref["label"]) > 0
    np.testing.assert_array_equal(got["index"], ref["label"])
    np.testing.assert_array_equal(got["area_px"], ref["area"])
    np.testing.assert_allclose(got["area"], ref["area"] * 0.25)
    for key in ("centroid-0", "centroid-1", "bbox-0", "bbox-1", "bbox-2", "bbox-3"):
        np.testing.assert_allclose(got[key], ref[key])
    for j, ch in enumerate("RGB"):
        np.testing.assert_allclose(got[f"mean_{ch}"], ref[f"intensity_mean-{j}"])
    assert (got["area_px"] >= 30).all() and set(got["cluster"]) == {dab}
    assert set(got["cluster_name"]) == {"DAB"}
    # objects are the connected pieces of the cluster: each one inside it
    assert (np.asarray(s.clusters.data)[objects.data > 0] == dab).all()
    path = s.measure.export_objects(tmp_path / "objects.csv")
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    assert len(rows) == len(got)
    assert [float(r["area"]) for r in rows] == pytest.approx(list(got["area"]))
    assert rows[0]["area_unit"] == "µm^2"


def test_export_objects_needs_an_objects_layer(ihc, ihc_seg, tmp_path):
    viewer, s, _ = start(ihc, ihc_seg)
    with pytest.raises(ValueError, match="No objects layer yet"):
        s.measure.export_objects(tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()


def test_cluster_table_export_has_areas_and_tissue(ihc, ihc_seg, tmp_path):
    viewer, s, _ = start(ihc, ihc_seg)
    rows = list(csv.DictReader(open(s.export_table(tmp_path / "c.csv"), encoding="utf-8")))
    assert {"name", "background", "area_px", "area", "share", "tissue_share", "visible"} <= set(rows[0])
    assert sum(float(r["tissue_share"] or 0) for r in rows) == pytest.approx(1.0)


def test_cluster_table_export_carries_the_slides_numbers_as_the_command_line_names_them(ihc, tmp_path):
    """With tissue detection: the slide's tissue, glass, DAB bins, H-score, saturated pixels
    and warning on every row, under summary.csv's names; and the three shares differ: of
    the whole image (``share``, the glass counted), of the clustered pixels (``fraction``),
    of the clusters not marked background (``tissue_share``)."""
    from napari_kmeans_segment._cli.summary import STAIN_COLUMNS
    from napari_kmeans_segment._core.synthetic_slides import rescan

    bright = rescan(ihc, 1.08, truncate=True)  # the glass at full scale: a warning to carry
    seg = nks.segment(bright, 3, color_space="hed", seed=0)
    viewer, s, _ = start(bright, seg)
    s.measure.set_background([int(seg.index[0])])
    rows = list(csv.DictReader(open(s.export_table(tmp_path / "c.csv"), encoding="utf-8")))
    r = seg.stains
    assert len(rows) == len(seg.index) and r.warnings
    for row in rows:
        assert set(STAIN_COLUMNS) | {"tissue_px", "warning"} <= set(row)
        assert float(row["tissue_pct"]) == pytest.approx(100 * r.tissue_share)
        assert int(row["glass_px"]) == r.glass_px == np.count_nonzero(seg.labels == 0)
        assert float(row["positive_pct_of_tissue"]) == pytest.approx(100 * r.positive_share)
        assert float(row["h_score"]) == pytest.approx(r.h_score)
        assert int(row["saturated_px"]) == r.saturated_px
        assert "full scale" in row["warning"]
    n = np.array([np.count_nonzero(seg.labels == i) for i in seg.index])
    np.testing.assert_allclose([float(x["share"]) for x in rows], n / seg.labels.size)
    np.testing.assert_allclose([float(x["fraction"]) for x in rows], n / n.sum())
    assert rows[0]["tissue_share"] == ""
    np.testing.assert_allclose([float(x["tissue_share"]) for x in rows[1:]], n[1:] / n[1:].sum())


@pytest.mark.parametrize("kind", ["distance", "margin"])
def test_uncertainty_layer(blocks, kind):
    img, _ = blocks
    mask = np.ones(img.shape[:2], bool)
    mask[:5] = False
    seg = nks.segment(img, 3, seed=0, mask=mask)
    viewer, s, src = start(img, seg)
    layer = s.measure.uncertainty(kind)
    expected = nks.distance_map(seg, img, kind=kind)
    # on top of the layer list, shown and selected, as napari adds a layer
    assert layer.name == "slide uncertainty" and layer.visible
    assert viewer.layers[-1] is layer and viewer.layers.selection.active is layer
    assert np.isnan(layer.data[:5]).all()  # left out of the run
    np.testing.assert_allclose(layer.data[5:], expected[5:], rtol=1e-5)
    layer.visible = True
    again = s.measure.uncertainty(kind)  # updates its own layer in place, keeps it shown
    assert again is layer and layer.visible and len(viewer.layers) == 4


def test_uncertainty_of_a_stale_result_is_not_written(blocks):
    img, _ = blocks
    viewer, s, src = start(img, nks.segment(img, 3, seed=0))
    compute, done = s.measure.uncertainty_job("distance")
    d = compute()
    s.set_result(nks.segment(img, 2, seed=0), src)
    assert done(d) is None and "slide uncertainty" not in viewer.layers


def test_outlier_warning_when_the_model_fits_the_image_poorly(ihc, ihc_seg):
    layer_src = Source.from_layers([ViewerModel().add_image(data.coffee(), name="coffee")])
    with pytest.warns(UserWarning, match="far from every cluster"):
        frac = check_outliers(ihc_seg.model, layer_src)
    assert frac > 0.05
    own = Source.from_layers([ViewerModel().add_image(ihc, name="slide")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_outliers(ihc_seg.model, own) < 0.05


def test_renaming_a_cluster_background_marks_it(ihc, ihc_seg):
    """A name starting with "background" marks background at a Run and in a model; typed
    in the table it did not, so the tissue share silently still counted the cluster."""
    viewer, s, _ = start(ihc, ihc_seg)
    (bg,) = s.measure.background()
    f = s.clusters.features
    dab = int(f.loc[f["name"] == "DAB", "index"].item())
    s.rename(dab, "Background (glass)")
    assert s.measure.background() == sorted([bg, dab])
    assert np.isnan(feature(s.clusters, dab, "tissue_share"))
    (h,) = set(s.index()) - {bg, dab}
    assert feature(s.clusters, h, "tissue_share") == pytest.approx(1.0)
    s.rename(dab, "DAB")  # another name keeps the person's mark as it is
    assert s.measure.background() == sorted([bg, dab])
    s.measure.set_background([bg])
    s.rename(bg, "background 1")  # already marked: nothing changes
    assert s.measure.background() == [bg]


def test_the_count_line_calls_3d_objects_volumes():
    """The measure section's count line: areas in px for 2-D objects; for a 3-D objects
    layer a volume, in voxels without a pixel size and in the unit^3 with one."""
    import pandas as pd

    from napari_kmeans_segment._session.measure import count_line

    px = pd.DataFrame({"area": [10, 20, 30], "area_unit": ["px"] * 3})
    assert count_line(px, "o") == "3 objects, median area 20 px, mean 20 px, in 'o'."
    assert count_line(px, "o", 3) == "3 objects, median volume 20 voxels, mean 20 voxels, in 'o'."
    um = pd.DataFrame({"area": [1.5, 2.5], "area_unit": ["µm^3"] * 2})
    assert count_line(um, "o", 3) == "2 objects, median volume 2 µm^3, mean 2 µm^3, in 'o'."
