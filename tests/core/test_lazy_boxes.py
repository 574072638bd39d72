"""The 8-bit RGB label table built box by box equals the one measured colour by colour."""

import numpy as np
import pytest

import napari_kmeans_segment as nks
from napari_kmeans_segment._core import lazy


@pytest.mark.parametrize(("k", "options"), [(5, {}), (9, {"normalize": True})])
def test_boxes_give_the_color_by_color_table(monkeypatch, k, options):
    rng = np.random.default_rng(k)
    img = np.clip(
        rng.integers(0, 256, (k, 3))[rng.integers(0, k, (90, 120))] + rng.normal(0, 25, (90, 120, 3)), 0, 255
    ).astype(np.uint8)
    model = nks.segment(img, k, seed=0, **options).model
    boxes = lazy.label_table(model, np.uint8, 3)
    monkeypatch.setattr(lazy, "boxes_apply", lambda fs: False)
    one_by_one = lazy.label_table(model, np.uint8, 3)
    assert boxes.dtype == one_by_one.dtype
    np.testing.assert_array_equal(boxes, one_by_one)
