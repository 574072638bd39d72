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
    # 20-29% glass, DAB-positive cells from sparse to crowded (about 15% to 40% of the tissue)
    return make_slide(seed, layout, glass=0.2 + 0.03 * seed, positive_cells=0.0007 + 0.0004 * seed)


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


# -- the core: tissue, positivity, one model across scans ----------------------------------------
@pytest.fixture(scope="module")
def fitted(slide):
    return nks.segment(slide.image, 3, color_space="hed", seed=0)


def test_tissue_and_dab_positive_share_match_the_truth(slide, fitted):
    r = fitted.stains
    assert 100 * r.tissue_share == pytest.approx(100 * slide.tissue_share, abs=3)
    assert 100 * r.positive_share == pytest.approx(100 * slide.positive_share, abs=4)
    # the glass is label 0 and the report counts the labels' tissue
    assert r.tissue_px == int((fitted.labels > 0).sum()) == int(fitted.counts.sum())
    assert r.pixels == slide.image.shape[0] * slide.image.shape[1]
    assert sum(r.bins) == r.tissue_px


def test_pale_stroma_is_tissue_not_glass(slide, fitted):
    stroma = slide.tissue & (slide.haematoxylin < 0.15) & (slide.dab < 0.02)
    inner = ndimage.binary_erosion(stroma, iterations=2)  # away from the tissue's edge
    assert (fitted.labels[inner] > 0).mean() > 0.995
    glass = ~ndimage.binary_dilation(slide.tissue, iterations=3)
    assert (fitted.labels[glass] == 0).mean() > 0.995


def test_dab_positive_share_does_not_depend_on_k(slide, fitted):
    shares = [fitted.stains.positive_share] + [
        nks.segment(slide.image, k, color_space="hed", seed=0).stains.positive_share for k in (4, 5)
    ]
    assert 100 * (max(shares) - min(shares)) <= 2


def test_with_the_truths_bin_edges_the_bins_and_h_score_match_the_truth(slide):
    seg = nks.segment(slide.image, 3, color_space="hed", seed=0, dab_thresholds=TRUTH_EDGES)
    r = seg.stains
    assert r.thresholds == TRUTH_EDGES and seg.params["thresholds_source"] == "given"
    np.testing.assert_allclose(100 * r.bin_shares(), 100 * slide.grade_shares(), atol=1.5)
    assert r.h_score == pytest.approx(slide.h_score, abs=3)


def test_derived_thresholds_fall_between_the_intensity_classes(fitted):
    # the generator's classes: weak 0.16-0.30, moderate 0.42-0.60, strong 0.80-1.10 (x0.8-1.2)
    weak, moderate, strong = fitted.params["positivity_thresholds"]
    assert 0.05 < weak < 0.16 and 0.30 < moderate < 0.45 and 0.6 < strong < 0.85


@pytest.mark.parametrize(
    ("gain", "truncate"), [(0.85, False), (0.92, False), (1.04, False), (1.08, False), (1.08, True)]
)
def test_one_model_measures_another_exposure_of_the_slide_the_same(slide, fitted, gain, truncate):
    """x0.85..x1.08, rounded or truncated: the model normalises each slide's white level
    before its centres apply."""
    r0 = fitted.stains
    r = fitted.model.apply(rescan(slide.image, gain, truncate=truncate)).stains
    assert 100 * abs(r.positive_share - r0.positive_share) <= 2
    assert 100 * abs(r.tissue_share - r0.tissue_share) <= 2
    assert 100 * r.positive_share == pytest.approx(100 * slide.positive_share, abs=4)
    np.testing.assert_allclose(r.white, np.minimum(np.asarray(slide.white) * gain, 255), atol=1.5)


@pytest.fixture(scope="module")
def sample_fit():
    from skimage import data

    ihc = data.immunohistochemistry()
    return ihc, nks.segment(ihc, 3, color_space="hed", seed=0)


@pytest.mark.parametrize(
    ("gain", "truncate"), [(0.85, False), (1.08, False), (1.08, True)], ids=["x0.85", "x1.08", "x1.08-trunc"]
)
def test_one_model_measures_the_sample_re_exposed_the_same(sample_fit, gain, truncate):
    """The immunohistochemistry sample (glass 5%, its mode at 236 of 255) re-exposed, its
    values rounded or truncated: one model's tissue, DAB-positive share and H-score stay put
    (as scanned 95.0%, 62.5%, 106), and the glass is never taken for tissue."""
    ihc, seg = sample_fit
    r0 = seg.stains
    r = seg.model.apply(rescan(ihc, gain, truncate=truncate)).stains
    assert r.white_source == "estimated"
    assert 100 * abs(r.tissue_share - r0.tissue_share) <= 1.5
    assert 100 * abs(r.positive_share - r0.positive_share) <= 1
    assert abs(r.h_score - r0.h_score) <= 3
    assert not any("No glass on this image" in w for w in r.warnings)


@pytest.mark.parametrize("offset", [20, -20])
def test_an_offset_scan_stays_within_3_points_or_is_flagged(slide, fitted, offset):
    r0 = fitted.stains
    r = fitted.model.apply(rescan(slide.image, 1.0, offset)).stains
    assert 100 * abs(r.positive_share - r0.positive_share) <= 3 or r.warnings


def test_an_overexposed_scan_is_flagged_and_its_clipped_tissue_counted(slide, fitted):
    over = rescan(slide.image, 1.15)
    r = fitted.model.apply(over).stains
    clipped = (over == 255).any(axis=-1) | (over == 0).any(axis=-1)
    assert r.saturated_px == int((clipped & (fitted.model.apply(over).labels > 0)).sum()) > 0
    assert any("full scale" in w for w in r.warnings)


def test_readme_command_line_recipe_against_the_truth(tmp_path):
    """The README's recipe from the shell, in a subprocess: fit K = 3 in stain densities on
    one slide and save the model, then measure a folder of slides (two layouts, and a darker
    scan) with it: summary.csv's tissue and DAB-positive share of tissue against the truth."""
    import csv
    import os
    import subprocess
    import sys
    from pathlib import Path

    import cv2

    cases = {
        "s0": make_slide(0, "islands", shape=(384, 384)),
        "s2": make_slide(2, "fragments", shape=(384, 384)),
    }
    folder = tmp_path / "slides"
    folder.mkdir()
    images = {name: s.image for name, s in cases.items()}
    images["s0_dark"] = rescan(cases["s0"].image, 0.88)
    for name, img in images.items():
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(nks.__file__).parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    cli = [sys.executable, "-c", "import sys; from napari_kmeans_segment._cli import main; sys.exit(main())"]

    def shell(*args):
        p = subprocess.run([*cli, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
        assert p.returncode == 0, p.stderr

    model = tmp_path / "ihc.json"
    shell(
        folder / "s0.png",
        "-k",
        "3",
        "--color-space",
        "hed",
        "--seed",
        "0",
        "-o",
        tmp_path / "fit",
        "--save-model",
        model,
    )
    shell(*sorted(folder.glob("*.png")), "--model", model, "-o", tmp_path / "dab")
    rows = {Path(r["file"]).stem: r for r in csv.DictReader(open(tmp_path / "dab" / "summary.csv"))}
    assert set(rows) == set(images)
    for name, s in (*cases.items(), ("s0_dark", cases["s0"])):
        row = rows[name]
        assert float(row["tissue_pct"]) == pytest.approx(100 * s.tissue_share, abs=3), name
        assert float(row["positive_pct_of_tissue"]) == pytest.approx(100 * s.positive_share, abs=4), name
        assert row["warning"] == "", name
    assert (
        abs(float(rows["s0_dark"]["positive_pct_of_tissue"]) - float(rows["s0"]["positive_pct_of_tissue"]))
        <= 2
    )
