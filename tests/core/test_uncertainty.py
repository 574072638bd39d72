"""Per-pixel distance/margin to the centres and the batch outlier check."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from napari_kmeans_segment import load_model, segment
from napari_kmeans_segment._core.measure.uncertainty import distance_map, outlier_fraction, two_nearest


@pytest.fixture(scope="module")
def coffee():
    return data.coffee()[::2, ::2]


def _brute(seg, image):
    fs = seg.feature_space
    rows = fs.transform(image.reshape(-1, image.shape[-1]).astype(np.float32))
    d = np.linalg.norm(rows[:, None, :] - seg.feature_centers[None].astype(np.float32), axis=2)
    return np.sort(d, axis=1)


@pytest.mark.parametrize("color_space", ["rgb", "lab", "hed"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])  # colour lookup table / chunk by chunk
def test_distance_and_margin_match_brute_force(coffee, color_space, dtype):
    coffee = coffee if dtype == np.uint8 else coffee.astype(np.float32) / 255
    # a photo, not a slide: every pixel clustered (no glass to take a white level from)
    extra = dict(tissue=False) if color_space == "hed" else {}
    seg = segment(coffee, 4, color_space=color_space, seed=0, **extra)
    ref = _brute(seg, coffee)
    dist = distance_map(seg, coffee)
    margin = distance_map(seg.model, coffee, kind="margin")
    assert dist.shape == coffee.shape[:2] and dist.dtype == np.float32
    scale = float(ref.max())
    np.testing.assert_allclose(dist.ravel(), ref[:, 0], atol=1e-3 * scale)
    np.testing.assert_allclose(margin.ravel(), ref[:, 1] - ref[:, 0], atol=1e-3 * scale)
    assert (margin >= 0).all()


def test_left_out_pixels_are_nan(coffee):
    seg = segment(coffee, 3, seed=0)
    mask = np.ones(coffee.shape[:2], bool)
    mask[:10] = False
    d = distance_map(seg, coffee, mask=mask)
    assert np.isnan(d[:10]).all() and np.isfinite(d[10:]).all()


def test_margin_treats_merged_clusters_as_one():
    x = np.array([[0.0], [1.0], [10.0]], np.float32)
    centers = np.array([[0.0], [2.0], [11.0]])
    d1, d2 = two_nearest(x, centers)
    np.testing.assert_allclose(d1, [0, 1, 1], atol=1e-4)
    np.testing.assert_allclose(d2, [2, 1, 8], atol=1e-4)
    _, d2 = two_nearest(x, centers, groups=np.array([1, 1, 3]))  # centres 0 and 1 merged
    np.testing.assert_allclose(d2, [11, 10, 8], atol=1e-4)


def test_outlier_fraction_small_on_the_fitted_image_large_on_another(coffee, tmp_path):
    seg = segment(coffee, 4, seed=0)
    assert seg.params["distance_p99"] > 0
    assert 0.003 <= outlier_fraction(seg, coffee) <= 0.03
    # The fitted value survives saving; a different kind of image is flagged.
    model = load_model(seg.save(tmp_path / "m.json"))
    assert model.params["distance_p99"] == pytest.approx(seg.params["distance_p99"])
    other = data.immunohistochemistry()[::2, ::2]
    assert outlier_fraction(model, other) > 0.1  # ten times the expected 1%
    assert outlier_fraction(model, 255 - coffee) > 0.2


def test_outlier_fraction_on_a_slide_of_the_same_kind():
    ihc = data.immunohistochemistry()
    seg = segment(ihc[:, :256], 3, color_space="hed", seed=0)
    assert outlier_fraction(seg, ihc[:, 256:]) < 0.05


def test_bad_input(coffee):
    seg = segment(coffee, 3, seed=0)
    with pytest.raises(ValueError, match="kind"):
        distance_map(seg, coffee, kind="entropy")
    with pytest.raises(ValueError, match="channel"):
        distance_map(seg, coffee[..., 0])
    old = seg.model
    old.params.pop("distance_p99")
    with pytest.raises(ValueError, match="Refit"):
        outlier_fraction(old, coffee)
