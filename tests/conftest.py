import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# 150 random inputs per property test in the suite; HYPOTHESIS_PROFILE=fuzz for thousands.
settings.register_profile("default", max_examples=150)
settings.register_profile("fuzz", max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def blocks_image(shape=(60, 90), colors=((20, 30, 200), (200, 40, 40), (30, 190, 60)), noise=6, seed=0):
    """Vertical bands of known colours plus noise: the answer is the band index."""
    rng = np.random.default_rng(seed)
    h, w = shape
    truth = np.repeat(np.arange(len(colors)), -(-w // len(colors)))[:w]
    truth = np.broadcast_to(truth, (h, w))
    img = np.asarray(colors, float)[truth] + rng.normal(0, noise, (h, w, 3))
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


# Tests that need a display (a napari viewer or Qt widgets) are marked ``gui``, so
# ``pytest -m "not gui"`` runs the rest on a machine without one. A test is gui when it lives
# in tests/qt, uses one of these fixtures (directly or through another fixture) or a module
# that imports Qt.
GUI_FIXTURES = {"qtbot", "qapp", "make_napari_viewer", "make_napari_viewer_proxy"}
GUI_MODULES = ("qtpy", "napari_kmeans_segment._qt", "napari.qt", "napari._qt")
QT_TESTS = Path(__file__).resolve().parent / "qt"


def _module_uses_qt(module) -> bool:
    names = {getattr(v, "__module__", None) or getattr(v, "__name__", "") for v in vars(module).values()}
    return any(str(n).startswith(GUI_MODULES) for n in names)


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = getattr(item, "module", None)
        in_qt = QT_TESTS in Path(item.path).resolve().parents
        qt_fixture = GUI_FIXTURES & set(getattr(item, "fixturenames", ()))
        uses_qt = qt_fixture or (module and _module_uses_qt(module))
        if in_qt or uses_qt:
            item.add_marker(pytest.mark.gui)
