"""``napari-kmeans-segment demo``: napari with a sample image and the widget docked."""

from __future__ import annotations

import argparse

SAMPLES = ("coffee", "immunohistochemistry", "chelsea")


def demo_main(argv: list[str]) -> int:
    dp = argparse.ArgumentParser(
        prog="napari-kmeans-segment demo", description="Open napari with a sample image and the widget."
    )
    dp.add_argument("--sample", choices=SAMPLES, default="coffee")
    demo(dp.parse_args(argv).sample)
    return 0


def demo(sample: str = "coffee") -> None:
    import napari

    viewer = napari.Viewer()
    viewer.open_sample("napari-kmeans-segment", sample)
    viewer.window.add_plugin_dock_widget("napari-kmeans-segment", "K-means segmentation")
    # The image was fitted to the canvas before the dock narrowed it: lay the window out,
    # then fit the image again so none of it is cropped.
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    viewer.reset_view()
    napari.run()
