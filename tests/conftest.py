import os

import numpy as np
import pytest
from hypothesis import settings

# 150 random inputs per property test in the suite; HYPOTHESIS_PROFILE=fuzz for thousands.
settings.register_profile("default", max_examples=150)
settings.register_profile("fuzz", max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def blocks_image(shape=(60, 90), colours=((20, 30, 200), (200, 40, 40), (30, 190, 60)), noise=6, seed=0):
    """Vertical bands of known colours plus noise: the answer is the band index."""
    rng = np.random.default_rng(seed)
    h, w = shape
    truth = np.repeat(np.arange(len(colours)), -(-w // len(colours)))[:w]
    truth = np.broadcast_to(truth, (h, w))
    img = np.asarray(colours, float)[truth] + rng.normal(0, noise, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8), truth


def same_partition(a, b) -> bool:
    """True when two labelings split the pixels identically (up to renumbering)."""
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    pairs = np.unique(np.stack([a, b]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


@pytest.fixture
def blocks():
    return blocks_image()


def napari_layers_have_units() -> bool:
    """Whether ``viewer.add_image(..., units=...)`` works (napari 0.5.0 refuses a sequence)."""
    from napari.components import ViewerModel

    try:
        ViewerModel().add_image(np.zeros((2, 2)), units=("um", "um"))
    except TypeError:
        return False
    return True


def needs_layer_units():
    return pytest.mark.skipif(
        not napari_layers_have_units(), reason="this napari takes no units in add_image (napari 0.5.0)"
    )
