"""One definition of the defaults and of each option's spelling."""

import inspect
from dataclasses import FrozenInstanceError, fields, replace

import numpy as np
import pytest
from conftest import blocks_image

import napari_kmeans_segment as nks
from napari_kmeans_segment._core import options
from napari_kmeans_segment._core.lazy import segment_lazy
from napari_kmeans_segment._core.options import Options
from napari_kmeans_segment._core.segment import segment


def test_defaults_are_the_tutorials_and_read_only():
    d = options.DEFAULTS
    assert (d.n_clusters, d.attempts, d.max_iter, d.epsilon, d.init) == (3, 10, 100, 0.2, "random")
    assert d == Options() and d.mode == "fast" and d.mode in options.MODES
    assert options.sample_size_for_mode("fast") == d.sample_size
    assert options.sample_size_for_mode("exact") is None
    with pytest.raises(ValueError, match="choose one of"):
        options.sample_size_for_mode("sampled")
    with pytest.raises(FrozenInstanceError):
        d.attempts = 3  # type: ignore[misc]


def test_segment_takes_every_option_as_a_keyword_with_its_default():
    sig = inspect.signature(segment).parameters
    for f in fields(Options):
        assert sig[f.name].default == getattr(options.DEFAULTS, f.name), f.name
        assert f.name == "n_clusters" or sig[f.name].kind is inspect.Parameter.KEYWORD_ONLY, f.name


def test_every_option_has_its_check():
    assert list(options.CHECKS) == options.names()


def test_check_returns_the_validated_copy():
    opts = Options(
        n_clusters=np.int64(4), epsilon=1, init="kmeans++", normalize=np.bool_(True), spatial_weight=2
    )
    checked = opts.check()
    assert checked == Options(n_clusters=4, epsilon=1.0, init="k-means++", normalize=True, spatial_weight=2.0)
    assert type(checked.normalize) is bool
    assert type(checked.n_clusters) is int and type(checked.epsilon) is float
    assert opts.init == "kmeans++"  # the original is left as it was given
    assert checked.check() == checked


@pytest.mark.parametrize(
    ("opts", "error", "match"),
    [
        (Options(n_clusters=1), ValueError, "at least 2 clusters"),
        (Options(attempts=2.5), TypeError, "attempts must be a whole number"),
        (Options(max_iter=10**6), ValueError, "use at most 100000"),
        (Options(epsilon=float("nan")), ValueError, "finite value >= 0"),
        (Options(init="forgy"), ValueError, "init='forgy': choose one of"),
        (Options(seed=-1), ValueError, "non-negative"),
        (Options(sample_size=2, n_clusters=3), ValueError, "smaller than n_clusters=3"),
        (Options(color_space="luv"), ValueError, "color_space='luv': choose one of"),
        (Options(stain_vectors="macenko"), ValueError, "needs color_space='hed'"),
        (Options(spatial_weight=-1.0), ValueError, "spatial_weight=-1.0: use a finite number"),
        (Options(spatial_weight=1e9), ValueError, "at most 1e"),
        (Options(texture_sigma=float("inf")), ValueError, "texture_sigma=inf"),
    ],
)
def test_check_refuses_each_bad_option_with_advice(opts, error, match):
    with pytest.raises(error, match=match):
        opts.check()
    # the keyword of segment() gives the same message, before any pixel is read
    with pytest.raises(error, match=match):
        nks.segment(np.zeros((4, 4, 3), np.uint8), **opts.to_dict())


def test_problems_lists_every_bad_option_once():
    problems = Options(n_clusters=1, attempts=0, color_space="luv", stain_vectors="x").problems()
    assert [str(p).split("=")[0].split(" ")[0] for p in problems] == [
        "n_clusters",
        "attempts",
        "color_space",
        "stain_vectors",
    ]
    assert Options().problems() == []


def test_to_dict_and_from_dict_round_trip_through_json():
    import json

    opts = Options(n_clusters=5, seed=2, sample_size=None, color_space="hed", stain_vectors="macenko")
    d = json.loads(json.dumps(opts.to_dict()))
    assert Options.from_dict(d) == opts
    assert Options.from_dict({"attempts": 4}) == Options(attempts=4)  # the rest: defaults


def test_from_dict_refuses_unknown_options_by_name():
    with pytest.raises(ValueError, match=r"colour_space \(did you mean color_space\?\)"):
        Options.from_dict({"colour_space": "lab"})
    with pytest.raises(ValueError, match="mapping"):
        Options.from_dict([("attempts", 3)])  # type: ignore[arg-type]


def test_changed_names_only_what_differs_from_the_defaults():
    assert Options().changed() == {}
    assert Options(seed=0, epsilon=0.2, spatial_weight=0).changed() == {"seed": 0}
    assert Options(normalize=True, sample_size=None).changed() == {"sample_size": None, "normalize": True}


def test_lazy_multiscale_and_suggest_k_take_the_same_options():
    import dask.array as da
    from skimage import data

    img, _ = blocks_image()
    opts = Options(n_clusters=3, seed=1, color_space="lab", attempts=3)
    lazy = segment_lazy(da.from_array(img, chunks=(30, 45, 3)), options=opts)
    assert nks.segment(da.from_array(img, chunks=(30, 45, 3)), **opts.to_dict()).params == lazy.params
    assert {k: lazy.params[k] for k in options.names()} == opts.to_dict()
    levels = nks.segment_multiscale([img, img[::2, ::2]], options=opts)
    assert levels[0].params["color_space"] == "lab" and levels[0].params["attempts"] == 3
    coffee = data.coffee()[::4, ::4]
    a = nks.suggest_k(coffee, range(2, 5), options=opts)
    b = nks.suggest_k(coffee, range(2, 5), seed=1, color_space="lab", attempts=3)
    assert a == b
    with pytest.raises(TypeError, match="segment_lazy got unknown option"):
        segment_lazy(da.from_array(img), 3, colour_space="lab")
    with pytest.raises(ValueError, match="lazy"):
        segment_lazy(da.from_array(img), options=Options(texture_sigma=2.0))


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


def test_model_file_stores_the_options_and_older_files_still_load(tmp_path):
    import json

    img, _ = blocks_image()
    seg = nks.segment(img, 3, seed=2, color_space="lab", attempts=4)
    want = Options(n_clusters=3, seed=2, color_space="lab", attempts=4)
    path = seg.save(tmp_path / "m.json")
    d = json.loads(path.read_text())
    assert d["options"] == want.to_dict()
    model = nks.load_model(path)
    assert model.options == want
    assert np.array_equal(model.apply(img).labels, seg.labels)
    del d["options"]  # as written before the options were stored on their own
    (tmp_path / "old.json").write_text(json.dumps(d))
    old = nks.load_model(tmp_path / "old.json")
    assert old.options == want and np.array_equal(old.apply(img).labels, seg.labels)
    for bad, match in (({**want.to_dict(), "attempts": 0}, "attempts=0"), ({"colour": 1}, "colour")):
        (tmp_path / "bad.json").write_text(json.dumps({**d, "options": bad}))
        with pytest.raises(ValueError, match=f"damaged \\(options: .*{match}"):
            nks.load_model(tmp_path / "bad.json")


def test_a_model_made_without_parameters_saves_and_loads(tmp_path):
    img, _ = blocks_image()
    model = nks.segment(img, 4, seed=0).model
    bare = replace(model, params={})  # built by hand, as a script may do
    assert bare.options == Options(n_clusters=4)
    loaded = nks.load_model(bare.save(tmp_path / "bare.json"))
    assert loaded.options == Options(n_clusters=4)
    assert np.array_equal(loaded.apply(img, rgb=True).labels, model.apply(img).labels)
