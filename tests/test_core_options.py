"""One definition of the defaults and of each option's spelling."""

import inspect

import numpy as np
import pytest
from conftest import blocks_image

import napari_kmeans_segment as nks
from napari_kmeans_segment._core import options
from napari_kmeans_segment._core.lazy import segment_lazy
from napari_kmeans_segment._core.segment import segment


def test_defaults_are_the_tutorials_and_read_as_a_mapping():
    d = options.DEFAULTS
    assert (d.n_clusters, d.attempts, d.max_iter, d.epsilon, d.init) == (3, 10, 100, 0.2, "random")
    assert d["attempts"] == d.attempts and dict(d)["mode"] == "fast" and d.mode in options.MODES
    assert options.sample_size_for_mode("fast") == d.sample_size
    assert options.sample_size_for_mode("exact") is None
    with pytest.raises(ValueError, match="choose one of"):
        options.sample_size_for_mode("sampled")


@pytest.mark.parametrize("fn", [segment, segment_lazy])
def test_public_functions_take_their_defaults_from_options(fn):
    sig = inspect.signature(fn).parameters
    for name in ("n_clusters", "attempts", "max_iter", "epsilon", "init", "seed", "color_space"):
        assert sig[name].default == options.DEFAULTS[name], name


def test_kmeans_plus_plus_spelled_as_scikit_learn_and_alias_give_the_same_run():
    img, _ = blocks_image()
    a = nks.segment(img, 3, seed=4, init="k-means++", sample_size=None)
    b = nks.segment(img, 3, seed=4, init="kmeans++", sample_size=None)
    assert a.params["init"] == b.params["init"] == "k-means++"
    assert np.array_equal(a.labels, b.labels)


@pytest.mark.parametrize(("kwargs", "method"), [({}, "fast"), ({"sample_size": None}, "exact")])
def test_method_is_named_as_the_mode(kwargs, method):
    img = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    seg = nks.segment(img, 3, seed=0, **kwargs)
    assert seg.params["method"] == method in options.MODES
    assert seg.model.apply(img).params["method"] == "model"
