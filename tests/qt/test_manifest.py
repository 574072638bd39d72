"""The npe2 manifest: valid, importable, and its contributions work in napari."""

import subprocess
import sys

import numpy as np


def test_npe2_validate_with_imports():
    out = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-kmeans-segment", "--imports"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_importing_the_package_loads_no_qt_napari_or_cv2():
    code = (
        "import sys, napari_kmeans_segment; "
        "bad = [m for m in ('napari', 'qtpy', 'PyQt6', 'cv2') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_sample_data_and_widget_open_in_napari(make_napari_viewer):
    viewer = make_napari_viewer()
    for key in ("coffee", "immunohistochemistry"):
        viewer.open_sample("napari-kmeans-segment", key)
    assert [ly.name for ly in viewer.layers] == ["coffee", "immunohistochemistry"]
    assert all(ly.rgb and ly.data.dtype == np.uint8 for ly in viewer.layers)
    dock, widget = viewer.window.add_plugin_dock_widget("napari-kmeans-segment", "K-means segmentation")
    assert widget["image_layer"].value is viewer.layers["immunohistochemistry"]
    for name in ("image_layer", "n_clusters", "attempts", "max_iter", "epsilon", "init", "seed"):
        assert widget[name].name == name  # reachable by name, wherever the dock puts it
