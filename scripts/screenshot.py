"""Make docs/screenshot.png: napari with the widget docked, after Run on the coffee sample
and with one cluster hidden. Run under a display (on a headless machine: xvfb-run -a)."""

from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshot.png"


def main():
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 950)
    viewer.open_sample("napari-kmeans-segment", "coffee")
    _, widget = viewer.window.add_plugin_dock_widget("napari-kmeans-segment",
                                                     "K-means segmentation")
    app = QApplication.instance()

    def wait(ready):
        while not ready():
            app.processEvents()

    widget["seed"].value = 0
    widget.suggest_k(k_range=range(2, 9))  # scores K = 2..8 and sets n_clusters
    wait(lambda: widget.suggest_button.enabled)
    widget["n_clusters"].value = 5
    widget.run()
    wait(lambda: widget._worker is None)
    widget.set_cluster_visible(2, False)  # "disable cluster 2", as in the tutorial
    viewer.layers["coffee recolored"].visible = False
    viewer.layers["coffee clusters"].visible = False
    viewer.layers.selection.active = viewer.layers["coffee masked"]
    for _ in range(20):
        app.processEvents()
    OUT.parent.mkdir(exist_ok=True)
    viewer.screenshot(str(OUT), canvas_only=False)
    print(f"wrote {OUT}")
    viewer.close()


if __name__ == "__main__":
    main()
