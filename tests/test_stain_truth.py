"""Stain numbers against known truth: synthetic H-DAB slides (Beer–Lambert mixing of known
haematoxylin and DAB amounts, glass, pale stroma, nuclei, DAB cells of three intensities,
a grey white level, blur and noise) measured the way the README tells people to."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import napari_kmeans_segment as nks
from napari_kmeans_segment._core.synthetic_slides import LAYOUTS, TRUTH_EDGES, make_slide, rescan

CASES = [(0, "islands"), (1, "edge"), (2, "fragments"), (3, "islands")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{s}-{layout}" for s, layout in CASES])
def slide(request):
    seed, layout = request.param
    return make_slide(seed, layout, glass=0.2 + 0.03 * seed)


def readme_recipe(image, k: int = 3) -> tuple[float, float]:
    """(tissue share of the image, DAB-positive share of the tissue) as the README measures
    them: K = 3 in stain densities; the slide's report (``seg.stains``)."""
    seg = nks.segment(image, k, color_space="hed", seed=0)
    return seg.stains.tissue_share, seg.stains.positive_share


# -- the generator --------------------------------------------------------------------------
def test_generator_makes_the_glass_share_asked_for_and_keeps_its_truth_consistent():
    for layout in LAYOUTS:
        s = make_slide(5, layout, shape=(256, 256), glass=0.3)
        assert s.image.dtype == np.uint8 and s.image.shape == (256, 256, 3)
        assert s.tissue_share == pytest.approx(1.0 if layout == "none" else 0.7, abs=1e-3)
        glass = s.image[~ndimage.binary_dilation(s.tissue, iterations=4)]
        if glass.size:  # bare glass (away from the blurred tissue edge): the white level plus noise
            np.testing.assert_allclose(glass.reshape(-1, 3).mean(0), s.white, atol=0.5)
        assert 0.1 < s.positive_share < 0.45
        shares = s.grade_shares()
        assert shares.sum() == pytest.approx(1.0) and (shares[1:] > 0.02).all()
        assert s.h_score == pytest.approx(100 * (shares[1] + 2 * shares[2] + 3 * shares[3]))
        # every grade is where the DAB amount says
        assert (s.dab[s.grade == 3] >= TRUTH_EDGES[2]).all()
        # pale stroma: tissue that is neither a nucleus nor a cell, hardly darker than glass
        stroma = s.tissue & (s.haematoxylin < 0.15) & (s.dab < 0.02)
        assert stroma.mean() > 0.3
        assert s.image[stroma].mean() > 0.8 * np.mean(s.white)


def test_generator_is_reproducible_and_seeds_differ():
    a, b, c = (make_slide(s, shape=(128, 128)) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.tissue, c.tissue)
    with pytest.raises(ValueError, match="layout"):
        make_slide(0, "spiral")


def test_rescan_scales_and_clips_like_an_8_bit_scanner():
    img = np.array([[[10, 100, 250]]], np.uint8)
    np.testing.assert_array_equal(rescan(img, 1.1), [[[11, 110, 255]]])
    np.testing.assert_array_equal(rescan(img, 1.0, -20), [[[0, 80, 230]]])


# -- the README's recipe against the truth ------------------------------------------------------
def test_readme_recipe_finds_the_tissue_with_its_pale_stroma(slide):
    tissue, _ = readme_recipe(slide.image)
    assert 100 * tissue == pytest.approx(100 * slide.tissue_share, abs=3)


def test_readme_recipe_dab_share_of_tissue_matches_the_truth(slide):
    _, dab = readme_recipe(slide.image)
    assert 100 * dab == pytest.approx(100 * slide.positive_share, abs=4)
