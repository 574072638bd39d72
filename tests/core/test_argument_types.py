"""Arguments of the wrong type are refused with a TypeError naming them, never read as
something else: text is not a number ("240"), True is not 1, and "yes"/"no" are not flags
(``bool("no")`` is True)."""

import numpy as np
import pytest
from skimage import data

import napari_kmeans_segment as nks


@pytest.fixture(scope="module")
def slide():
    return data.immunohistochemistry()[::4, ::4]


@pytest.mark.parametrize("white_level", ["240", True, np.bool_(True), [240, "240", 240], (240, 240, False)])
def test_white_level_must_be_numbers(slide, white_level):
    with pytest.raises(TypeError, match="white_level must be a number"):
        nks.segment(slide, 3, color_space="hed", seed=0, white_level=white_level)


def test_numeric_white_levels_are_still_accepted(slide):
    for white_level in (236, 236.0, np.float32(236), (236, 236, 234), np.array([236, 236, 234])):
        seg = nks.segment(slide, 3, color_space="hed", seed=0, white_level=white_level)
        assert 0 < seg.stains.tissue_share < 1


@pytest.mark.parametrize("name", ["tissue", "normalize", "per_plane"])
@pytest.mark.parametrize("value", ["yes", "no", 1, 0, None])
def test_boolean_options_must_be_true_or_false(name, value):
    with pytest.raises(TypeError, match=f"{name} must be True or False"):
        nks.Options(n_clusters=3, **{name: value}).check()


def test_boolean_options_accept_numpy_bools():
    opts = nks.Options(n_clusters=3, tissue=np.bool_(False), normalize=True).check()
    assert opts.tissue is False and opts.normalize is True


def test_text_tissue_flag_is_refused_by_segment(slide):
    with pytest.raises(TypeError, match="tissue must be True or False"):
        nks.segment(slide, 3, color_space="hed", seed=0, tissue="no")


@pytest.fixture(scope="module")
def labels():
    lab = np.zeros((40, 40), np.uint8)
    lab[5:15, 5:15] = 1
    lab[20:30, 20:30] = 2
    return lab


@pytest.mark.parametrize("label", ["1", ["1"], True, [True]])
def test_extract_objects_label_must_be_a_number(labels, label):
    with pytest.raises(TypeError, match="label must be a cluster label"):
        nks.extract_objects(labels, label, None)


@pytest.mark.parametrize("split", ["yes", "no", 1, None])
def test_extract_objects_split_must_be_true_or_false(labels, split):
    with pytest.raises(TypeError, match="split must be True or False"):
        nks.extract_objects(labels, [1], None, split=split)


def test_extract_objects_still_counts_the_squares(labels):
    for label in (1, [1, 2], np.array([1, 2]), np.uint8(2)):
        objects, table = nks.extract_objects(labels, label, None, split=False)
        assert len(table["index"]) == np.atleast_1d(label).size
        assert set(table["area_px"]) == {100}
