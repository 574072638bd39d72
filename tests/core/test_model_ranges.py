"""Every field of a model file is range-checked on load: a number that cannot be (a negative or
NaN outlier distance, a minimum above its maximum, a type that is not a number type) refuses
the file instead of making every later measurement wrong."""

import json
import math

import numpy as np
import pytest
from conftest import blocks_image

import napari_kmeans_segment as nks


@pytest.fixture(scope="module")
def saved():
    img, _ = blocks_image()
    return img, json.loads(json.dumps(nks.segment(img, 3, seed=0).model.to_dict()))


def with_params(d, **params):
    return dict(d, params=dict(d["params"], **params))


BAD_PARAMS = {
    "negative distance": {"distance_p99": -1.0},
    "NaN distance": {"distance_p99": math.nan},
    "infinite distance": {"distance_p99": math.inf},
    "text distance": {"distance_p99": "far"},
    "bool distance": {"distance_p99": True},
    "minimum above maximum": {"image_range": [[255, 255, 255], [0, 0, 0]]},
    "object dtype": {"image_dtype": "object"},
    "text dtype": {"image_dtype": "<U5"},
    "per_plane not a bool": {"per_plane": "yes"},
    "no planes": {"per_plane": True, "planes": []},
}


@pytest.mark.parametrize("what", sorted(BAD_PARAMS))
def test_impossible_params_refuse_the_model(tmp_path, saved, what):
    _, d = saved
    path = tmp_path / "m.json"
    path.write_text(json.dumps(with_params(d, **BAD_PARAMS[what])))
    with pytest.raises(ValueError, match="damaged"):
        nks.load_model(path)


def test_a_negative_outlier_distance_no_longer_makes_every_pixel_an_outlier(tmp_path, saved):
    img, d = saved
    path = tmp_path / "m.json"
    path.write_text(json.dumps(with_params(d, distance_p99=-1.0)))
    with pytest.raises(ValueError, match=r"distance_p99=-1.0 is not a finite distance >= 0"):
        nks.outlier_fraction(nks.load_model(path), img)
    path.write_text(json.dumps(d))  # the file as saved: about 1% outliers on its own image
    assert 0 < nks.outlier_fraction(nks.load_model(path), img) < 0.05


def test_a_model_of_exactly_k_colors_keeps_its_zero_distance(tmp_path):
    """0 is a real reference distance: every fitted pixel sits on its centre."""
    img = np.repeat(np.array([[10, 20, 30], [200, 10, 10], [5, 250, 5]], np.uint8), 300, axis=0)
    seg = nks.segment(img.reshape(30, 30, 3), 3, seed=0)
    assert seg.params["distance_p99"] == 0.0
    model = nks.load_model(seg.save(tmp_path / "m.json"))
    assert model.params["distance_p99"] == 0.0


@pytest.fixture(scope="module")
def saved_hed():
    from skimage import data

    slide = data.immunohistochemistry()[::3, ::3]
    return slide, json.loads(json.dumps(nks.segment(slide, 3, color_space="hed", seed=0).model.to_dict()))


def with_feature_space(d, **fields):
    return dict(d, feature_space=dict(d["feature_space"], **fields))


BAD_STAIN_FIELDS = {
    "matrix a row": ("stain_matrix", [1, 2, 3]),
    "matrix a number": ("stain_matrix", 0),
    "matrix a bool": ("stain_matrix", True),
    "matrix NaN": ("stain_matrix", math.nan),
    "matrix empty": ("stain_matrix", []),
    "matrix singular": ("stain_matrix", [[1, 2, 3]] * 3),
    "matrix with NaN": ("stain_matrix", [[1, 0, 0], [0, math.nan, 0], [0, 0, 1]]),
    "scale missing": ("stain_scale", None),
    "scale zero": ("stain_scale", [0, 0, 0]),
    "scale NaN": ("stain_scale", math.nan),
    "scale negative": ("stain_scale", -1),
    "scale infinite": ("stain_scale", [math.inf, 1, 1]),
    "scale too short": ("stain_scale", [1, 1]),
}


@pytest.mark.parametrize("what", sorted(BAD_STAIN_FIELDS))
def test_a_damaged_stain_matrix_or_scale_refuses_the_model(tmp_path, saved_hed, what):
    _, d = saved_hed
    field, value = BAD_STAIN_FIELDS[what]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(with_feature_space(d, **{field: value})))
    with pytest.raises(ValueError, match=f"damaged.*{field}"):
        nks.load_model(path)


def test_a_valid_stain_matrix_still_loads_and_applies(tmp_path, saved_hed):
    from skimage.color import hed_from_rgb

    slide, d = saved_hed
    path = tmp_path / "m.json"
    path.write_text(json.dumps(with_feature_space(d, stain_matrix=np.asarray(hed_from_rgb).tolist())))
    seg = nks.load_model(path).apply(slide)
    assert seg.stains is not None and 0 < seg.stains.tissue_share < 1


def test_a_model_fitted_with_tissue_detection_needs_its_tissue_threshold(tmp_path, saved_hed):
    _, d = saved_hed
    assert d["options"]["tissue"] is True
    path = tmp_path / "m.json"
    for damaged in (
        with_feature_space(d, tissue_od=None),
        dict(d, feature_space={k: v for k, v in d["feature_space"].items() if k != "tissue_od"}),
    ):
        path.write_text(json.dumps(damaged))
        with pytest.raises(ValueError, match="damaged.*tissue_od"):
            nks.load_model(path)


def test_a_model_that_predates_tissue_detection_applies_with_a_warning(tmp_path, saved_hed):
    slide, d = saved_hed
    old = with_feature_space(d, tissue_od=None)
    old.pop("options")
    old["params"] = {k: v for k, v in d["params"].items() if k != "tissue"}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(old))
    with pytest.warns(UserWarning, match="predates tissue detection"):
        model = nks.load_model(path)
    assert (model.apply(slide).labels > 0).all()  # glass clustered, as the model was fitted


def test_a_model_fitted_without_tissue_detection_loads_silently(tmp_path):
    import warnings

    from skimage import data

    slide = data.immunohistochemistry()[::3, ::3]
    d = nks.segment(slide, 3, color_space="hed", seed=0, tissue=False).model.to_dict()
    path = tmp_path / "m.json"
    path.write_text(json.dumps(d))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nks.load_model(path)
