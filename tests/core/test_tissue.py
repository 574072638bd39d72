"""Tissue and glass of a slide, its white level, and the input stain measurements refuse or
report: no glass, grey and fluorescence images, saturated slides, another stain pair."""

from __future__ import annotations

import json

import numpy as np
import pytest

import napari_kmeans_segment as nks
from napari_kmeans_segment._core.features.tissue import estimate_white, given_white, tissue_mask
from napari_kmeans_segment._core.measure.positivity import check_thresholds, derive_thresholds
from napari_kmeans_segment._core.measure.slide_stains import stained_background
from napari_kmeans_segment._core.synthetic_slides import make_slide, rescan


@pytest.fixture(scope="module")
def slide():
    return make_slide(4, "islands", shape=(384, 384), glass=0.25)


@pytest.fixture(scope="module")
def seg(slide):
    return nks.segment(slide.image, 3, color_space="hed", seed=0)


# -- white level ----------------------------------------------------------------------------------
@pytest.mark.parametrize("white", [(233, 236, 239), (246, 240, 228), (200, 205, 210)])
def test_white_level_is_the_glass_of_the_slide(white):
    s = make_slide(1, "edge", shape=(256, 256), glass=0.2, white=white)
    w = estimate_white(s.image.reshape(-1, 3), 255.0)
    np.testing.assert_allclose(w.white, white, atol=1.0)
    assert w.source == "estimated" and not w.clipped and 0.15 < w.glass_share < 0.3


def test_clipped_glass_is_reported():
    s = make_slide(1, "edge", shape=(256, 256), glass=0.2)
    w = estimate_white(rescan(s.image, 1.15).reshape(-1, 3), 255.0)
    assert w.clipped and (w.white == 255).all()


def test_glass_at_full_scale_is_found_and_flagged_not_taken_for_no_glass():
    """The sample multiplied by 1.08 and truncated (astype(uint8)): its glass (236, 236, 234)
    lands at 254-255, half of it clipped, in a comb of empty and doubled levels."""
    from skimage import data

    from napari_kmeans_segment._core.measure.slide_stains import white_notes

    bright = rescan(data.immunohistochemistry(), 1.08, truncate=True)
    np.testing.assert_allclose(nks.estimate_white_level(bright), (254, 254, 252), atol=1.0)
    w = estimate_white(bright.reshape(-1, 3), 255.0)
    assert w.full_scale and 0.03 < w.glass_share < 0.08
    notes = white_notes(w, 255.0)
    assert len(notes) == 1 and "full scale" in notes[0] and "No glass on this image" not in notes[0]
    # rounded, its glass peak is below full scale: found as before, nothing to flag
    rounded = estimate_white(rescan(data.immunohistochemistry(), 1.08).reshape(-1, 3), 255.0)
    assert not rounded.full_scale and white_notes(rounded, 255.0) == []


def test_a_slide_without_glass_needs_its_white_level():
    s = make_slide(0, "none", shape=(256, 256))
    with pytest.raises(ValueError, match="white_level"):
        nks.segment(s.image, 3, color_space="hed", seed=0)
    seg = nks.segment(s.image, 3, color_space="hed", seed=0, white_level=s.white)
    assert seg.stains.white_source == "given" and seg.stains.tissue_share > 0.99
    assert 100 * seg.stains.positive_share == pytest.approx(100 * s.positive_share, abs=4)


def test_a_model_measures_a_crop_without_glass_against_its_own_white(slide, seg):
    inside = slide.image[150:250, 150:250]  # tissue only
    assert slide.tissue[150:250, 150:250].all()
    r = seg.model.apply(inside).stains
    assert r.white_source == "model" and r.white == seg.stains.white
    assert any("No glass on this image" in w for w in r.warnings)
    truth = slide.positive[150:250, 150:250].mean()
    assert 100 * r.positive_share == pytest.approx(100 * truth, abs=4)


@pytest.mark.parametrize("bad", [0, -3, (1, 2), (255, 255, np.nan), "white"])
def test_bad_white_levels_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        given_white(bad, 255.0)


def test_white_level_above_the_range_is_refused(slide):
    with pytest.raises(ValueError, match="above"):
        nks.segment(slide.image, 3, color_space="hed", white_level=300)


# -- tissue ----------------------------------------------------------------------------------------
def test_tissue_mask_keeps_pale_tissue_and_drops_glass_noise():
    rng = np.random.default_rng(0)
    white = np.array([235.0, 236.0, 238.0])
    img = white + rng.normal(0, 2.5, (120, 120, 3))  # glass with noise
    img[40:80, 40:80] *= 10**-0.025  # tissue absorbing 6% of the light: pale stroma
    img[10, 10] = 150  # a speck of dust on the glass
    mask = tissue_mask(np.clip(img, 0, 255).astype(np.uint8), white, 0.012)
    assert mask[42:78, 42:78].all() and not mask[:35].any()
    assert mask[60].sum() == mask[:, 60].sum() == 40  # the edges stay where they are


def test_stains_within_the_tissue_only(slide, seg):
    assert (seg.labels[~slide.tissue] == 0).mean() > 0.97
    names = seg.default_names()
    assert "background" not in names and seg.default_background() == []
    # the glass keeps its pixels in the recoloured image
    glass = seg.labels == 0
    np.testing.assert_array_equal(seg.recolored[glass], slide.image[glass])


def test_slide_options_need_hed_and_valid_values(slide):
    img = slide.image
    for kw, match in [
        (dict(white_level=240), "color_space='hed'"),
        (dict(color_space="hed", tissue_od=-0.1), "tissue_od"),
        (dict(color_space="hed", tissue_od=2), "tissue_od"),
        (dict(color_space="hed", dab_thresholds=(0.4, 0.2, 0.9)), "dab_thresholds"),
        (dict(color_space="hed", dab_thresholds=(0.1, 0.2)), "dab_thresholds"),
        (dict(color_space="hed", tissue=False, white_level=240), "tissue"),
    ]:
        with pytest.raises(ValueError, match=match):
            nks.segment(img, 3, **kw)
    assert check_thresholds([0.1, 0.2, 0.3]) == (0.1, 0.2, 0.3)


def test_thresholds_fall_back_without_negative_and_dab_clusters():
    dab = np.linspace(0, 1, 500)
    assert derive_thresholds(dab, np.ones(500, int), [2]) == (0.15, 0.40, 0.70)


# -- bad input: grey, fluorescence, saturated, another stain pair ----------------------------------
def test_hed_refuses_a_grey_image_with_advice(slide):
    grey = np.repeat(slide.image.mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    with pytest.raises(ValueError, match="grey.*color_space='rgb'"):
        nks.segment(grey, 3, color_space="hed")


def test_hed_refuses_a_fluorescence_image_with_advice():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    spots = np.zeros((200, 200))
    spots[tuple(rng.integers(0, 200, (2, 60)))] = 1.0
    glow = ndimage.gaussian_filter(spots, 4) * 4000  # nuclei, bright on a dark background
    rgb = np.clip(np.stack([glow * 0.2, glow, glow * 0.5], axis=-1) + 5, 0, 255).astype(np.uint8)
    with pytest.raises(ValueError, match="fluorescence"):
        nks.segment(rgb, 3, color_space="hed")


def test_a_mostly_saturated_slide_is_reported(slide, seg):
    r = seg.model.apply(rescan(slide.image, 2.5), white_level=255).stains
    assert r.saturated_share > 0.5
    assert any("cannot be measured" in w for w in r.warnings)


def test_a_model_of_another_stain_pair_is_flagged(slide, seg):
    he = make_slide(4, "islands", shape=(384, 384), glass=0.25, stain="eosin")
    he_model = nks.segment(he.image, 3, color_space="hed", seed=0).model
    r = he_model.apply(slide.image).stains
    assert any("shows DAB" in w and "another stain pair" in w for w in r.warnings)
    assert not seg.model.apply(slide.image).stains.warnings  # the same stains: nothing said
    r2 = seg.model.apply(he.image).stains
    assert any("shows eosin" in w for w in r2.warnings)


def test_model_file_keeps_the_slide_settings_and_refuses_damaged_ones(seg, tmp_path):
    path = seg.save(tmp_path / "m.json")
    d = json.loads(path.read_text())
    assert d["feature_space"]["white"] == pytest.approx(list(seg.stains.white))
    assert d["params"]["positivity_thresholds"] == pytest.approx(list(seg.stains.thresholds))
    loaded = nks.load_model(path)
    assert loaded.measures_stains
    d["feature_space"]["white"] = [255, -1, 3]
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="white"):
        nks.load_model(path)


def test_a_background_cluster_holding_stained_tissue_is_flagged(slide):
    every = nks.segment(slide.image, 3, color_space="hed", seed=0, tissue=False)
    names = dict(zip(every.index.tolist(), every.default_names()))
    bg = every.default_background()
    assert bg and names[bg[0]] == "background"
    note = stained_background(slide.image, every.labels, bg, names)
    assert "stained tissue" in note and "'background'" in note
    glass_only = np.where(slide.tissue, 1, 2).astype(np.uint8)  # a cluster that is the glass
    assert stained_background(slide.image, glass_only, [2]) == ""
    assert stained_background(slide.image[..., 0], every.labels, bg) == ""  # not RGB: not told


def test_8_bit_counting_by_color_table_equals_counting_pixel_by_pixel():
    from napari_kmeans_segment._core.measure.positivity import count_block

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (97, 131, 3)).astype(np.uint8)
    img[::7, :, 1] = 255  # clipped channels
    img[:, ::11, 2] = 0
    tissue = rng.random((97, 131)) < 0.7
    valid = rng.random((97, 131)) < 0.9
    white, thresholds = (240.0, 242.0, 245.0), (0.1, 0.35, 0.7)
    by_table = count_block(img, tissue, white, None, thresholds, 255.0, valid)
    by_pixel = count_block(img.astype(np.uint16), tissue, white, None, thresholds, 255.0, valid)
    assert by_table[:3] == by_pixel[:3] and by_table[2] > 0
    np.testing.assert_array_equal(by_table[3], by_pixel[3])


def test_unreadable_pixels_do_not_vote_glass():
    """A tissue region where most pixels are NaN (or masked out) is still tissue: only its
    readable pixels vote, and they are all tissue; the glass stays glass."""
    img = np.full((40, 40, 3), 0.9, np.float32)  # glass at white 0.9
    img[:, :20] = 0.5  # tissue: OD 0.26, far above the threshold
    gaps = np.random.default_rng(0).random((40, 40)) < 0.6
    truth = np.zeros((40, 40), bool)
    truth[:, :20] = True
    # away from the edge, whose boxes hold both (the share of each there depends on the gaps)
    check = ~gaps
    check[:, 17:23] = False
    with_nan = np.where(gaps[..., None], np.nan, img)
    mask = tissue_mask(with_nan, (0.9, 0.9, 0.9), 0.05)
    assert (mask[check] == truth[check]).all()
    masked = tissue_mask(img, (0.9, 0.9, 0.9), 0.05, valid=~gaps)
    assert (masked[check] == truth[check]).all()


@pytest.mark.parametrize("fraction", [0.02, 0.3])
def test_nan_pixels_leave_the_tissue_share_as_a_mask_does(fraction):
    from skimage import data

    ihc = data.immunohistochemistry()[::2, ::2] / 255.0
    gaps = np.random.default_rng(0).random(ihc.shape[:2]) < fraction
    clean = nks.segment(ihc, 3, color_space="hed", seed=0).stains.tissue_share
    nan = nks.segment(np.where(gaps[..., None], np.nan, ihc), 3, color_space="hed", seed=0)
    masked = nks.segment(ihc, 3, color_space="hed", seed=0, mask=~gaps)
    assert nan.stains.tissue_share == pytest.approx(masked.stains.tissue_share, abs=1e-9)
    # the few points of difference the missing votes made are gone (0.886 against 0.950 at 30%)
    assert nan.stains.tissue_share == pytest.approx(clean, abs=0.01)
