"""What the dock's actions cost on a large image: Run's write, hide, merge, undo, objects.

A 4000x4000 RGB image (16 MP: the coffee photograph tiled), K=5, in a napari ViewerModel
(no window, the same session code the dock calls on its GUI thread). Each action is timed
once, in order, as a person would do them; the numbers are wall-clock seconds on whatever
machine runs this (noisy when shared). Hide, merge and undo run on the GUI thread, so they
are how long the window does not respond; objects are measured in a worker by the dock.

    python benchmarks/bench_actions.py [--side 4000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    import cv2
    from napari.components import ViewerModel
    from skimage import data

    import napari_kmeans_segment as nks
    from napari_kmeans_segment._session.layers import Source
    from napari_kmeans_segment._session.session import ClusterSession

    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=4000)
    side = ap.parse_args().side
    tile = cv2.resize(data.coffee(), (1000, 1000), interpolation=cv2.INTER_AREA)
    img = np.ascontiguousarray(np.tile(tile, (side // 1000 + 1, side // 1000 + 1, 1))[:side, :side])
    viewer = ViewerModel()
    layer = viewer.add_image(img, name="big")
    src = Source.from_layers([layer])
    seg = nks.segment(img, 5, seed=0)
    session = ClusterSession(viewer, layer)
    steps = [
        ("write the Run's layers", lambda: session.set_result(seg, src)),
        ("hide cluster 1", lambda: session.set_visible({1: False})),
        ("hide cluster 2", lambda: session.set_visible({2: False})),
        ("show cluster 1", lambda: session.set_visible({1: True})),
        ("merge 3 + 4", lambda: session.merge([3, 4])),
        ("undo the merge", session.undo),
        ("objects of cluster 1 (worker)", lambda: session.measure.extract_objects(1, min_size=10)),
    ]
    mp = side * side / 1e6
    print(f"{side}x{side} RGB ({mp:.0f} MP), K=5, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| action | seconds |\n|---|---|")
    for name, fn in steps:
        t = time.perf_counter()
        fn()
        print(f"| {name} | {time.perf_counter() - t:.2f} |")


if __name__ == "__main__":
    main()
