"""Cluster areas, shares of tissue and measured objects."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.measure import label as cc_label
from skimage.measure import regionprops_table

from napari_kmeans_segment import segment
from napari_kmeans_segment._core.features.stains import names_for
from napari_kmeans_segment._core.measure.measure import area_table, extract_objects, label_counts


@pytest.fixture(scope="module")
def ihc_seg():
    img = data.immunohistochemistry()
    # every pixel clustered (no tissue detection): the glass is a cluster named background
    return img, segment(img, 3, color_space="hed", seed=0, tissue=False)


# -- areas and shares -----------------------------------------------------------------------------
def test_share_of_tissue_equals_the_labels(ihc_seg):
    img, seg = ihc_seg
    names = names_for(seg.centers, seg.feature_space)
    bg = [int(i) for i, n in zip(seg.index, names) if n == "background"]
    dab = int(seg.index[names.index("DAB")])
    t = area_table(seg.index, seg.counts, background=bg)
    tissue = ~np.isin(seg.labels, bg) & (seg.labels > 0)
    expected = (seg.labels == dab).sum() / tissue.sum()
    row = int(np.flatnonzero(t["index"] == dab)[0])
    assert t["tissue_share"][row] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(t["tissue_share"][t["background"]]).all()
    assert np.nansum(t["tissue_share"]) == pytest.approx(1.0)
    assert t["share"].sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(t["area_px"], [np.sum(seg.labels == i) for i in seg.index])


def test_physical_area_from_scale():
    labels = np.array([[1, 1, 2], [2, 2, 0]], np.uint8)
    t = area_table([1, 2], label_counts(labels, [1, 2]), scale=(0.5, 0.25), unit="µm")
    np.testing.assert_allclose(t["area"], [2 * 0.125, 3 * 0.125])
    assert list(t["area_unit"]) == ["µm^2", "µm^2"]
    # label 0 (pixels left out) is not part of any share
    np.testing.assert_allclose(t["share"], [0.4, 0.6])
    t3 = area_table([1], [8], scale=(2, 1, 1), unit="µm", ndim=3)
    assert t3["area"][0] == 16 and t3["area_unit"][0] == "µm^3"
    assert area_table([1], [8])["area_unit"][0] == "px"


def test_label_counts_numpy_and_dask():
    import dask.array as da

    labels = np.random.default_rng(0).integers(0, 5, (64, 48)).astype(np.uint8)
    expected = np.bincount(labels.ravel(), minlength=5)[[1, 2, 4]]
    np.testing.assert_array_equal(label_counts(labels, [1, 2, 4]), expected)
    np.testing.assert_array_equal(label_counts(da.from_array(labels, chunks=16), [1, 2, 4]), expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(background=[7]), "not clusters"),
        (dict(scale=(1.0,)), "one value per axis"),
        (dict(scale=(1.0, 0.0)), "non-zero"),
        (dict(scale=(1.0, float("nan"))), "finite"),
    ],
)
def test_area_table_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        area_table([1, 2], [3, 4], **kwargs)


def test_a_flipped_axis_keeps_the_pixel_size():
    # napari flips an axis with a negative scale; the pixel is as large as before
    t = area_table([1, 2], [3, 4], scale=(-0.5, 2.0), unit="µm")
    np.testing.assert_allclose(t["area"], [3.0, 4.0])
    labels = np.zeros((6, 6), np.uint8)
    labels[1:3, 1:4] = 1
    _, objects = extract_objects(labels, 1, scale=(0.5, -2.0), unit="µm")
    assert objects["area"].tolist() == [6.0]


# -- objects --------------------------------------------------------------------------------------
def _reference(objects, image, **kw):
    return regionprops_table(
        objects,
        intensity_image=image,
        properties=("label", "area", "centroid", "bbox", "intensity_mean"),
        **kw,
    )


def test_objects_match_regionprops_2d_rgb(ihc_seg):
    img, seg = ihc_seg
    dab = int(seg.index[names_for(seg.centers, seg.feature_space).index("DAB")])
    objects, t = extract_objects(seg.labels, dab, img, min_size=20, scale=(0.5, 0.5), unit="µm")
    ref_objects = cc_label(seg.labels == dab, connectivity=2)
    sizes = np.bincount(ref_objects.ravel())
    assert t["label"].size == int((sizes[1:] >= 20).sum()) > 5
    ref = _reference(objects, img)
    np.testing.assert_array_equal(t["label"], ref["label"])
    np.testing.assert_array_equal(t["index"], t["label"])
    np.testing.assert_array_equal(t["area_px"], ref["area"])
    assert (t["area_px"] >= 20).all()
    np.testing.assert_allclose(t["area"], ref["area"] * 0.25)
    for key in ("centroid-0", "centroid-1", "bbox-0", "bbox-1", "bbox-2", "bbox-3"):
        np.testing.assert_allclose(t[key], ref[key])
    for j, ch in enumerate("RGB"):
        np.testing.assert_allclose(t[f"mean_{ch}"], ref[f"intensity_mean-{j}"])
    assert (t["cluster"] == dab).all()
    # every object is a connected piece of the cluster
    assert set(np.unique(seg.labels[objects > 0])) == {dab}


def test_objects_3d_gray_several_clusters():
    rng = np.random.default_rng(3)
    labels = np.zeros((6, 20, 20), np.uint8)
    labels[1:3, 2:6, 2:6] = 1
    labels[1:3, 6:8, 2:6] = 2  # touches the first block: one object, mostly cluster 1
    labels[4:6, 12:18, 12:18] = 2
    labels[0, 19, 19] = 1  # a single voxel, dropped by min_size
    image = rng.random(labels.shape)
    objects, t = extract_objects(labels, [1, 2], image, min_size=2, scale=(2.0, 0.5, 0.5), unit="µm")
    ref = _reference(objects, image)
    assert objects.shape == labels.shape and t["label"].tolist() == [1, 2]
    np.testing.assert_array_equal(t["area_px"], ref["area"])
    np.testing.assert_allclose(t["area"], ref["area"] * 0.5)
    assert t["area_unit"][0] == "µm^3"
    np.testing.assert_allclose(t["mean_value"], ref["intensity_mean"])
    for key in ("centroid-2", "bbox-5"):
        np.testing.assert_allclose(t[key], ref[key])
    assert t["cluster"].tolist() == [1, 2]


def test_objects_channel_axis_and_names():
    labels = np.zeros((10, 12), np.uint8)
    labels[2:5, 2:5] = 1
    image = np.stack([np.full((10, 12), 3.0), np.arange(120.0).reshape(10, 12)])
    _, t = extract_objects(labels, 1, image, channel_axis=0, channel_names=["dapi", "gfp"])
    assert t["mean_dapi"][0] == 3.0
    assert t["mean_gfp"][0] == pytest.approx(np.arange(120.0).reshape(10, 12)[2:5, 2:5].mean())
    _, t = extract_objects(labels, 1)  # no image: geometry only
    assert "mean_value" not in t and t["area_px"][0] == 9


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((7,), {}, "no pixels"),
        (([],), {}, "at least one"),
        ((1,), dict(min_size=-1), "min_size"),
        ((1, np.zeros((3, 3))), {}, "does not match"),
    ],
)
def test_extract_objects_bad_input(args, kwargs, match):
    labels = np.zeros((10, 12), np.uint8)
    labels[2:5, 2:5] = 1
    with pytest.raises(ValueError, match=match):
        extract_objects(labels, *args, **kwargs)


def test_segmentation_table_with_areas(ihc_seg):
    img, seg = ihc_seg
    names = seg.default_names()
    bg = [int(seg.index[names.index("background")])]
    t = seg.table(background=bg, scale=(0.25, 0.25), unit="µm")
    dab = names.index("DAB")
    tissue = (seg.labels > 0) & ~np.isin(seg.labels, bg)
    assert t["tissue_share"][dab] == pytest.approx((seg.labels == seg.index[dab]).sum() / tissue.sum())
    np.testing.assert_allclose(t["area"], t["count"] * 0.0625)
    assert t["name"][dab] == "DAB" and t["area_unit"][0] == "µm^2"
    assert "tissue_share" not in seg.table()  # the plain table is unchanged


def test_share_of_the_image_counts_the_glass_left_out_of_the_clusters():
    """With tissue detection the glass is label 0, in no cluster: ``share`` is still of the
    whole image (the sample: 5% glass, so the clusters' shares sum to 95%), ``fraction`` of
    the clustered pixels, ``tissue_share`` of the non-background clusters."""
    seg = segment(data.immunohistochemistry(), 3, color_space="hed", seed=0)
    glass = np.count_nonzero(seg.labels == 0)
    assert 0.03 < glass / seg.labels.size < 0.07
    t = seg.table(background=[])
    for i, label in enumerate(seg.index):
        n = np.count_nonzero(seg.labels == label)
        assert t["share"][i] == pytest.approx(n / seg.labels.size)
        assert t["fraction"][i] == pytest.approx(n / (seg.labels.size - glass))
    assert t["share"].sum() == pytest.approx(1 - glass / seg.labels.size)
    assert t["share"].sum() == pytest.approx(seg.stains.tissue_share)
    # one cluster marked background: the share of tissue is of the other clusters
    t = seg.table(background=[int(seg.index[0])])
    rest = np.isin(seg.labels, seg.index[1:]).sum()
    assert t["tissue_share"][1] == pytest.approx(np.count_nonzero(seg.labels == seg.index[1]) / rest)


def test_area_table_share_of_the_image_checks_the_image_size():
    t = area_table([1, 2], [30, 50], image_px=100)
    np.testing.assert_allclose(t["share"], [0.3, 0.5])
    with pytest.raises(ValueError, match="image_px"):
        area_table([1, 2], [30, 50], image_px=60)


def test_worked_example_script_on_three_slides(tmp_path, capsys):
    import csv
    import importlib.util
    from pathlib import Path

    from skimage import io

    from napari_kmeans_segment import load_model

    path = Path(__file__).resolve().parents[2] / "scripts" / "dab_share_of_tissue.py"
    spec = importlib.util.spec_from_file_location("dab_share_of_tissue", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "dab.csv"
    assert (
        script.main(
            [
                "--demo",
                str(tmp_path / "slides"),
                "-o",
                str(out),
                "--pixel-size",
                "0.5",
                "--unit",
                "µm",
                "--save-model",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert [r["image"] for r in rows] == ["slide_a.png", "slide_b.png", "slide_c.png"]
    model = load_model(tmp_path / "m.json")
    # the stain names are stored, so the CLI's --model and the dock give the same classes;
    # the glass is not a cluster (tissue is told from glass by optical density)
    assert model.measures_stains and sorted(model.names.values()) == ["DAB", "haematoxylin", "haematoxylin 2"]
    assert model.background == ()
    # Recompute one slide's numbers from the labels of the saved model.
    seg = model.apply(io.imread(tmp_path / "slides" / "slide_b.png"))
    names = dict(zip(seg.index.tolist(), seg.default_names()))
    tissue = seg.labels > 0
    dab = seg.labels == [k for k, n in names.items() if n == "DAB"][0]
    row = rows[1]
    # a fraction, as in summary.csv's column of the same name (only *_pct columns are percent)
    assert float(row["tissue_share_DAB"]) == pytest.approx(dab.sum() / tissue.sum())
    assert float(row["tissue_pct"]) == pytest.approx(100 * tissue.sum() / tissue.size)
    assert float(row["tissue_area"]) == pytest.approx(tissue.sum() * 0.25)
    assert float(row["glass_area"]) == pytest.approx((~tissue).sum() * 0.25)
    assert float(row["positive_pct_of_tissue"]) == pytest.approx(100 * seg.stains.positive_share)
    assert float(row["h_score"]) == pytest.approx(seg.stains.h_score)
    assert all(float(r["outlier_fraction"]) < 0.05 for r in rows)
    # the right half shows too little glass for a white level of its own: said, per slide
    assert rows[0]["warning"] == rows[1]["warning"] == ""
    assert "No glass on this image" in rows[2]["warning"]
    assert "slide_c.png: No glass on this image" in capsys.readouterr().err


def test_worked_example_script_against_the_truth_of_synthetic_slides(tmp_path):
    """The slide script on synthetic slides with known truth, one of them scanned darker:
    tissue within 3 points, DAB-positive share of tissue within 4, the rescan within 2 of
    the slide as scanned."""
    import csv
    import importlib.util
    from pathlib import Path

    from skimage import io

    from napari_kmeans_segment._core.synthetic_slides import make_slide, rescan

    path = Path(__file__).resolve().parents[2] / "scripts" / "dab_share_of_tissue.py"
    spec = importlib.util.spec_from_file_location("dab_share_of_tissue", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    slides = {
        "a": make_slide(0, "islands", shape=(320, 320)),
        "b": make_slide(1, "fragments", shape=(320, 320)),
    }
    folder = tmp_path / "slides"
    folder.mkdir()
    for name, s in slides.items():
        io.imsave(folder / f"{name}.png", s.image, check_contrast=False)
    io.imsave(folder / "a_dark.png", rescan(slides["a"].image, 0.85), check_contrast=False)
    out = tmp_path / "dab.csv"
    assert script.main([str(folder), "-o", str(out)]) == 0
    rows = {r["image"]: r for r in csv.DictReader(out.open())}
    for name, s in slides.items():
        row = rows[f"{name}.png"]
        assert float(row["tissue_pct"]) == pytest.approx(100 * s.tissue_share, abs=3)
        assert float(row["positive_pct_of_tissue"]) == pytest.approx(100 * s.positive_share, abs=4)
        assert row["warning"] == ""
    dark, bright = rows["a_dark.png"], rows["a.png"]
    assert abs(float(dark["positive_pct_of_tissue"]) - float(bright["positive_pct_of_tissue"])) <= 2


def test_background_labels_from_names_and_dask_objects(ihc_seg):
    import dask.array as da

    from napari_kmeans_segment._core.measure.measure import background_labels

    assert background_labels([1, 2, 3, 4], ["DAB", "Background", "haematoxylin", "background 2"]) == [2, 4]
    img, seg = ihc_seg
    dab = int(seg.index[seg.default_names().index("DAB")])
    objects, t = extract_objects(seg.labels, dab, img, min_size=20)
    lazy_objects, lazy_t = extract_objects(da.from_array(seg.labels, chunks=128), dab, img, min_size=20)
    np.testing.assert_array_equal(lazy_objects, objects)
    np.testing.assert_allclose(lazy_t["mean_R"], t["mean_R"])


def test_worked_example_script_refuses_to_overwrite(tmp_path):
    """The README's script never replaces an existing table or model without --overwrite."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "dab_share_of_tissue.py"
    spec = importlib.util.spec_from_file_location("dab_share_of_tissue", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "dab.csv"
    out.write_text("precious")
    with pytest.raises(SystemExit) as exc:
        script.main(["--demo", str(tmp_path / "slides"), "-o", str(out)])
    assert exc.value.code == 2
    assert out.read_text() == "precious"
    # a folder that does not exist: a usage error, not a traceback
    with pytest.raises(SystemExit) as exc:
        script.main([str(tmp_path / "no such folder"), "-o", str(tmp_path / "new.csv")])
    assert exc.value.code == 2 and not (tmp_path / "new.csv").exists()
    assert not (tmp_path / "slides").exists()  # refused before any work
