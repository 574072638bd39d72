"""The exact recipe, numbering, outputs and the fast path: no Qt here."""

import cv2
import numpy as np
import pytest
from conftest import blocks_image, same_partition
from skimage import data

import napari_kmeans_segment as nks


def tutorial(image, k, seed, attempts=10, flags=cv2.KMEANS_RANDOM_CENTERS):
    """The seed tutorial's code, verbatim but for the seed."""
    pixel_values = np.float32(image.reshape((-1, image.shape[-1] if image.ndim == 3 else 1)))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 0.2)
    cv2.setRNGSeed(seed)
    compactness, labels, centers = cv2.kmeans(pixel_values, k, None, criteria, attempts, flags)
    return compactness, labels.ravel(), centers


@pytest.mark.parametrize(
    ("name", "k", "seed", "init"),
    [
        ("coffee", 3, 0, "random"),
        ("chelsea", 4, 7, "random"),
        ("rocket", 3, 3, "kmeans++"),
        ("camera", 3, 11, "random"),
    ],
)
def test_exact_recipe_splits_pixels_like_the_tutorial(name, k, seed, init):
    img = getattr(data, name)()[::2, ::2]
    flags = cv2.KMEANS_PP_CENTERS if init == "kmeans++" else cv2.KMEANS_RANDOM_CENTERS
    comp, lab, _ = tutorial(img, k, seed, flags=flags)
    seg = nks.segment(img, k, seed=seed, init=init, sample_size=None)
    assert seg.params["method"] == "exact"
    assert same_partition(seg.labels, lab)
    assert seg.compactness == pytest.approx(comp, rel=1e-12)


def test_outputs_shapes_dtypes_and_numbering():
    img = data.coffee()
    seg = nks.segment(img, 5, seed=1)
    assert seg.labels.shape == img.shape[:2]
    assert seg.labels.dtype == np.uint8
    assert set(np.unique(seg.labels)) == {1, 2, 3, 4, 5}
    assert seg.recolored.shape == img.shape and seg.recolored.dtype == img.dtype
    assert seg.centers.shape == (5, 3)
    lum = seg.centers @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(lum) >= 0), "label 1 must be the darkest"
    # every pixel of label i is recoloured by centre i
    for i in range(5):
        got = seg.recolored[seg.labels == i + 1]
        assert np.all(got == np.clip(np.rint(seg.centers[i]), 0, 255).astype(np.uint8))
    assert seg.counts.sum() == img.shape[0] * img.shape[1]
    assert np.array_equal(seg.counts, np.bincount(seg.labels.ravel(), minlength=6)[1:])


def test_numbering_is_independent_of_the_random_start():
    img = data.chelsea()[::2, ::2]
    a = nks.segment(img, 3, seed=1, sample_size=None)
    b = nks.segment(img, 3, seed=2, sample_size=None)
    # different starts may reach the same partition; the numbers must then agree too
    if same_partition(a.labels, b.labels):
        assert np.array_equal(a.labels, b.labels)
    assert np.all(np.diff(a.centers @ [0.299, 0.587, 0.114]) >= 0)


def test_synthetic_known_answer(blocks):
    img, truth = blocks
    for sample_size in (None, "auto", 500):
        seg = nks.segment(img, 3, seed=0, sample_size=sample_size)
        assert same_partition(seg.labels, truth)
    # darkest band (blue: lum 48) is label 1, then red (lum 86), then green (lum 127)
    assert np.array_equal(np.unique(seg.labels[:, :30]), [1])


@pytest.mark.parametrize("sample_size", [None, "auto", 2000])
def test_seed_gives_identical_results(sample_size):
    img = data.astronaut()
    a = nks.segment(img, 4, seed=42, sample_size=sample_size)
    b = nks.segment(img, 4, seed=42, sample_size=sample_size)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.centers, b.centers)


def test_unseeded_run_records_its_seed_and_can_be_replayed():
    img = data.coffee()[::4, ::4]
    a = nks.segment(img, 3)
    b = nks.segment(img, 3, seed=a.params["seed_used"])
    assert np.array_equal(a.labels, b.labels)


@pytest.mark.parametrize(("name", "k"), [("coffee", 3), ("astronaut", 6), ("immunohistochemistry", 4)])
def test_fast_path_quality_matches_exact(name, k):
    img = getattr(data, name)()
    exact = nks.segment(img, k, seed=0, sample_size=None)
    fast = nks.segment(img, k, seed=0)
    assert fast.params["method"] == "fast"
    assert fast.compactness <= exact.compactness * 1.005
    # labels agree with centres: every pixel sits at its nearest feature centre
    px = img.reshape(-1, 3).astype(np.float64)
    d = ((px[:, None, :] - fast.feature_centers[None]) ** 2).sum(-1)
    assert np.array_equal(d.argmin(1) + 1, fast.labels.ravel())
    assert fast.compactness == pytest.approx(d.min(1).sum(), rel=1e-6)


def test_fast_path_on_float_data_uses_chunked_refinement():
    img = data.astronaut().astype(np.float32) / 255
    exact = nks.segment(img, 4, seed=0, sample_size=None, epsilon=1e-6)
    fast = nks.segment(img, 4, seed=0, epsilon=1e-6)
    assert fast.compactness <= exact.compactness * 1.005


def test_progress_and_cancel():
    img = data.coffee()
    seen = []
    nks.segment(img, 3, seed=0, progress=lambda f, m: seen.append((f, m)))
    fr = [f for f, _ in seen]
    assert fr[-1] == 1.0 and all(0 <= f <= 1 for f in fr) and len(seen) > 3
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(nks.Cancelled):
        nks.segment(img, 3, seed=0, sample_size=None, cancel=cancel)


def test_source_is_not_modified():
    img, _ = blocks_image()
    before = img.copy()
    nks.segment(img, 3, seed=0)
    nks.segment(img, 3, seed=0, sample_size=None, normalize=True, color_space="lab")
    assert np.array_equal(img, before)


def test_many_clusters_use_uint16_labels():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 65535, (80, 80), dtype=np.uint16)
    seg = nks.segment(img, 300, seed=0, attempts=1, max_iter=5)
    assert seg.labels.dtype == np.uint16
    assert seg.labels.min() >= 1 and seg.labels.max() <= 300


def test_cancel_returns_during_a_long_cv2_attempt():
    """Cancel does not wait for the running cv2.kmeans attempt to finish."""
    import threading

    import cv2

    img = cv2.resize(data.astronaut(), (1920, 1080))  # one attempt at K=8: seconds
    started = threading.Event()

    def progress(fraction, message):
        if "attempt 1/" in message:
            started.set()

    with pytest.raises(nks.Cancelled):
        nks.segment(img, 8, seed=0, sample_size=None, attempts=1, progress=progress, cancel=started.is_set)
    helpers = [t for t in threading.enumerate() if t.name.startswith("cv2-kmeans")]
    assert any(t.is_alive() for t in helpers), "segment() waited for the attempt to end"
