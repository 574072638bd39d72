"""Hostile inputs to the core and the command line: each refused in one clear sentence, or handled."""

from __future__ import annotations

import re

import numpy as np
import pytest

import napari_kmeans_segment as nks


# -- 1. Lab/HSV/HED scale from the data, not the dtype --------------------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint32, np.int16, np.uint16])
@pytest.mark.parametrize("space", ["lab", "hed", "hsv"])
def test_color_space_scale_from_data_for_wide_integers(dtype, space):
    a = np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8)
    ref = nks.segment(a, 3, seed=0, color_space=space)
    s = nks.segment(a.astype(dtype), 3, seed=0, color_space=space)
    counts = np.bincount(s.labels.ravel(), minlength=4)[1:]
    assert counts.min() > 200, counts  # was [1 1 3598]: every pixel mapped to ~black
    np.testing.assert_array_equal(s.labels, ref.labels)


def test_color_space_uint16_above_255_uses_16_bit_white():
    a = np.random.default_rng(1).integers(0, 65535, (40, 40, 3)).astype(np.uint16)
    s = nks.segment(a, 3, seed=0, color_space="lab")
    assert s.model.feature_space.value_range == 65535.0


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.int64])
def test_color_space_negative_values_refused(dtype):
    a = np.zeros((60, 60, 3), dtype)
    a[:20] = 5
    a[20:30] = -5  # clipped to 0 these merged with the zeros: two identical centres
    with pytest.raises(ValueError, match="color_space='rgb'"):
        nks.segment(a, 3, seed=0, color_space="lab")
    nks.segment(a, 3, seed=0)  # rgb keeps working


# -- 4. save: a unique temporary, removed on failure; a folder is refused ------------------------
@pytest.fixture(scope="module")
def small_seg():
    img = np.random.default_rng(0).integers(0, 255, (30, 30, 3), dtype=np.uint8)
    return nks.segment(img, 3, seed=0)


def test_save_keeps_an_existing_dot_tmp_file(tmp_path, small_seg):
    (tmp_path / "m.json.tmp").write_text("someone's notes")
    small_seg.save(tmp_path / "m.json")
    assert (tmp_path / "m.json.tmp").read_text() == "someone's notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.json.tmp"]
    assert nks.load_model(tmp_path / "m.json").n_clusters == 3


def test_save_to_a_folder_is_refused_and_leaves_nothing(tmp_path, small_seg):
    (tmp_path / "sv").mkdir()
    with pytest.raises(ValueError, match="folder"):
        small_seg.save(tmp_path / "sv")
    with pytest.raises(ValueError, match="folder"):
        small_seg.model.save(tmp_path / "sv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sv"]


def test_save_failure_removes_its_temporary(tmp_path, small_seg, monkeypatch):
    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", full_disk)
    with pytest.raises(OSError):
        small_seg.save(tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []


# -- 5. messages that say what happened -------------------------------------------------------------
def test_values_collapsing_at_float_precision_are_not_called_constant():
    truth = np.random.default_rng(0).integers(0, 3, (20, 20))
    img = (np.array([0, 1, 2], np.int64) + 2**62)[truth]
    with pytest.raises(ValueError, match="precision") as e:
        nks.segment(img, 3, seed=0)
    assert "constant" not in str(e.value) and "4611686018427387906" in str(e.value)
    with pytest.raises(ValueError, match="constant"):  # a truly constant image still says so
        nks.segment(np.full((20, 20), 2**62, np.int64), 3, seed=0)


def test_per_plane_names_the_constant_plane():
    a = np.random.default_rng(0).random((3, 20, 20))
    a[1] = 0.5
    with pytest.raises(ValueError, match=r"Plane 1 .*constant"):
        nks.segment(a, 3, seed=0, per_plane=True)


def test_deeply_nested_json_is_not_a_model_file(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match="not a model file"):
        nks.load_model(p)


@pytest.mark.parametrize("blocks", [0, -1, 2.5, True])
def test_segment_lazy_sample_blocks_checked(blocks):
    da = pytest.importorskip("dask.array")
    img = da.from_array(np.random.default_rng(0).random((64, 64)), chunks=32)
    with pytest.raises(ValueError, match="sample_blocks"):
        nks.segment_lazy(img, 2, seed=0, sample_blocks=blocks)


def test_extract_objects_label_beyond_int64_is_a_value_error():
    lab = np.zeros((10, 10), np.uint64)
    lab[2:5, 2:5] = 1
    with pytest.raises(ValueError, match="label"):
        nks.extract_objects(lab, 2**64 - 1)


# -- 6. input that was silently accepted ------------------------------------------------------------
@pytest.mark.parametrize("group", [[1.0, 2.5], [True, 2], [1, 2.0]])
def test_merge_refuses_labels_that_are_not_whole_numbers(small_seg, group):
    with pytest.raises(TypeError, match="whole number"):
        small_seg.merge(group)
    assert small_seg.merge([np.int64(1), 2]).centers.shape[0] == 2  # integers still merge


def test_suggest_k_refuses_fractional_k():
    img = np.random.default_rng(0).random((40, 40))
    with pytest.raises(TypeError, match="whole number"):
        nks.suggest_k(img, [2.5, 3.9], seed=0)


def test_suggest_k_refuses_k_above_the_pixels_and_names_it():
    img = np.random.default_rng(0).random((50, 50))
    with pytest.raises(ValueError, match="70000"):
        nks.suggest_k(img, [2, 70000], seed=0)


def test_suggest_k_says_when_it_stops_at_the_distinct_colors():
    img = np.random.default_rng(0).integers(0, 3, (30, 30)).astype(np.uint8)
    with pytest.warns(UserWarning, match="K = 4"):
        res = nks.suggest_k(img, range(2, 6), seed=0)
    assert res.ks == [2, 3]


def test_nan_in_a_mask_is_not_selected():
    rng = np.random.default_rng(0)
    img = rng.random((40, 40))
    mask = np.full(img.shape, np.nan)
    mask[:20] = 1.0
    s = nks.segment(img, 2, seed=0, mask=mask)
    assert (s.labels[20:] == 0).all() and (s.labels[:20] > 0).all()


def test_rgb_with_a_channel_axis_that_is_not_color_is_refused():
    img = np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="channel_axis=0"):
        nks.segment(img, 3, seed=0, channel_axis=0, rgb=True)
    s = nks.segment(np.moveaxis(img, 2, 0), 3, seed=0, channel_axis=0, rgb=True)
    assert s.labels.shape == (60, 60)


# -- 7. "auto" on a small image with a large K: the fast path, not minutes of uncancellable cv2 --------
def test_auto_uses_the_fast_path_when_k_is_large():
    img = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    assert nks.segment(img, 16, seed=0, attempts=1).params["method"] == "exact"
    big_k = nks.segment(img, 17, seed=0, attempts=1)
    assert big_k.params["method"] == "fast"
    assert len(np.unique(big_k.labels)) == 17
    assert nks.segment(img, 17, seed=0, attempts=1, sample_size=None).params["method"] == "exact"


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_pixels_get_their_nearest_center_next_to_a_far_cluster(dtype):
    """A dim background at 100 and 105 next to bright cells at 60000 (16-bit fluorescence):
    float32 rounding of |c|^2 (~64 at 60000) swamped the gap between the close centres, and
    8-23% of the pixels were labelled with a farther centre (counts and centres drifted)."""
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.normal(100, 2, 400_000), rng.normal(105, 2, 400_000), rng.normal(60_000, 2, 200_000)]
    )
    img = values.astype(dtype).reshape(1000, 1000)
    seg = nks.segment(img, 3, seed=0)
    c = seg.centers.ravel().astype(np.float64)
    v = img.ravel().astype(np.float64)
    d = np.abs(v[:, None] - c[None])
    nearest = d.argmin(axis=1) + 1
    wrong = seg.labels.ravel() != nearest
    if dtype == np.uint16:  # integer values: never on a midpoint, every pixel exact
        assert not wrong.any()
    else:  # float features: only values at the midpoint itself, within float32 rounding
        assert wrong.mean() < 1e-3
        gap = np.abs(d[wrong, 0] - d[wrong, 1])
        assert (gap < 1e-3 * np.abs(c).max() * 1e-3).all()
    np.testing.assert_allclose(np.sort(c)[:2], [100, 105], atol=0.5)


def test_three_values_far_apart_get_three_clusters():
    """{0, 7, 1e5}: the fast path found the perfect centres, then the float32 nearest-centre
    pass merged 0 and 7 under one centre and left label 1 empty."""
    img = np.repeat(np.array([0.0, 7.0, 1e5], np.float32), 30_000).reshape(300, 300)
    seg = nks.segment(img, 3, seed=0)
    assert seg.counts.tolist() == [30_000, 30_000, 30_000]
    np.testing.assert_allclose(seg.centers.ravel(), [0, 7, 1e5], atol=1e-3 * 1e5 * 1e-3)


@pytest.mark.parametrize("k", [5, 8])
def test_small_float_images_are_not_stopped_early_by_epsilon(k):
    """ "auto" ran the tutorial's recipe on small images, float ones too, whose epsilon (0.2,
    in image units) stops after a step or two on values in 0..1: 31-33% worse than the same
    image as uint8, and 6-7% of the pixels away from their own centre."""
    from skimage import data

    u8 = data.coffee()[:100, :150]
    f32 = u8.astype(np.float32) / 255
    seg_f, seg_u = nks.segment(f32, k, seed=0), nks.segment(u8, k, seed=0)
    assert seg_f.params["method"] == "fast" and seg_u.params["method"] == "exact"
    assert seg_f.compactness * 255**2 <= 1.01 * seg_u.compactness
    np.testing.assert_array_equal(seg_f.model.apply(f32).labels, seg_f.labels)


@pytest.mark.parametrize(
    "shape, words", [((1000,), "at least two spatial axes"), ((0, 10), "empty (shape (0, 10))")]
)
def test_lazy_images_are_refused_like_in_memory_ones(shape, words):
    """A 1-D dask array was clustered (in memory it is refused), and an empty one was named
    by the internal channels-last shape (0, 1, 1)."""
    import dask.array as da

    for image in (np.zeros(shape), da.zeros(shape)):
        with pytest.raises(ValueError, match=re.escape(words)):
            nks.segment(image, 3)
