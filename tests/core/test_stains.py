"""Stain-aware features (color_space="hed") and stain names."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2hed, rgb_from_hed
from skimage.filters import threshold_otsu

from napari_kmeans_segment import load_model, segment, suggest_k
from napari_kmeans_segment._core.features.features import FeatureSpace
from napari_kmeans_segment._core.features.stains import (
    FEATURE_SPAN,
    dominant_stains,
    names_for,
    optical_density,
    stain_densities,
    stain_names,
    stain_scale,
)


@pytest.fixture(scope="module")
def ihc():
    return data.immunohistochemistry()


def stained(amounts, white=255.0):
    """RGB colours made of ``amounts`` (n, 3: H, E, DAB optical densities) of the fixed stains."""
    od = np.asarray(amounts, float) @ np.asarray(rgb_from_hed)
    return white * 10.0 ** (-od)


def dab_names(seg):
    names = names_for(seg.centers, seg.feature_space)
    return names, [i for i, n in zip(seg.index, names) if n.startswith("DAB")]


# -- densities ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_densities_equal_rgb2hed(dtype):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3)).astype(np.float64) / 255
    if dtype == np.uint8:
        img, white = (img * 255).round().astype(np.uint8), 255.0
    elif dtype == np.uint16:
        img, white = (img * 65535).round().astype(np.uint16), 65535.0
    else:
        img, white = img.astype(np.float32), 1.0
    got = stain_densities(img.reshape(-1, 3), white, min_transmission=1e-6)
    np.testing.assert_allclose(got, rgb2hed(img).reshape(-1, 3), atol=2e-5)


def test_default_floor_only_changes_clipped_pixels():
    px = np.array([[93, 42, 0], [93, 42, 1], [200, 150, 100]], np.uint8)
    exact = rgb2hed(px[None]).reshape(-1, 3)
    got = stain_densities(px, 255.0)
    np.testing.assert_allclose(got[2], exact[2], atol=1e-5)
    # A 0 in one channel reads as a 1, not as an optical density of 6.
    np.testing.assert_allclose(got[0], got[1], atol=1e-6)
    assert exact[0, 2] > 2 * got[0, 2]
    assert optical_density(px, 255.0).max() == pytest.approx(np.log10(255), rel=1e-5)


def test_stain_scale_gives_each_stain_the_same_spread():
    rng = np.random.default_rng(1)
    d = np.stack([rng.uniform(0, 0.06, 5000), rng.uniform(0, 0.08, 5000), rng.uniform(0, 0.2, 5000)], axis=1)
    s = stain_scale(d)
    spread = np.percentile(d / s, 99, axis=0) - np.percentile(d / s, 1, axis=0)
    np.testing.assert_allclose(spread, FEATURE_SPAN, rtol=1e-4)


def test_stain_scale_does_not_blow_up_an_absent_stain():
    rng = np.random.default_rng(2)
    d = np.stack([rng.uniform(0, 0.06, 5000), np.zeros(5000), rng.uniform(0, 0.2, 5000)], axis=1)
    s = stain_scale(d)
    assert s[1] == pytest.approx(0.25 * s[2])
    assert np.isfinite(d / s).all()


# -- names --------------------------------------------------------------------------------------
def test_dominant_stains_of_pure_colors():
    colors = stained([[0, 0, 0], [0.02, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.1, 0, 0.6]])
    assert dominant_stains(colors) == ["background", "background", "haematoxylin", "eosin", "DAB", "DAB"]
    # The same colours as floats in [0, 1]
    assert dominant_stains(colors / 255, 1.0)[2:5] == ["haematoxylin", "eosin", "DAB"]


def test_stain_names_are_unique_and_ordered_by_density():
    colors = stained([[0, 0, 0.3], [0, 0, 0.9], [0.5, 0, 0.05], [0, 0, 0], [0.02, 0, 0.01]])
    assert stain_names(colors) == ["DAB 2", "DAB", "haematoxylin", "background", "background 2"]


def test_scale_decides_between_stains():
    # More DAB than haematoxylin in raw density, but less relative to DAB's usual spread.
    color = stained([[0.3, 0, 0.4]])
    assert dominant_stains(color) == ["DAB"]
    assert dominant_stains(color, scale=[0.06, 0.05, 0.19]) == ["haematoxylin"]


def test_names_need_rgb_centers():
    with pytest.raises(ValueError, match="RGB centres"):
        dominant_stains(np.zeros((3, 1)))


def test_names_for_other_color_spaces_is_none(ihc):
    seg = segment(ihc[:64, :64], 3, color_space="lab", seed=0)
    assert names_for(seg.centers, seg.feature_space) is None


# -- the immunohistochemistry slide ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("k", "sample_size", "tissue"),
    [(3, "auto", True), (3, None, True), (4, "auto", True), (3, "auto", False)],
)
def test_ihc_dab_haematoxylin_background(ihc, k, sample_size, tissue):
    seg = segment(ihc, k, color_space="hed", seed=0, sample_size=sample_size, tissue=tissue)
    names, dab = dab_names(seg)
    # with tissue detection the glass is label 0, not a cluster; without, a cluster of its own
    assert {"DAB", "haematoxylin"} <= set(names)
    assert ("background" in names) is not tissue and bool((seg.labels == 0).any()) is tissue
    hed = rgb2hed(ihc)
    otsu = hed[..., 2] > threshold_otsu(hed[..., 2])
    ours = np.isin(seg.labels, dab)
    dice = 2 * (ours & otsu).sum() / (ours.sum() + otsu.sum())
    assert dice >= 0.8
    mean_h = {int(i): hed[..., 0][seg.labels == i].mean() for i in seg.index}
    h_label = int(seg.index[names.index("haematoxylin")])
    assert all(mean_h[h_label] > mean_h[int(d)] for d in dab)


def test_ihc_k2_names_the_nuclei_cluster_by_its_stain_not_background(ihc):
    # At K=2 the light cluster holds the glass and the nuclei (more haematoxylin than the
    # K=3 background): it is not unstained, so nothing is named (and ticked) background.
    # (Every pixel clustered: with tissue detection the glass is never a cluster.)
    seg = segment(ihc, 2, color_space="hed", seed=0, tissue=False)
    names = seg.default_names()
    assert sorted(names) == ["DAB", "haematoxylin"]
    assert seg.default_background() == []
    hed = rgb2hed(ihc)[..., 0]
    h = int(seg.index[names.index("haematoxylin")])
    k3 = segment(ihc, 3, color_space="hed", seed=0, tissue=False)
    bg3 = int(k3.index[k3.default_names().index("background")])
    assert hed[seg.labels == h].mean() > hed[k3.labels == bg3].mean() + 0.003
    # the threshold is absolute: the palest cluster is not background for being palest
    assert dominant_stains(stained([[0.3, 0, 0.05], [0.6, 0, 0.1]])) == ["haematoxylin", "haematoxylin"]


def test_rgb_default_has_no_haematoxylin_cluster(ihc):
    # Why hed exists: in plain RGB, K=3 puts the nuclei with the light brown.
    seg = segment(ihc, 3, seed=0)
    hed = rgb2hed(ihc)[..., 0]
    mean_h = [hed[seg.labels == i].mean() for i in seg.index]
    seg_hed = segment(ihc, 3, color_space="hed", seed=0)
    mean_h_hed = [hed[seg_hed.labels == i].mean() for i in seg_hed.index]
    assert max(mean_h_hed) > max(mean_h) + 0.01


@pytest.mark.parametrize("tissue", [True, False])
def test_hed_model_round_trip(ihc, tmp_path, tissue):
    part = ihc[:, :256]  # with glass on the left
    seg = segment(part, 3, color_space="hed", seed=0, tissue=tissue)
    model = load_model(seg.save(tmp_path / "m.json"))
    np.testing.assert_allclose(model.feature_space.stain_scale, seg.feature_space.stain_scale)
    again = model.apply(part)
    np.testing.assert_array_equal(again.labels, seg.labels)
    if tissue:
        np.testing.assert_allclose(model.feature_space.white, seg.feature_space.white)
        assert model.feature_space.tissue_od == seg.feature_space.tissue_od
        assert again.stains.bins == seg.stains.bins and again.stains.tissue_px == seg.stains.tissue_px
    fs = FeatureSpace.from_dict(seg.feature_space.to_dict())
    px = ihc[:5, :5].reshape(-1, 3)
    np.testing.assert_allclose(fs.color(px), seg.feature_space.color(px))


def test_hed_on_a_lazy_image(ihc):
    import dask.array as da

    seg = segment(da.from_array(ihc, chunks=(256, 256, 3)), 3, color_space="hed", seed=0)
    assert sorted(dab_names(seg)[0]) == ["DAB", "haematoxylin", "haematoxylin 2"]
    assert (seg.labels == 0).any().compute()  # the glass


def test_suggest_k_accepts_hed(ihc):
    r = suggest_k(ihc[::2, ::2], range(2, 5), color_space="hed", seed=0)
    assert r.ks == [2, 3, 4]
    assert r.k in r.ks


def test_hed_needs_rgb():
    with pytest.raises(ValueError, match="RGB"):
        segment(np.random.default_rng(0).random((20, 20)), 2, color_space="hed")


# -- stain vectors estimated from the image (Macenko) -----------------------------------------------
def _two_stain_image(second: int, n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    amounts = np.zeros((n, 3))
    kind = rng.integers(0, 3, n)  # pure haematoxylin, pure second stain, a mixture
    amounts[kind != 1, 0] = rng.uniform(0.2, 0.8, (kind != 1).sum())
    amounts[kind != 0, second] = rng.uniform(0.2, 0.8, (kind != 0).sum())
    return stained(amounts)


@pytest.mark.parametrize("second", [1, 2])
def test_macenko_recovers_the_stain_vectors(second):
    from napari_kmeans_segment._core.features.stains import macenko_matrix

    rows = np.linalg.inv(macenko_matrix(_two_stain_image(second), 255.0))
    ref = np.asarray(rgb_from_hed) / np.linalg.norm(rgb_from_hed, axis=1, keepdims=True)
    assert rows[0] @ ref[0] > 0.995  # haematoxylin first
    assert rows[second] @ ref[second] > 0.995  # the second stain in its own column
    assert abs(rows[3 - second] @ rows[0]) < 1e-6  # the missing stain: the plane's normal


def test_macenko_feature_space_on_ihc(ihc):
    px = ihc.reshape(-1, 3)[::7]
    fs = FeatureSpace(color_space="hed", stain_vectors="macenko", value_range=255.0).fit(px, (1,))
    assert fs.stain_matrix is not None
    back = FeatureSpace.from_dict(fs.to_dict())
    np.testing.assert_allclose(back.stain_matrix, fs.stain_matrix)
    np.testing.assert_allclose(back.color(px[:50]), fs.color(px[:50]), rtol=1e-5)
    dens = stain_densities(px, 255.0, fs.stain_matrix)
    # DAB estimated from this slide correlates with rgb2hed's DAB
    assert np.corrcoef(dens[:, 2], rgb2hed(px[None])[0, :, 2])[0, 1] > 0.9


def test_macenko_needs_stained_pixels():
    from napari_kmeans_segment._core.features.stains import macenko_matrix

    with pytest.raises(ValueError, match="fixed"):
        macenko_matrix(np.full((500, 3), 250, np.uint8), 255.0)
    with pytest.raises(ValueError, match="stain_vectors"):
        FeatureSpace(color_space="hed", stain_vectors="vahadane").fit(np.zeros((10, 3)), (1,))


def test_segment_with_macenko_vectors(ihc):
    seg = segment(ihc, 3, color_space="hed", stain_vectors="macenko", seed=0)
    assert seg.params["stain_vectors"] == "macenko"
    assert seg.feature_space.stain_matrix is not None
    names, dab = dab_names(seg)
    assert sorted(names) == ["DAB", "haematoxylin", "haematoxylin 2"]
    hed = rgb2hed(ihc)
    otsu = hed[..., 2] > threshold_otsu(hed[..., 2])
    ours = np.isin(seg.labels, dab)
    assert 2 * (ours & otsu).sum() / (ours.sum() + otsu.sum()) >= 0.8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(color_space="hed", stain_vectors="vahadane"), "stain_vectors"),
        (dict(color_space="lab", stain_vectors="macenko"), "color_space='hed'"),
    ],
)
def test_stain_vectors_bad_input(ihc, kwargs, match):
    with pytest.raises(ValueError, match=match):
        segment(ihc[:32, :32], 2, **kwargs)


def test_result_default_names_and_table(ihc):
    seg = segment(ihc, 3, color_space="hed", seed=0)
    assert seg.default_names() == names_for(seg.centers, seg.feature_space)
    assert list(seg.table()["name"]) == seg.default_names()
    assert list(seg.table(names=["a", "b", "c"])["name"]) == ["a", "b", "c"]
    rgb = segment(ihc[:64, :64], 3, seed=0)
    assert rgb.default_names() == ["cluster 1", "cluster 2", "cluster 3"]
