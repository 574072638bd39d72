"""Model files: validated field by field on load, bounded memory, warnings on apply."""

import json
import textwrap
import warnings

import numpy as np
import pytest
from conftest import blocks_image
from fuzz_cases import run_python

import napari_kmeans_segment as nks


@pytest.fixture(scope="module")
def saved():
    img, _ = blocks_image()
    seg = nks.segment(img, 3, seed=0, normalize=True)
    return img, json.loads(json.dumps(seg.model.to_dict()))


def test_huge_label_map_is_refused_on_load_without_allocating(tmp_path, saved):
    # regression: label_map [1, 2, 3, 10**9] loaded fine and apply allocated until killed
    img, d = saved
    d = dict(d, label_map=[1, 2, 10**9])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    np.save(tmp_path / "img.npy", img)
    rc, out, err = run_python(
        textwrap.dedent(f"""
        import numpy as np, napari_kmeans_segment as nks
        img = np.load({str(tmp_path / "img.npy")!r})
        try:
            nks.load_model({str(path)!r}).apply(img)
        except ValueError as e:
            print("REFUSED", e)
    """),
        memory_limit=1_500_000_000,
    )
    assert rc == 0 and "REFUSED" in out, f"rc={rc}\n{out}\n{err[-2000:]}"
    assert "label" in out and "save the model again" in out


def _edit(d, path, value):
    d = json.loads(json.dumps(d))
    parent = d
    for p in path[:-1]:
        parent = parent[p]
    if callable(value):
        value(parent[path[-1]])
    else:
        parent[path[-1]] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("n_clusters",), 7, "n_clusters"),
        (("n_channels",), 2, "n_channels"),
        (("label_map",), [1, 2, 4], "label"),
        (("label_map",), [1, 2, 2.5], "label"),
        (("centers",), lambda c: c[0].__setitem__(0, float("nan")), "centers"),
        (("centers",), lambda c: c[1].__setitem__(2, float("inf")), "centers"),
        (("centers",), lambda c: [r.pop() for r in c], "centers"),
        (("feature_centers",), lambda c: [r.append(1.0) for r in c], "feature_centers"),
        (("feature_space", "color_space"), "xyz", "color"),
        (("feature_space", "mean"), lambda m: m.pop(), "mean"),
        (("feature_space", "std"), [0.0, 0.0, 0.0], "std"),
        (("feature_space", "std"), [float("nan")] * 3, "std"),
        (("feature_space", "value_range"), -1.0, "value_range"),
        (("feature_space", "spatial_weight"), float("inf"), "spatial_weight"),
        (("feature_space", "texture_sigma"), -3.0, "texture_sigma"),
        (("feature_space", "texture_sigma"), 5.0, "texture"),
        (("feature_space", "normalize"), "no", "normalize"),
        (("params", "rgb"), "yes", "rgb"),
    ],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else None,
)
def test_damaged_model_fields_are_refused_on_load(tmp_path, saved, path, value, words):
    _, d = saved
    p = tmp_path / "m.json"
    p.write_text(json.dumps(_edit(d, path, value)))
    with pytest.raises(ValueError, match="save the model again") as e:
        nks.load_model(p)
    assert words in str(e.value)


def test_model_warns_when_applied_far_from_its_fitted_range(tmp_path):
    # regression: a uint8 model applied to a float [0, 1] copy gave one cluster without a word
    img, _ = blocks_image()
    model = nks.segment(img, 3, seed=0).model
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own image: no warning
        model.apply(img)
    with pytest.warns(UserWarning, match=r"uint8.*float64|range") as rec:
        model.apply(img / 255.0)
    assert "255" in str(rec[0].message)
    # the fitted dtype and range travel with the saved model
    loaded = nks.load_model(model.save(tmp_path / "m.json"))
    with pytest.warns(UserWarning, match="range"):
        loaded.apply(img / 255.0)
    with pytest.warns(UserWarning, match="range"):
        loaded.apply(img.astype(np.float32) * 1000)


def test_per_plane_model_applies_to_its_own_stack(tmp_path):
    # regression: a per-plane model could not be applied to the stack it came from
    rng = np.random.default_rng(0)
    base = rng.integers(0, 3, (3, 20, 20))
    levels = np.array([[10, 100, 200], [40, 90, 250], [0, 60, 120]])  # each plane its own levels
    stack = (levels[np.arange(3)[:, None, None], base] + rng.normal(0, 3, base.shape)).astype(np.uint8)
    seg = nks.segment(stack, 3, seed=0, per_plane=True)
    again = seg.model.apply(stack)
    assert np.array_equal(again.labels, seg.labels)
    assert np.array_equal(again.recolored, seg.recolored)
    loaded = nks.load_model(seg.save(tmp_path / "pp.json"))
    assert np.array_equal(loaded.apply(stack).labels, seg.labels)
