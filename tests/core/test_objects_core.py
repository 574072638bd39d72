"""Spatially coherent clusters (smoothing), touching objects apart (split) and the
foreground choice: behaviour, bad input, cancel and progress. Pure core, no Qt."""

import numpy as np
import pytest

import napari_kmeans_segment as nks
from napari_kmeans_segment._core.truth import dice, match_objects, synthetic_nuclei, synthetic_nuclei_3d


@pytest.fixture(scope="module")
def nuclei():
    return synthetic_nuclei((256, 256), n=30, seed=2)


def two_disks(gap: float = 17.0, r: float = 10.0, shape=(40, 60)):
    """Two overlapping disks of radius r whose centres are ``gap`` apart: one connected piece."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cy, cx = shape[0] / 2, shape[1] / 2
    a = (yy - cy) ** 2 + (xx - cx + gap / 2) ** 2 <= r * r
    b = (yy - cy) ** 2 + (xx - cx - gap / 2) ** 2 <= r * r
    return (a | b).astype(np.uint8) + 1  # labels: 1 background, 2 the disks


# -- smoothing -------------------------------------------------------------------------------
def test_smoothing_zero_is_the_exact_recipe(nuclei):
    plain = nks.segment(nuclei.image, 3, seed=1, sample_size=None)
    zero = nks.segment(nuclei.image, 3, seed=1, sample_size=None, smoothing=0)
    np.testing.assert_array_equal(plain.labels, zero.labels)
    np.testing.assert_array_equal(plain.centers, zero.centers)
    assert zero.params["smoothing"] == 0.0


def test_smoothing_removes_speckle_from_noisy_regions():
    """Two halves of known intensity under heavy noise: pixel-wise clustering mislabels many
    pixels, the smoothed labels few, and the edge stays where it is."""
    rng = np.random.default_rng(0)
    truth = np.zeros((128, 128), np.int64)
    truth[:, 64:] = 1
    img = (100 + 40 * truth + rng.normal(0, 25, truth.shape)).clip(0, 255).astype(np.uint8)
    wrong = []
    for s in (0, 2):
        seg = nks.segment(img, 2, seed=0, smoothing=s)
        wrong.append(float(((seg.labels == 2) != (truth == 1)).mean()))
    assert wrong[0] > 0.15
    assert wrong[1] < 0.3 * wrong[0]
    seg = nks.segment(img, 2, seed=0, smoothing=2)
    column = (seg.labels == 2).mean(axis=0)
    assert column[:60].max() < 0.2 and column[68:].min() > 0.8


def test_smoothing_counts_and_model_agree(nuclei):
    seg = nks.segment(nuclei.image, 3, seed=0, smoothing=1.5)
    np.testing.assert_array_equal(np.bincount(seg.labels.ravel(), minlength=4)[1:], seg.counts)
    assert seg.params["smoothing"] == 1.5 and seg.params["smoothing_sigma"] == [1.5, 1.5]
    again = seg.model.apply(nuclei.image)
    np.testing.assert_array_equal(again.labels, seg.labels)


def test_smoothing_survives_the_model_file(nuclei, tmp_path):
    seg = nks.segment(nuclei.image, 2, seed=0, smoothing=2)
    loaded = nks.load_model(seg.save(tmp_path / "m.json"))
    np.testing.assert_array_equal(loaded.apply(nuclei.image).labels, seg.labels)


def test_smoothing_in_physical_units_and_3d():
    nu = synthetic_nuclei_3d((12, 64, 64), n=6, seed=1)
    seg = nks.segment(nu.image, 2, seed=0, smoothing=2.0, scale=nu.scale)
    assert seg.params["smoothing_sigma"] == [1.0, 2.0, 2.0]  # 2 units over voxels of 2 x 1 x 1
    assert dice(seg.labels == 2, nu.truth) > 0.8


def test_smoothing_lazily_matches_in_memory(nuclei):
    import dask.array as da

    mem = nks.segment(nuclei.image, 2, seed=0, smoothing=1.5)
    lazy = nks.segment(da.from_array(nuclei.image, chunks=(50, 70)), 2, seed=0, smoothing=1.5)
    # the lazy fit sees every block (a small image), so its centres are the in-memory ones
    np.testing.assert_array_equal(np.asarray(lazy.labels), mem.labels)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), 10_000])
def test_bad_smoothing_is_refused(nuclei, bad):
    with pytest.raises(ValueError, match="smoothing"):
        nks.segment(nuclei.image, 2, smoothing=bad)


def test_smoothing_must_be_a_number(nuclei):
    with pytest.raises(TypeError, match="smoothing"):
        nks.segment(nuclei.image, 2, smoothing="2")


def test_bad_scale_for_smoothing_is_refused(nuclei):
    with pytest.raises(ValueError, match="scale"):
        nks.segment(nuclei.image, 2, smoothing=1, scale=(1.0, 0.0))
    with pytest.raises(ValueError, match="scale"):
        nks.segment(nuclei.image, 2, smoothing=1, scale=(1.0,))


def test_smoothing_cancelled_and_reported(nuclei):
    seen = []

    def progress(f, msg):
        seen.append((f, msg))

    def cancel():
        return any("smoothing" in m for _, m in seen)

    with pytest.raises(nks.Cancelled):
        nks.segment(nuclei.image, 2, seed=0, smoothing=1, progress=progress, cancel=cancel)
    assert any("smoothing" in m for _, m in seen)


def test_smoothing_in_slabs_equals_one_piece(monkeypatch, nuclei):
    from napari_kmeans_segment._core.fit import smoothing

    whole = nks.segment(nuclei.image, 3, seed=0, smoothing=1.5)
    monkeypatch.setattr(smoothing, "SLAB_WORK", 3 * 256 * 30)  # slabs of a few rows
    sliced = nks.segment(nuclei.image, 3, seed=0, smoothing=1.5)
    np.testing.assert_array_equal(sliced.labels, whole.labels)


# -- split -----------------------------------------------------------------------------------
def test_split_separates_two_touching_disks():
    lab = two_disks()
    joined, t0 = nks.extract_objects(lab, 2)
    apart, t1 = nks.extract_objects(lab, 2, split=True)
    assert len(t0["index"]) == 1 and len(t1["index"]) == 2
    assert set(t1) == set(t0)  # the table keeps its columns
    assert abs(t1["area_px"][0] - t1["area_px"][1]) < 0.1 * t1["area_px"].mean()
    xs = sorted(t1["centroid-1"])
    assert xs[0] < 30 < xs[1]


def test_split_objects_are_each_one_piece_even_when_joined_by_a_corner():
    """A pixel joined to a piece of touching disks only by its corner belongs to one of those
    disks: it was left out of the watershed and numbered as another piece's object, so an
    object came in pieces far apart (wrong bounding boxes and centroids)."""
    from scipy import ndimage

    lab = np.zeros((60, 120), np.uint8)
    lab[:] = 1
    yy, xx = np.mgrid[:60, :120]
    lab[((yy - 30) ** 2 + (xx - 20) ** 2 <= 100) | ((yy - 30) ** 2 + (xx - 38) ** 2 <= 100)] = 2
    lab[((yy - 30) ** 2 + (xx - 90) ** 2 <= 64)] = 2  # another piece, numbered after
    top = np.argwhere(lab[:, :60] == 2).min(axis=0)[0]  # the top row of the first piece
    x = np.flatnonzero(lab[top] == 2)[0]
    lab[top - 1, x - 1] = 2  # touches the piece by a corner only
    objects, table = nks.extract_objects(lab, 2, split=True)
    assert len(table["label"]) == 3
    full = np.ones((3, 3))
    assert [ndimage.label(objects == i, structure=full)[1] for i in table["label"]] == [1, 1, 1]
    assert objects[top - 1, x - 1] in (objects[30, 20], objects[30, 38])


def test_split_nuclei_of_an_expert_image_are_each_one_piece():
    """Every object of the README's nuclei recipe (the expert-annotated image) is one
    connected piece (29 of 117 came in several, some pixels 230 px from their nucleus)."""
    from pathlib import Path

    from scipy import ndimage

    img = np.load(Path(__file__).parents[1] / "data" / "dsb2018_nuclei_2d.npz")["image"]
    seg = nks.segment(img, 3, seed=0, smoothing=1)
    objects, table = nks.extract_objects(
        seg.labels, nks.foreground_labels(seg, "all but darkest"), split=True, min_size=20
    )
    full = np.ones((3, 3))
    pieces = [ndimage.label(objects == i, structure=full)[1] for i in table["label"]]
    assert len(pieces) == 117 and set(pieces) == {1}


def test_split_keeps_a_single_ellipse_whole():
    yy, xx = np.mgrid[:60, :90]
    ellipse = ((yy - 30) / 12.0) ** 2 + ((xx - 45) / 30.0) ** 2 <= 1
    _, table = nks.extract_objects(ellipse.astype(np.uint8) + 1, 2, split=True, radius=12)
    assert len(table["index"]) == 1


def test_split_radius_checked():
    lab = two_disks()
    for bad in (0, -3, float("nan")):
        with pytest.raises(ValueError, match="radius"):
            nks.extract_objects(lab, 2, split=True, radius=bad)


def test_split_3d_anisotropic():
    """Two touching balls sampled on voxels twice as deep as wide: split in physical units."""
    z, y, x = np.mgrid[:16, :40, :60]
    pz, py, px = z * 2.0, y * 1.0, x * 1.0
    a = (pz - 16) ** 2 + (py - 20) ** 2 + (px - 21) ** 2 <= 81
    b = (pz - 16) ** 2 + (py - 20) ** 2 + (px - 37) ** 2 <= 81
    lab = (a | b).astype(np.uint8) + 1
    objects, table = nks.extract_objects(lab, 2, split=True, scale=(2.0, 1.0, 1.0))
    assert len(table["index"]) == 2
    truth = np.where(a & ~b, 1, np.where(b & ~a, 2, 0))
    assert match_objects(objects * (truth > 0), truth).matched == 2


def test_split_of_a_million_specks_is_cancellable_with_progress():
    """A cluster of ~a million one-pixel specks (a checkerboard of isolated pixels): the
    split reports progress, stops at cancel, and gives one object per speck when let run."""
    lab = np.ones((2000, 2000), np.uint8)
    lab[::2, ::2] = 2  # 1,000,000 isolated pixels
    steps = []

    def cancel():
        return len(steps) >= 2

    with pytest.raises(nks.Cancelled):
        nks.extract_objects(lab, 2, split=True, progress=lambda f, m: steps.append(m), cancel=cancel)
    assert len(steps) == 2
    _, table = nks.extract_objects(lab[:400, :400], 2, split=True)
    assert len(table["index"]) == 200 * 200


def test_measuring_many_specks_takes_bounded_memory():
    """A quarter of a million objects measured without one Python object per object
    (regionprops took ~330 bytes per pixel and minutes on a million specks)."""
    import tracemalloc

    lab = np.ones((1000, 1000), np.uint8)
    lab[::2, ::2] = 2
    image = np.arange(lab.size, dtype=np.float64).reshape(lab.shape)
    tracemalloc.start()
    try:
        objects, table = nks.extract_objects(lab, 2, image, split=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(table["index"]) == 250_000
    assert peak < 120 * lab.size
    # each speck is one pixel: its mean is its own value, its box one pixel wide
    np.testing.assert_array_equal(table["mean_value"], image[::2, ::2].ravel())
    np.testing.assert_array_equal(table["bbox-2"] - table["bbox-0"], 1)


def test_extract_objects_cancel_without_split():
    with pytest.raises(nks.Cancelled):
        nks.extract_objects(two_disks(), 2, cancel=lambda: True)


# -- foreground --------------------------------------------------------------------------------
def test_foreground_all_but_darkest_and_brightest(nuclei):
    seg = nks.segment(nuclei.image, 3, seed=0)
    assert nks.foreground_labels(seg, "all but darkest") == [2, 3]
    assert nks.foreground_labels(seg, "all but brightest") == [1, 2]
    assert nks.foreground_labels(seg, [3, 2]) == [2, 3]
    merged = seg.merge([1, 2])  # labels 1 and 3 remain: the foreground is 3
    assert nks.foreground_labels(merged, "all but darkest") == [3]
    assert nks.foreground_labels(merged, "all but brightest") == [1]
    with pytest.raises(ValueError, match="all but"):
        nks.foreground_labels(seg, "all but the cat")
    with pytest.raises(ValueError, match="among the clusters"):
        nks.foreground_labels(seg, [7])


def test_dim_and_bright_nuclei_counted_together(nuclei):
    """K=3 puts dim nuclei in their own cluster: the brightest cluster alone misses them."""
    seg = nks.segment(nuclei.image, 3, seed=0, smoothing=1)
    bright, _ = nks.extract_objects(seg.labels, 3, split=True, min_size=20)
    both, _ = nks.extract_objects(
        seg.labels, nks.foreground_labels(seg, "all but darkest"), split=True, min_size=20
    )
    assert match_objects(both, nuclei.truth).recall > match_objects(bright, nuclei.truth).recall + 0.1


def test_smoothing_plane_by_plane_and_its_model():
    nu = synthetic_nuclei_3d((6, 64, 64), n=6, seed=3)
    seg = nks.segment(nu.image, 2, seed=0, smoothing=1.5, per_plane=True)
    assert seg.params["smoothing_sigma"] == [1.5, 1.5, 1.5]
    np.testing.assert_array_equal(seg.model.apply(nu.image).labels, seg.labels)
    for i in range(nu.image.shape[0]):  # each plane smoothed within itself only
        plane = nks.segment(nu.image[i], 2, seed=0, smoothing=1.5)
        assert (plane.labels == 2).sum() == pytest.approx((seg.labels[i] == 2).sum(), rel=0.05, abs=20)


def test_multiscale_refuses_smoothing():
    img = synthetic_nuclei((128, 128), n=8, seed=0).image
    with pytest.raises(ValueError, match="smoothing"):
        nks.segment_multiscale([img, img[::2, ::2]], 2, smoothing=1)


def test_flipped_axis_keeps_its_pixel_size(nuclei):
    """napari flips an axis with a negative scale; the pixels keep their size."""
    flipped = nks.segment(nuclei.image, 2, seed=0, smoothing=1, scale=(-0.5, 0.5))
    plain = nks.segment(nuclei.image, 2, seed=0, smoothing=1, scale=(0.5, 0.5))
    np.testing.assert_array_equal(flipped.labels, plain.labels)
    _, a = nks.extract_objects(plain.labels, 2, split=True, scale=(-0.5, 0.5))
    _, b = nks.extract_objects(plain.labels, 2, split=True, scale=(0.5, 0.5))
    assert len(a["index"]) == len(b["index"])


@pytest.mark.parametrize(
    "key, value",
    [
        ("smoothing", -1),
        ("smoothing", "wide"),
        ("smoothing_sigma", [1.0, float("nan")]),
        ("smoothing_sigma", "1"),
        ("smoothing_temperature", 0),
        ("smoothing_temperature", "hot"),
    ],
)
def test_damaged_smoothing_in_a_model_file_is_refused(nuclei, tmp_path, key, value):
    import json

    path = nks.segment(nuclei.image, 2, seed=0, smoothing=1).save(tmp_path / "m.json")
    d = json.loads(path.read_text())
    d["params"][key] = value
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError):
        nks.load_model(path)
