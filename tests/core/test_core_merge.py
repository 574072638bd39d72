"""Segmentation owns its operations: merge, masked, extract on every kind of result."""

import dataclasses

import dask.array as da
import numpy as np
import pytest
from conftest import blocks_image

import napari_kmeans_segment as nks

COLORS = ((20, 30, 200), (200, 40, 40), (30, 190, 60), (230, 230, 230))


def _rgb(seed=0):
    return blocks_image((60, 90), COLORS, seed=seed)[0]  # (60, 90, 3) uint8, 4 bands


def _as_levels(x):
    return list(x) if isinstance(x, list | tuple) else [x]


def _channels_last(rec, axis):
    rec = np.array(rec)  # a copy: the expectation is built in it
    return rec[..., None] if axis is None else np.moveaxis(rec, axis, -1)


def _to_dtype(value, dtype):
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(value), info.min, info.max).astype(dtype)
    return np.asarray(value).astype(dtype)


def check_merge(seg, merged, group, axis):
    """``merged`` is ``seg`` with ``group`` merged; ``axis`` is the image's channel axis."""
    target = min(group)
    rows = np.isin(seg.index, group)
    w = seg.counts[rows].astype(float)
    center = (seg.centers[rows] * w[:, None]).sum(0) / w.sum()
    keep = ~np.isin(seg.index, sorted(group)[1:])
    assert list(merged.index) == list(seg.index[keep])
    row = list(merged.index).index(target)
    np.testing.assert_allclose(merged.centers[row], center)
    assert merged.counts[row] == seg.counts[rows].sum()
    assert merged.counts.sum() == seg.counts.sum()
    n_color = seg.centers.shape[1]
    for lab0, rec0, lab1, rec1 in zip(
        _as_levels(seg.labels),
        _as_levels(seg.recolored),
        _as_levels(merged.labels),
        _as_levels(merged.recolored),
        strict=True,
    ):
        assert isinstance(lab1, da.Array) == isinstance(lab0, da.Array)  # lazy stays lazy
        assert isinstance(rec1, da.Array) == isinstance(rec0, da.Array)
        lab0, lab1 = np.asarray(lab0), np.asarray(lab1)
        sel = np.isin(lab0, group)
        assert np.array_equal(lab1, np.where(sel, target, lab0)) and lab1.dtype == lab0.dtype
        want = _channels_last(rec0, axis)
        want[..., :n_color][sel] = _to_dtype(center, want.dtype)[: want.shape[-1]]
        got = _channels_last(rec1, axis)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    # the model reflects the merge
    model = merged.model
    assert model.n_clusters == seg.feature_centers.shape[0]
    assert sorted(set(model.label_map.tolist())) == list(merged.index)


def check_apply(merged, image, **kw):
    again = merged.model.apply(image, **kw)
    assert np.array_equal(again.labels, np.asarray(merged.labels))
    assert np.array_equal(again.recolored, np.asarray(merged.recolored))
    assert list(again.index) == list(merged.index)


def _rgba():
    img = _rgb()
    alpha = np.random.default_rng(1).integers(1, 256, img.shape[:2], dtype=np.uint8)
    alpha[:5, :7] = 0  # fully transparent: left out (label 0), pixels kept as they were
    return np.dstack([img, alpha])


CASES = {
    # name: (image, segment kwargs, channel axis of the image)
    "gray 2D": (lambda: _rgb().mean(-1).astype(np.uint8), {}, None),
    "RGB": (_rgb, {}, -1),
    "RGBA": (_rgba, {}, -1),
    "3D stack": (lambda: np.stack([_rgb(s) for s in range(3)]), {}, -1),
    "channels last": (lambda: _rgb()[..., :2], {"channel_axis": -1}, -1),
    "channels first": (lambda: np.moveaxis(_rgb(), -1, 0), {"channel_axis": 0}, 0),
    "float gray": (lambda: _rgb().mean(-1).astype(np.float32) / 255, {}, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_merge_updates_labels_recolored_centers_counts_and_model_together(case):
    make, kw, axis = CASES[case]
    image = make()
    seg = nks.segment(image, 4, seed=0, sample_size=1000, **kw)
    before = (seg.labels.copy(), seg.recolored.copy(), seg.centers.copy(), seg.counts.copy())
    merged = seg.merge([3, 1])
    check_merge(seg, merged, [1, 3], axis)
    check_apply(merged, image)
    # the input result is untouched
    for a, b in zip(before, (seg.labels, seg.recolored, seg.centers, seg.counts), strict=True):
        assert np.array_equal(a, b)
    assert seg.label_map is None
    # a merged cluster merges again, and the model still reproduces the labels
    twice = merged.merge([1, 4])
    check_merge(merged, twice, [1, 4], axis)
    check_apply(twice, image)
    assert list(twice.index) == [1, 2]


def test_merge_keeps_label_0_pixels_as_they_were():
    image = _rgb()
    mask = np.ones(image.shape[:2], bool)
    mask[10:30, 20:50] = False
    seg = nks.segment(image, 4, seed=0, sample_size=1000, mask=mask)
    merged = seg.merge([2, 3, 4])
    check_merge(seg, merged, [2, 3, 4], -1)
    assert np.array_equal(merged.recolored[~mask], image[~mask])
    check_apply(merged, image, mask=mask)


def test_merge_rgba_keeps_alpha_and_transparent_pixels():
    image = _rgba()
    seg = nks.segment(image, 4, seed=0, sample_size=1000)
    merged = seg.merge([1, 2])
    assert np.array_equal(merged.recolored[..., 3], image[..., 3])
    assert np.array_equal(merged.recolored[:5, :7], image[:5, :7])
    assert (merged.labels[:5, :7] == 0).all()


def test_merge_of_a_dask_result_stays_lazy():
    image = _rgb()
    seg = nks.segment(da.from_array(image, chunks=(30, 45, 3)), 4, seed=0)
    merged = seg.merge([2, 4])
    assert isinstance(merged.labels, da.Array) and isinstance(merged.recolored, da.Array)
    check_merge(seg, merged, [2, 4], -1)
    check_apply(merged, image)
    masked = merged.masked(da.from_array(image, chunks=(30, 45, 3)), [2])
    assert isinstance(masked, da.Array)
    assert np.array_equal(masked.compute(), nks.mask_clusters(image, merged.labels.compute(), [2]))


def test_merge_of_multiscale_results():
    image = _rgb()
    levels = [image, image[::2, ::2]]
    segs = nks.segment_multiscale(levels, 4, seed=0)
    for s in segs:  # a list of results: each level merges on its own
        check_merge(s, s.merge([1, 2]), [1, 2], -1)
    # one result whose labels/recolored are lists of levels (as the widget builds it)
    one = dataclasses.replace(segs[0], labels=[s.labels for s in segs], recolored=[s.recolored for s in segs])
    merged = one.merge([1, 2])
    assert isinstance(merged.labels, list) and len(merged.labels) == 2
    check_merge(one, merged, [1, 2], -1)
    check_apply(dataclasses.replace(merged, labels=merged.labels[0], recolored=merged.recolored[0]), image)
    twice = merged.merge([1, 3])
    check_merge(merged, twice, [1, 3], -1)
    masked = twice.masked(levels, [1])
    assert [m.shape for m in masked] == [lv.shape for lv in levels]
    assert (np.asarray(masked[1])[np.asarray(twice.labels[1]) == 1] == 0).all()
    ext = twice.extract(1)
    assert [e.shape for e in ext] == [lv.shape[:2] for lv in levels]
    with pytest.raises(ValueError, match="levels"):
        twice.masked(image, [1])


def test_merge_refuses_bad_groups():
    seg = nks.segment(_rgb(), 4, seed=0, sample_size=1000)
    with pytest.raises(ValueError, match="at least two"):
        seg.merge([2])
    with pytest.raises(ValueError, match="No cluster 7"):
        seg.merge([1, 7])
    with pytest.raises(ValueError, match="No cluster 0"):
        seg.merge([0, 1])
    with pytest.raises(ValueError, match="No cluster 3"):  # merged away
        seg.merge([1, 3]).merge([2, 3])


def test_results_are_immutable():
    seg = nks.segment(_rgb(), 3, seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        seg.labels = seg.labels[::-1]


def test_merged_model_survives_a_save(tmp_path):
    image = _rgb()
    merged = nks.segment(image, 4, seed=0, sample_size=1000).merge([1, 4])
    model = nks.load_model(merged.save(tmp_path / "m.json"))
    again = model.apply(image)
    assert np.array_equal(again.labels, merged.labels)
    assert np.array_equal(again.recolored, merged.recolored)
    # the same as merging the saved model by hand (the widget's path)
    seg = nks.segment(image, 4, seed=0, sample_size=1000)
    by_hand = seg.model.merged([1, 4], merged.centers[0])
    np.testing.assert_array_equal(by_hand.label_map, merged.model.label_map)
    np.testing.assert_allclose(by_hand.centers, merged.model.centers)


@pytest.mark.parametrize("case", ["gray 2D", "RGB", "RGBA", "channels first"])
def test_masked_sets_hidden_clusters_to_0_and_keeps_alpha(case):
    make, kw, axis = CASES[case]
    image = make()
    seg = nks.segment(image, 4, seed=0, sample_size=1000, **kw)
    out = seg.masked(image, [2, 4])
    want = _channels_last(image, axis)
    n_color = seg.centers.shape[1]
    want[..., :n_color][np.isin(seg.labels, [2, 4])] = 0
    assert np.array_equal(_channels_last(out, axis), want)
    assert not np.shares_memory(out, image)
    assert np.array_equal(seg.masked(image, []), image)
    with pytest.raises(ValueError, match="do not match"):
        seg.masked(image[:, :10], [1])


def test_extract_mask_objects_and_lazy():
    image = _rgb()
    seg = nks.segment(image, 4, seed=0, sample_size=1000)
    mask = seg.extract(2)
    assert mask.dtype == np.uint8 and np.array_equal(mask.astype(bool), seg.labels == 2)
    objects = seg.extract(2, objects=True)
    assert objects.max() >= 1 and np.array_equal(objects > 0, seg.labels == 2)
    with pytest.raises(ValueError, match="No cluster 9"):
        seg.extract(9)
    lazy = nks.segment(da.from_array(image, chunks=(30, 45, 3)), 4, seed=0)
    m = lazy.extract(3)
    assert isinstance(m, da.Array)
    assert np.array_equal(m.compute(), (lazy.labels.compute() == 3).astype(np.uint8))
    objs = lazy.extract(3, objects=True, min_size=5)
    assert isinstance(objs, np.ndarray) and (np.bincount(objs.ravel())[1:] >= 5).all()


def test_free_functions_accept_dask_labels():
    image = _rgb()
    seg = nks.segment(da.from_array(image, chunks=(30, 45, 3)), 4, seed=0)
    labels, index, centers, counts = nks.merge_clusters(
        seg.labels, [1, 2], seg.index, seg.centers, seg.counts
    )
    assert isinstance(labels, da.Array)
    assert np.array_equal(labels.compute(), seg.merge([1, 2]).labels.compute())
    np.testing.assert_allclose(centers, seg.merge([1, 2]).centers)


@pytest.mark.parametrize(
    "shape, channel_axis, n_color",
    [
        ((300, 400), None, 1),  # gray
        ((300, 400, 3), -1, 3),  # RGB
        ((300, 400, 4), -1, 3),  # RGBA: alpha kept
        ((3, 200, 300), 0, 3),  # channels first
        ((4, 2, 100, 200), 1, 2),  # (Z, C, Y, X): a channel axis in the middle
    ],
)
@pytest.mark.parametrize("lab_dtype", [np.uint8, np.uint16])
def test_fill_and_member_on_large_images_match_numpy(shape, channel_axis, n_color, lab_dtype):
    """The threaded copyto fill and the cv2.LUT membership used on large images (hide and
    merge took seconds on 16 MP) give exactly what np.where / np.isin give."""
    from napari_kmeans_segment._core.model.clusters import fill, member

    rng = np.random.default_rng(0)
    data = rng.integers(0, 60000, shape).astype(np.uint16)
    spatial = shape if channel_axis is None else tuple(np.delete(shape, channel_axis))
    lab = rng.integers(0, 7, spatial).astype(lab_dtype)
    lab[0, 0] = 300 if lab_dtype == np.uint16 else 255  # past the end of the lookup table
    sel = member(lab, [2, 5])
    np.testing.assert_array_equal(sel, np.isin(lab, [2, 5]))
    for value in ([0], [7, 8, 9][:n_color]):
        out = fill(data, sel, np.asarray(value), n_color, channel_axis)
        view = data if channel_axis is None else np.moveaxis(data, channel_axis, -1)
        want = np.array(view, copy=True)
        if channel_axis is None:
            want[sel] = value[0]
        else:
            want[sel, :n_color] = np.broadcast_to(np.asarray(value), (n_color,))
            want = np.moveaxis(want, -1, channel_axis)
        np.testing.assert_array_equal(out, want)
        assert out is not data and not np.shares_memory(out, data)


@pytest.mark.parametrize(
    ("group", "center", "error", "words"),
    [
        ([2], [150.0], ValueError, "at least two"),
        ([2, 7], [150.0], ValueError, "No cluster 7"),
        ([2, 2.5], [150.0], TypeError, "whole number"),
        ([2, 3], [150.0, 1.0], ValueError, "1 finite value"),
        ([2, 3], [float("nan")], ValueError, "finite"),
    ],
)
def test_a_model_merge_of_unknown_labels_or_a_wrong_color_is_refused(group, center, error, words):
    """``KMeansModel.merged`` checks its group and colour as ``Segmentation.merge`` does (it
    wrote a label map with a label the model never had, and any colour, without a word)."""
    image = np.zeros((20, 30), np.uint8)
    image[:, 10:20] = 100
    image[:, 20:] = 200
    model = nks.segment(image, 3, seed=0).model
    with pytest.raises(error, match=words):
        model.merged(group, center)
    assert model.labels == [1, 2, 3]
