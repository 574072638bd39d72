"""Every image napari holds: dtypes, stacks, channels, masks, NaN, RGBA, feature spaces."""

import numpy as np
import pytest
from conftest import blocks_image, same_partition
from skimage import data

import napari_kmeans_segment as nks


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64])
def test_any_numeric_dtype_keeps_its_dtype(dtype):
    img, truth = blocks_image()
    img = img.astype(dtype) * (3 if np.dtype(dtype).itemsize > 1 else 1)
    seg = nks.segment(img, 3, seed=0)
    assert same_partition(seg.labels, truth)
    assert seg.recolored.dtype == np.dtype(dtype) and seg.recolored.shape == img.shape


def test_bool_image():
    img = np.zeros((30, 30), bool)
    img[:, 15:] = True
    seg = nks.segment(img, 2, seed=0)
    assert seg.recolored.dtype == bool
    assert np.array_equal(seg.recolored, img)
    assert same_partition(seg.labels, img)


def test_nan_and_inf_pixels_are_left_out():
    img = data.camera().astype(np.float32)
    img[:50] = np.nan
    img[60, 60] = np.inf
    seg = nks.segment(img, 3, seed=0)
    assert (seg.labels[:50] == 0).all() and seg.labels[60, 60] == 0
    assert (seg.labels[51:60] > 0).all()
    assert np.isnan(seg.recolored[:50]).all() and np.isinf(seg.recolored[60, 60])
    assert seg.counts.sum() == img.size - 50 * img.shape[1] - 1


def test_rgba_alpha_is_not_a_feature_and_transparent_pixels_are_left_out():
    rgb, truth = blocks_image()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:5] = 0
    alpha[5:10] = 17  # partly transparent pixels still count, alpha does not matter
    img = np.dstack([rgb, alpha])
    seg = nks.segment(img, 3, seed=0)
    assert seg.centers.shape == (3, 3)
    assert (seg.labels[:5] == 0).all()
    assert same_partition(seg.labels[5:], truth[5:])
    assert np.array_equal(seg.recolored[..., 3], alpha)
    assert np.array_equal(seg.recolored[:5], img[:5])


def test_mask_restricts_clustering():
    img = data.coffee()
    mask = np.zeros(img.shape[:2], bool)
    mask[100:300, 150:450] = True
    seg = nks.segment(img, 3, seed=0, mask=mask)
    assert (seg.labels[~mask] == 0).all() and (seg.labels[mask] > 0).all()
    assert np.array_equal(seg.recolored[~mask], img[~mask])
    labels_mask = mask.astype(np.uint16) * 7  # a labels layer as mask: nonzero = include
    seg2 = nks.segment(img, 3, seed=0, mask=labels_mask)
    assert np.array_equal(seg.labels, seg2.labels)


def test_3d_stack_clusters_jointly_and_per_plane():
    base, truth = blocks_image()
    stack = np.stack([base.astype(np.int32) + 40 * z for z in range(3)]).clip(0, 255)
    stack = stack.astype(np.uint8)
    joint = nks.segment(stack, 3, seed=0)
    assert joint.labels.shape == stack.shape[:3]
    per = nks.segment(stack, 3, seed=0, per_plane=True)
    assert per.params["per_plane"]
    # each plane has the same three bands, numbered the same way in every plane
    for z in range(3):
        assert same_partition(per.labels[z], truth)
        assert np.array_equal(per.labels[z], per.labels[0])


def test_time_series_5d_with_channel_axis():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, (2, 3, 6, 7))
    img = np.stack([truth * 1000 + 10, (1 - truth) * 500 + 3], axis=1).astype(np.uint16)
    img = img + rng.integers(0, 20, img.shape).astype(np.uint16)  # (T, C, Z, Y, X)
    seg = nks.segment(img, 2, seed=0, channel_axis=1)
    assert seg.labels.shape == (2, 3, 6, 7)
    assert seg.recolored.shape == img.shape
    assert same_partition(seg.labels, truth)
    assert seg.centers.shape == (2, 2)


@pytest.mark.parametrize("space", ["lab", "hsv"])
def test_color_spaces_report_centers_in_image_units(space):
    img, truth = blocks_image()
    seg = nks.segment(img, 3, seed=0, color_space=space)
    assert same_partition(seg.labels, truth)
    for i in range(3):
        np.testing.assert_allclose(seg.centers[i], img[seg.labels == i + 1].mean(0), atol=1e-6)


def test_hue_is_circular():
    # reds at hue 359 and 1 degrees must cluster together, apart from cyan
    h = np.array([359, 1, 359, 1, 180, 180, 180, 180], float) / 2  # OpenCV 8-bit hue
    import cv2

    hsv = np.zeros((8, 8, 3), np.uint8)
    hsv[..., 0] = np.repeat(h, 8).reshape(8, 8).T
    hsv[..., 1] = 255
    hsv[..., 2] = 255
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    seg = nks.segment(rgb, 2, seed=0, color_space="hsv", rgb=True)
    assert len(np.unique(seg.labels[:, :4])) == 1
    assert len(np.unique(seg.labels[:, 4:])) == 1


def test_normalize_balances_channels():
    # channel 0 varies in huge units but carries noise; channel 1 carries the classes
    rng = np.random.default_rng(1)
    truth = np.repeat([[0, 1]], 50, axis=0).repeat(25, axis=1)
    img = np.stack(
        [rng.normal(0, 1000, truth.shape), truth * 5.0 + rng.normal(0, 0.2, truth.shape)], axis=-1
    ).astype(np.float32)
    plain = nks.segment(img, 2, seed=0, channel_axis=-1)
    norm = nks.segment(img, 2, seed=0, channel_axis=-1, normalize=True)
    assert same_partition(norm.labels, truth)
    assert not same_partition(plain.labels, truth)


def test_spatial_weight_makes_regions_compact():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 40), dtype=np.uint8)  # pure noise: colour says nothing
    seg = nks.segment(img, 2, seed=0, spatial_weight=5.0)
    # with position dominating, the two clusters are two halves of the image
    left, right = seg.labels[:, :10], seg.labels[:, 30:]
    top, bottom = seg.labels[:10], seg.labels[30:]
    halves = [
        (np.unique(a).size == 1 and np.unique(b).size == 1 and a[0, 0] != b[0, 0])
        for a, b in ((left, right), (top, bottom))
    ]
    assert any(halves)


def test_texture_feature_separates_equal_mean_regions():
    rng = np.random.default_rng(0)
    # left: a smooth ramp from 68 to 188; right: pixels flickering between 68 and 188.
    # The intensities overlap completely; only the local texture tells the halves apart.
    img = np.tile(np.linspace(68, 188, 60)[:, None], (1, 60))
    img[:, 30:] = 128 + rng.choice([-60, 60], (60, 30))
    seg = nks.segment(img.astype(np.float32), 2, seed=0, texture_sigma=2.0, normalize=True)
    inner = seg.labels[:, 5:25], seg.labels[:, 35:55]
    assert np.unique(inner[0]).size == 1 and np.unique(inner[1]).size == 1
    assert inner[0][0, 0] != inner[1][0, 0]


def test_grayscale_real_image_and_16_bit():
    img = data.camera().astype(np.uint16) * 257
    seg = nks.segment(img, 4, seed=0)
    assert seg.params["method"] == "fast" and seg.recolored.dtype == np.uint16
    exact = nks.segment(img, 4, seed=0, sample_size=None)
    assert seg.compactness <= exact.compactness * 1.005
