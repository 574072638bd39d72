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


def test_a_model_of_exactly_k_colours_keeps_its_zero_distance(tmp_path):
    """0 is a real reference distance: every fitted pixel sits on its centre."""
    img = np.repeat(np.array([[10, 20, 30], [200, 10, 10], [5, 250, 5]], np.uint8), 300, axis=0)
    seg = nks.segment(img.reshape(30, 30, 3), 3, seed=0)
    assert seg.params["distance_p99"] == 0.0
    model = nks.load_model(seg.save(tmp_path / "m.json"))
    assert model.params["distance_p99"] == 0.0
