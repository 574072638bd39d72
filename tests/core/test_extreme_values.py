"""Extreme numbers: no crash, correct clusters or a clear ValueError.

Calls that used to kill the process (segfault in cv2.kmeans on values that are finite in
float64 but inf in float32) run in a child process, so a crash fails the test instead of
ending pytest.
"""

import textwrap

import numpy as np
import pytest
from conftest import same_partition
from fuzz_cases import run_python

import napari_kmeans_segment as nks


def run_child(code: str, timeout: float = 120.0) -> str:
    rc, out, err = run_python(textwrap.dedent(code), timeout=timeout)
    assert rc == 0 and "PASSED" in out, (
        f"child {'timed out' if rc == 'timeout' else f'exited with {rc}'}"
        f"{' (segfault)' if rc == -11 else ''}:\n{out[-1500:]}\n{err[-2500:]}"
    )
    return out


def test_plus_minus_1e308_gives_three_clusters_not_a_segfault():
    # regression: segment(np.tile([-1e308, 0, 1e308], (4, 4)), 3) crashed the process
    run_child("""
        import numpy as np, napari_kmeans_segment as nks
        from conftest import same_partition
        img = np.tile([-1e308, 0.0, 1e308], (4, 4))
        truth = np.tile([0, 1, 2], (4, 4))
        for kw in ({}, {"normalize": True}, {"sample_size": 5}):
            seg = nks.segment(img, 3, seed=0, **kw)
            assert same_partition(seg.labels, truth), (kw, seg.labels)
            assert np.allclose(seg.centers.ravel(), [-1e308, 0.0, 1e308], rtol=1e-6), seg.centers
            assert np.array_equal(seg.recolored, img), seg.recolored
        big = np.tile([-1.7976931348623157e308, 1.7976931348623157e308], (150, 150))
        seg = nks.segment(big, 2, seed=0)          # fast path on 45,000 pixels
        assert seg.params["method"] != "exact"
        assert same_partition(seg.labels, np.tile([0, 1], (150, 150)))
        assert np.isfinite(seg.centers).all() and np.isfinite(seg.compactness)
        print("PASSED")
    """)


def test_values_beyond_float32_cluster_correctly():
    # regression: a float64 layer with +-1e39 killed napari (exit 139)
    run_child("""
        import numpy as np, napari_kmeans_segment as nks
        from conftest import same_partition
        rng = np.random.default_rng(0)
        truth = rng.integers(0, 3, (20, 30))
        img = np.array([-1e39, 0.0, 1e39])[truth] * (1 + 1e-3 * rng.standard_normal((20, 30)))
        seg = nks.segment(img, 3, seed=0)
        assert same_partition(seg.labels, truth)
        assert np.allclose(seg.centers.ravel(), [-1e39, 0.0, 1e39], rtol=1e-2, atol=1e35)
        rgb = np.repeat(img[..., None], 3, axis=2) + 1e39  # colours: 0, 1e39 and 2e39 grey
        seg = nks.segment(rgb, 3, seed=0, color_space="lab")
        assert same_partition(seg.labels, truth)
        print("PASSED")
    """)


def test_values_beyond_float32_on_one_side_give_clusters_or_advice():
    # regression: values beyond float32 on one side gave AxisError/IndexError instead of advice
    run_child("""
        import numpy as np, napari_kmeans_segment as nks
        from conftest import same_partition
        img = np.tile([0.0, 1.0, 2e39], (4, 4))
        seg = nks.segment(img, 2, seed=0)
        assert same_partition(seg.labels, img > 1e30)
        # 0 and 1 cannot be told apart next to 2e39 in the float32 k-means works in: say so
        try:
            nks.segment(img, 3, seed=0)
        except ValueError as e:
            msg = str(e)
            assert "distinct" in msg and "choose" in msg.lower(), msg
        else:
            raise AssertionError("K=3 on {0, 1, 2e39} must be refused with advice")
        img = np.tile([0.0, 1.0, 2.0, 3e38, 1e40], (8, 4))
        seg = nks.segment(img, 2, seed=0)
        assert same_partition(seg.labels, img > 1e39)
        print("PASSED")
    """)


def test_infinite_spatial_weight_or_texture_sigma_is_refused():
    # regression: segment(img, 3, spatial_weight=inf) crashed the process
    run_child("""
        import numpy as np, napari_kmeans_segment as nks
        img = np.random.default_rng(0).random((16, 16))
        for kw in ({"spatial_weight": float("inf")}, {"texture_sigma": float("inf")},
                   {"spatial_weight": float("nan")}, {"spatial_weight": 1e308}):
            try:
                nks.segment(img, 3, seed=0, **kw)
            except ValueError as e:
                name = next(iter(kw))
                assert name in str(e) and ("finite" in str(e) or "at most" in str(e)), str(e)
            else:
                raise AssertionError(f"{kw} was accepted")
        print("PASSED")
    """)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("sample_size", [None, "auto"])
def test_three_groups_around_1e_30_give_three_clusters(normalize, sample_size):
    # regression: three groups of values around 1e-30 collapsed into one (float32 underflow)
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 30_000 if sample_size == "auto" else 100)
    rng.shuffle(truth)
    values = np.array([1e-30, 2e-30, 3e-30])[truth] * (1 + 0.02 * rng.standard_normal(truth.size))
    img = values.reshape(-1, 100)
    seg = nks.segment(img, 3, seed=0, normalize=normalize, sample_size=sample_size)
    assert same_partition(seg.labels, truth.reshape(img.shape))
    # centres stay in image units
    assert np.allclose(seg.centers.ravel(), [1e-30, 2e-30, 3e-30], rtol=0.02)
    assert np.allclose(np.unique(seg.recolored), seg.centers.ravel())


def test_huge_scale_groups_are_found():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, (30, 40))
    img = 1e300 + 1e295 * (truth + 0.01 * rng.standard_normal(truth.shape))
    seg = nks.segment(img, 3, seed=0)
    assert same_partition(seg.labels, truth)
    assert np.allclose(seg.centers.ravel(), 1e300 + 1e295 * np.arange(3), rtol=1e-7)  # 1% of a step


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_integer_extremes_recolor_without_wrapping(dtype):
    # regression: a centre at int64 max became int64 min in the recoloured image
    info = np.iinfo(dtype)
    row = [info.min, (info.min + info.max) // 2 + 1, info.max]
    img = np.array([row * 5] * 4, dtype=dtype)
    seg = nks.segment(img, 3, seed=0)
    assert seg.recolored.dtype == img.dtype
    assert np.array_equal(seg.recolored, img)
    # values near the limit stay near the limit (a mean a hair above max is clipped, not wrapped)
    near = np.array([[info.max, info.max - 1, info.max - 3, info.min, info.min + 2, 0] * 3] * 3, dtype=dtype)
    seg = nks.segment(near, 3 if info.min < 0 else 2, seed=0)  # uint64: min is 0
    top = seg.recolored[near >= info.max - 3]
    assert top.min() >= info.max - 3, top
    bottom = seg.recolored[near <= info.min + 2]
    assert bottom.max() <= info.min + 2, bottom


def test_masked_array_mask_is_honoured_and_combined_with_mask():
    # regression: np.ma masked arrays lost their mask
    rng = np.random.default_rng(0)
    data = rng.random((12, 14)) * 100
    data[:3] = 1e6  # masked-out garbage that would pull a centre if it were used
    ma = np.ma.array(data, mask=np.zeros_like(data, bool))
    ma[:3] = np.ma.masked
    seg = nks.segment(ma, 3, seed=0)
    assert (seg.labels[:3] == 0).all() and (seg.labels[3:] > 0).all()
    assert seg.counts.sum() == data[3:].size
    assert seg.centers.max() < 100
    assert np.array_equal(seg.recolored[:3], data[:3])
    assert isinstance(seg.recolored, np.ndarray) and not np.ma.isMaskedArray(seg.recolored)
    extra = np.ones(data.shape, bool)
    extra[:, :2] = False
    seg = nks.segment(ma, 3, seed=0, mask=extra)
    expect = np.ones(data.shape, bool)
    expect[:3] = False
    expect[:, :2] = False
    assert np.array_equal(seg.labels > 0, expect)
    # RGB: a pixel with any masked channel is left out; a model honours the mask too
    rgb = np.ma.array(rng.integers(0, 255, (10, 10, 3)).astype(np.uint8))
    rgb[2, 3, 1] = np.ma.masked
    seg = nks.segment(rgb, 2, seed=0)
    assert seg.labels[2, 3] == 0 and (seg.labels > 0).sum() == 99
    assert seg.model.apply(rgb).labels[2, 3] == 0
