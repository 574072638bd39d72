"""Lazy labels through one colour lookup table: identical to model.apply, table built once."""

import dask.array as da
import numpy as np
import pytest

import napari_kmeans_segment as nks
from napari_kmeans_segment._core.lazy import _channels_last, apply_lazy


def _lazy(model, image, chunks, rgb):
    arr, is_rgb, layout = _channels_last(da.from_array(image, chunks=chunks), rgb, None)
    return apply_lazy(model, arr.rechunk({arr.ndim - 1: -1}), is_rgb, layout, None, use_table=True)


def _photo(rng, shape, dtype, top):
    # a few colour populations plus noise, so the centres are not arbitrary
    base = rng.integers(0, top, (4, shape[-1]) if len(shape) == 3 else (4,))
    pick = rng.integers(0, 4, shape[:2])
    noise = rng.normal(0, top / 20, shape)
    return np.clip(base[pick] + noise, 0, top - 1).astype(dtype)


@pytest.fixture(scope="module")
def rgb_model():
    rng = np.random.default_rng(1)
    img = _photo(rng, (120, 90, 3), np.uint8, 256)
    return img, nks.segment(img, 5, seed=0).model


def _check_blocks(model, image, rgb, chunks):
    labels, recolored = _lazy(model, image, chunks, rgb)
    ref = model.apply(image, rgb=rgb)
    got = labels.compute()
    assert got.dtype == ref.labels.dtype
    np.testing.assert_array_equal(got, ref.labels)
    np.testing.assert_array_equal(recolored.compute(), ref.recolored)


def test_rgb_uint8_random_blocks_match_model_apply(rgb_model):
    _, model = rgb_model
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (150, 110, 3), np.uint8)  # every kind of colour, not only fitted ones
    _check_blocks(model, image, True, (37, 29, 3))


def test_rgba_transparent_pixels_get_zero(rgb_model):
    _, model = rgb_model
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (64, 80, 4), np.uint8)
    image[..., 3][rng.random((64, 80)) < 0.3] = 0
    labels, _ = _lazy(model, image, (16, 32, 4), True)
    got = labels.compute()
    assert (got[image[..., 3] == 0] == 0).all()
    np.testing.assert_array_equal(got, model.apply(image, rgb=True).labels)


@pytest.mark.parametrize("dtype, top", [(np.uint8, 256), (np.uint16, 65536)])
def test_gray_8_and_16_bit_match_model_apply(dtype, top):
    rng = np.random.default_rng(4)
    fit_img = _photo(rng, (100, 100), dtype, top)
    model = nks.segment(fit_img, 4, seed=0).model
    image = rng.integers(0, top, (90, 70)).astype(dtype)
    _check_blocks(model, image, False, (30, 25))


def test_merged_model_writes_merged_labels(rgb_model):
    img, model = rgb_model
    merged = model.merged([2, 4], model.centers[1])
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (60, 50, 3), np.uint8)
    labels, recolored = _lazy(merged, image, (20, 20, 3), True)
    ref = merged.apply(image, rgb=True)
    np.testing.assert_array_equal(labels.compute(), ref.labels)
    np.testing.assert_array_equal(recolored.compute(), ref.recolored)
    assert 4 not in np.unique(labels.compute())


def test_float_images_still_label_per_block():
    rng = np.random.default_rng(6)
    image = rng.random((40, 30)).astype(np.float32)
    image[rng.random((40, 30)) < 0.1] = np.nan
    model = nks.segment(image, 3, seed=0).model
    labels, _ = _lazy(model, image, (10, 10), False)
    np.testing.assert_array_equal(labels.compute(), model.apply(image).labels)


def test_the_table_is_one_task_shared_by_every_block(rgb_model):
    _, model = rgb_model
    image = np.zeros((64, 64, 3), np.uint8)
    labels, _ = _lazy(model, image, (16, 16, 3), True)
    graph = dict(labels.__dask_graph__())
    table_keys = [k for k in graph if "label_table" in str(k)]
    assert len(table_keys) == 1
    # the model is in that one task, not in the 16 block tasks
    import pickle

    block_bytes = [len(pickle.dumps(v)) for k, v in graph.items() if k not in table_keys]
    assert max(block_bytes) < len(pickle.dumps(model))


def test_suggest_k_reports_progress_to_the_end_and_can_be_cancelled():
    from napari_kmeans_segment._core.features.image import Cancelled

    img = np.random.default_rng(7).integers(0, 256, (60, 60, 3), np.uint8)
    seen = []
    res = nks.suggest_k(img, range(2, 6), seed=0, progress=lambda f, m: seen.append(f))
    assert res.ks == [2, 3, 4, 5] and seen[-1] == 1.0 and seen == sorted(seen)
    calls = []
    with pytest.raises(Cancelled):
        nks.suggest_k(img, range(2, 6), seed=0, cancel=lambda: calls.append(1) or len(calls) > 3)


def test_suggest_k_refuses_unknown_options():
    img = np.random.default_rng(8).integers(0, 256, (30, 30, 3), np.uint8)
    with pytest.raises(TypeError, match="colour_space"):
        nks.suggest_k(img, range(2, 4), seed=0, colour_space="lab")


def test_signed_16_bit_gray_with_negative_values_matches_model_apply():
    rng = np.random.default_rng(9)
    image = (rng.normal(0, 8000, (80, 60)) + rng.integers(-2, 2, (80, 60)) * 10000).astype(np.int16)
    model = nks.segment(image, 3, seed=0).model
    _check_blocks(model, image, False, (20, 30))


def test_the_table_is_used_only_where_it_pays(rgb_model):
    # a 2**24-colour table takes seconds to build: a small RGB image keeps the per-block path,
    # while a 256-entry gray table is used as soon as the image has 256 pixels
    _, model = rgb_model
    small = da.from_array(np.zeros((64, 64, 3), np.uint8), chunks=(16, 16, 3))
    labels, _ = apply_lazy(model, small, True, "rgb", None)
    assert not [k for k in dict(labels.__dask_graph__()) if "label_table" in str(k)]
    gray = np.random.default_rng(10).integers(0, 256, (40, 40), np.uint8)
    gmodel = nks.segment(gray, 3, seed=0).model
    arr = da.from_array(gray[..., None], chunks=(20, 20, 1))
    labels, _ = apply_lazy(gmodel, arr, False, "gray", None)
    assert [k for k in dict(labels.__dask_graph__()) if "label_table" in str(k)]
    np.testing.assert_array_equal(labels.compute(), gmodel.apply(gray).labels)


def test_model_apply_labels_dask_and_multiscale_images_as_it_labels_numpy_ones():
    """One apply for every kind of array: a dask array and the levels of a multiscale image
    get, block by block, exactly the labels and colours the numpy image gets."""
    from skimage import data

    image = data.coffee()
    model = nks.segment(image, 4, seed=0).model
    want = model.apply(image)
    lazy = model.apply(da.from_array(image, chunks=(128, 256, 3)))
    assert lazy.params["lazy"] and lazy.params["estimated"]
    np.testing.assert_array_equal(lazy.labels.compute(), want.labels)
    np.testing.assert_array_equal(lazy.recolored.compute(), want.recolored)
    np.testing.assert_array_equal(lazy.counts, want.counts)  # fewer pixels than the sample: all read
    levels = [image, image[::2, ::2], image[::4, ::4]]
    multi = model.apply([da.from_array(lv, chunks=(100, 100, 3)) for lv in levels], multiscale=True)
    assert len(multi.labels) == len(multi.recolored) == 3
    for labels, recolored, level in zip(multi.labels, multi.recolored, levels):
        np.testing.assert_array_equal(labels.compute(), model.apply(level).labels)
        np.testing.assert_array_equal(recolored.compute(), model.apply(level).recolored)
    np.testing.assert_array_equal(multi.counts, np.rint(model.apply(levels[-1]).counts * 16))
    # channels first: only the spatial axes are sampled, the recoloured image keeps the layout
    first = model.apply(da.from_array(np.moveaxis(image, -1, 0), chunks=(3, 128, 128)), channel_axis=0)
    np.testing.assert_array_equal(first.labels.compute(), want.labels)
    np.testing.assert_array_equal(np.moveaxis(first.recolored.compute(), 0, -1), want.recolored)
    with pytest.raises(ValueError, match="mask"):
        model.apply(da.from_array(image), mask=np.ones(image.shape[:2], bool))


def test_lazy_apply_estimates_counts_from_a_strided_sample_of_the_spatial_axes(monkeypatch):
    from napari_kmeans_segment._core.model import apply

    monkeypatch.setattr(apply, "SAMPLE_PIXELS", 5_000)
    rng = np.random.default_rng(3)
    image = _photo(rng, (200, 240, 3), np.uint8, 256)
    model = nks.segment(image, 3, seed=0).model
    want = np.bincount(model.apply(image).labels.ravel(), minlength=4)[1:]
    got = model.apply(da.from_array(np.moveaxis(image, -1, 0), chunks=(3, 50, 60)), channel_axis=0)
    assert got.counts.sum() == pytest.approx(image.shape[0] * image.shape[1], rel=0.02)
    np.testing.assert_allclose(got.counts / want, 1, atol=0.1)
