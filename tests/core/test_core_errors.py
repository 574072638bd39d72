"""Bad input: a ValueError/TypeError that says what to do, never a cv2.error."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import napari_kmeans_segment as nks


@pytest.mark.parametrize(
    ("image", "kwargs", "exc", "words"),
    [
        (None, {}, TypeError, "No image"),
        (np.zeros((0, 5)), {}, ValueError, "empty"),
        (np.arange(10), {}, ValueError, "two\nspatial".split("\n")[0]),
        (np.zeros((5, 5), complex), {}, TypeError, "complex"),
        (np.array([["a", "b"], ["c", "d"]]), {}, TypeError, "string"),
        (np.zeros((5, 5), object), {}, TypeError, "object"),
        (np.zeros((1, 1)), {}, ValueError, "pixel"),
        (np.zeros((8, 8)), {}, ValueError, "distinct"),
        (np.full((8, 8), np.nan), {}, ValueError, "No pixel is left"),
        (np.arange(64.0).reshape(8, 8), {"n_clusters": 1}, ValueError, "at least 2"),
        (np.arange(64.0).reshape(8, 8), {"n_clusters": 65}, ValueError, "more than the 64"),
        (np.arange(64.0).reshape(8, 8), {"n_clusters": 2.5}, TypeError, "whole number"),
        (np.arange(64.0).reshape(8, 8), {"attempts": 0}, ValueError, "attempt"),
        (np.arange(64.0).reshape(8, 8), {"max_iter": 0}, ValueError, "iteration"),
        (np.arange(64.0).reshape(8, 8), {"epsilon": -1}, ValueError, ">= 0"),
        (np.arange(64.0).reshape(8, 8), {"init": "pp"}, ValueError, "choose one of"),
        (np.arange(64.0).reshape(8, 8), {"mask": np.zeros((8, 8))}, ValueError, "No pixel"),
        (np.arange(64.0).reshape(8, 8), {"mask": np.ones((4, 4))}, ValueError, "same grid"),
        (np.arange(64.0).reshape(8, 8), {"color_space": "lab"}, ValueError, "RGB"),
        (np.arange(64.0).reshape(8, 8), {"color_space": "xyz"}, ValueError, "choose one of"),
        (np.arange(64.0).reshape(8, 8), {"sample_size": 1}, ValueError, "smaller than"),
        (np.arange(64.0).reshape(8, 8), {"spatial_weight": -1}, ValueError, ">= 0"),
        (np.arange(64.0).reshape(8, 8), {"per_plane": True}, ValueError, "stack"),
        (np.arange(64.0).reshape(8, 8), {"seed": -3}, ValueError, "non-negative"),
        (np.zeros((4, 4, 2)), {"rgb": True}, ValueError, "3 or 4"),
        (np.zeros((4, 4, 2)), {"channel_axis": 5}, ValueError, "out of range"),
    ],
)
def test_bad_input_says_what_to_do(image, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        nks.segment(image, **{"n_clusters": 3, **kwargs})


def test_exact_run_that_cannot_fit_in_memory_is_refused(monkeypatch):
    from napari_kmeans_segment._core.fit import numerics

    monkeypatch.setattr(numerics, "available_memory", lambda: 1000)
    with pytest.raises(ValueError, match="fast path"):
        nks.segment(np.arange(10000.0).reshape(100, 100), 3, sample_size=None)


def test_model_files_that_are_not_models(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("not json")
    with pytest.raises(ValueError, match="not a model file"):
        nks.load_model(p)
    p.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a napari-kmeans-segment model"):
        nks.load_model(p)
    p.write_text('{"format": "napari-kmeans-segment model", "format_version": 99}')
    with pytest.raises(ValueError, match="format version"):
        nks.load_model(p)
    with pytest.raises(ValueError, match="No model file"):
        nks.load_model(tmp_path / "missing.json")


def test_model_with_other_channel_count(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)
    m = nks.segment(rgb, 3, seed=0).model
    with pytest.raises(ValueError, match="channel"):
        m.apply(np.zeros((20, 20), np.uint8))


shapes = st.lists(st.integers(1, 6), min_size=2, max_size=5).map(tuple)
dtypes = st.sampled_from([np.uint8, np.uint16, np.int16, np.float32, np.float64])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_every_call_errors_cleanly_or_returns_valid_labels(data):
    shape = data.draw(shapes)
    dtype = data.draw(dtypes)
    elements = (
        st.one_of(st.floats(-1e3, 1e3, width=32), st.sampled_from([np.nan, np.inf, -np.inf]))
        if np.dtype(dtype).kind == "f"
        else None
    )
    img = data.draw(hnp.arrays(dtype, shape, elements=elements))
    k = data.draw(st.integers(2, 6))
    seed = data.draw(st.integers(0, 1000))
    sample_size = data.draw(st.sampled_from([None, "auto", 8]))
    kw = dict(seed=seed, rgb=False, sample_size=sample_size, attempts=2, max_iter=10)
    try:
        seg = nks.segment(img, k, **kw)
    except (ValueError, TypeError) as e:
        assert str(e)  # a sentence, not an empty error
        return
    assert seg.labels.shape == img.shape
    assert seg.labels.min() >= 0 and seg.labels.max() <= k
    excluded = ~np.isfinite(img) if img.dtype.kind == "f" else np.zeros(img.shape, bool)
    assert np.array_equal(seg.labels == 0, excluded)
    assert seg.recolored.shape == img.shape and seg.recolored.dtype == img.dtype
    again = nks.segment(img, k, **kw)
    assert np.array_equal(seg.labels, again.labels)
