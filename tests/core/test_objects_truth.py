"""Objects counted against known truth: synthetic nuclei (touching, dim, noisy; 2D and 3D)
and the 2018 Data Science Bowl image of 125 nuclei with its expert masks (tests/data)."""

from pathlib import Path

import numpy as np
import pytest

import napari_kmeans_segment as nks
from napari_kmeans_segment._core.truth import dice, match_objects, synthetic_nuclei, synthetic_nuclei_3d

DATA = Path(__file__).parents[1] / "data"


def annotated(name: str):
    d = np.load(DATA / f"{name}.npz")
    return d["image"], d["truth"]


def count_nuclei(image, k, smoothing, scale=None, min_size=20):
    """The README's recipe: K clusters, smoothing, objects of all clusters but the darkest,
    touching ones split."""
    seg = nks.segment(image, k, seed=0, smoothing=smoothing, scale=scale)
    objects, table = nks.extract_objects(
        seg.labels, nks.foreground_labels(seg, "all but darkest"), split=True, min_size=min_size, scale=scale
    )
    return objects, table


def test_truth_measures_know_the_answer():
    nu = synthetic_nuclei(seed=3)
    assert match_objects(nu.truth, nu.truth).f1 == 1.0
    assert dice(nu.truth, nu.truth) == 1.0
    # two true nuclei found as one object: neither matches at IoU 0.5
    merged = nu.truth.copy()
    merged[merged == 2] = 1
    m = match_objects(merged, nu.truth)
    assert (m.found, m.truth) == (nu.n - 1, nu.n)
    assert m.matched <= nu.n - 1


def test_pixelwise_objects_miss_touching_nuclei():
    """Today's recipe (no smoothing, no split): touching nuclei count as one."""
    nu = synthetic_nuclei(seed=0)
    seg = nks.segment(nu.image, 2, seed=0)
    objects, _ = nks.extract_objects(seg.labels, 2, min_size=20)
    assert match_objects(objects, nu.truth).f1 < 0.7


@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_nuclei_counted(seed):
    nu = synthetic_nuclei(seed=seed)
    objects, table = count_nuclei(nu.image, 3, smoothing=1.0)
    m = match_objects(objects, nu.truth)
    assert m.f1 >= 0.85, m
    assert dice(objects, nu.truth) >= 0.88
    assert abs(len(table["index"]) - nu.n) <= 0.1 * nu.n


def test_synthetic_nuclei_3d_counted():
    """Anisotropic voxels (2 x 1 x 1): the split measures distances in physical units."""
    nu = synthetic_nuclei_3d(seed=0)
    objects, table = count_nuclei(nu.image, 2, smoothing=1.0, scale=nu.scale, min_size=20)
    m = match_objects(objects, nu.truth)
    assert m.f1 >= 0.75, m
    assert dice(objects, nu.truth) >= 0.85


def test_expert_annotated_nuclei_counted():
    """125 nuclei annotated by experts (DSB 2018), the image of the README's nuclei recipe."""
    image, truth = annotated("dsb2018_nuclei_2d")
    objects, table = count_nuclei(image, 3, smoothing=1.0)
    m = match_objects(objects, truth)
    assert m.f1 >= 0.72, m
    assert dice(objects, truth) >= 0.85
