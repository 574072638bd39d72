"""A console script that uses the dock and ends without closing the viewer exits cleanly.

At interpreter exit Qt deleted the preview timer before the dock's
``destroyed`` handler ran, which raised inside a Qt slot and aborted Python (exit 134).
"""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.gui  # the script opens a napari window in a subprocess

SCRIPT = textwrap.dedent("""
    import napari
    from qtpy.QtWidgets import QApplication
    from skimage import data

    viewer = napari.Viewer(show=False)
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    _, w = viewer.window.add_plugin_dock_widget("napari-kmeans-segment", "K-means segmentation")
    w["n_clusters"].value = 3
    w.run()
    while w.busy:
        QApplication.processEvents()
    w.set_cluster_visible(1, False)
    print("layers:", sorted(layer.name for layer in viewer.layers))
""")


def test_script_ending_without_closing_the_viewer_exits_cleanly():
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "coffee clusters" in res.stdout
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
