"""Lazy labels of an 8-bit RGB dask image vs one cv2.calcHist pass over the same pixels
(1024x1024 and 128x128 blocks), beside dask's own floor over the same chunks (a map_blocks
that only copies one channel), and suggest_k on a 1 MP photograph. Prints timings (the
machine may be shared: numbers are noisy). The label table is built box by box
(``_core/fit/color_boxes.py``); its build time is printed apart, as it happens once per model.

    PYTHONPATH=src python benchmarks/bench_lazy.py
"""

from __future__ import annotations

import time

import numpy as np


def best_of(fn, repeat: int = 3) -> float:
    """The shortest of ``repeat`` wall times of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_lazy(side: int = 4096, chunk: int = 128) -> None:
    import cv2
    import dask.array as da
    from skimage import data

    import napari_kmeans_segment as nks
    from napari_kmeans_segment._core.lazy import _channels_last, apply_lazy, cached_label_table

    rng = np.random.default_rng(0)
    photo = data.astronaut()
    tiles = np.tile(photo, (side // photo.shape[0] + 1, side // photo.shape[1] + 1, 1))[:side, :side]
    image = np.ascontiguousarray(tiles ^ rng.integers(0, 4, tiles.shape, np.uint8))
    mp = image.shape[0] * image.shape[1] / 1e6
    model = nks.segment(photo, 8, seed=0).model
    arr, is_rgb, layout = _channels_last(da.from_array(image, chunks=(chunk, chunk, 3)), True, None)
    print(f"image {side}x{side} 8-bit RGB, {np.prod(arr.numblocks)} chunks of {chunk}x{chunk}, K=8")

    t = time.perf_counter()
    cached_label_table(model, np.uint8, 3)
    build = time.perf_counter() - t
    print(f"  label table (2^24 colours, once per model): {build:.2f} s")

    labels, _ = apply_lazy(model, arr, is_rgb, layout, None, use_table=True)
    best = best_of(labels.compute)
    print(f"  lazy labels (table cached):   {mp / best:7.1f} MP/s ({best:.3f} s)")

    buf = np.zeros((256, 256, 256), np.float32)
    px = image.reshape(-1, 1, 3)
    hbest = best_of(lambda: cv2.calcHist([px], [0, 1, 2], None, [256] * 3, [0, 256] * 3, hist=buf))
    print(f"  one cv2.calcHist pass:        {mp / hbest:7.1f} MP/s ({hbest:.3f} s)")
    print(f"  ratio calcHist / lazy labels: {best / hbest:.2f}x (target <= 2x)")

    # dask's own floor: a map_blocks that only copies one channel, over the same chunks
    floor = arr.map_blocks(lambda b: b[..., 0].copy(), drop_axis=arr.ndim - 1, dtype=np.uint8)
    fbest = best_of(floor.compute)
    print(f"  dask floor (copy one channel per chunk): {mp / fbest:7.1f} MP/s ({fbest:.3f} s)")


def bench_suggest() -> None:
    from skimage import data, transform

    import napari_kmeans_segment as nks

    coffee = data.coffee()
    big = (transform.resize(coffee, (1000, 1000), preserve_range=True)).astype(np.uint8)
    for name, img in (("coffee 1 MP", big), ("immunohistochemistry", data.immunohistochemistry())):
        t = time.perf_counter()
        res = nks.suggest_k(img, range(2, 11), seed=0)
        dt = time.perf_counter() - t
        print(
            f"suggest_k K=2..10 on {name} ({img.shape[0] * img.shape[1] / 1e6:.2f} MP): {dt:.2f} s, K={res.k}"
        )


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()  # --help, nothing else
    bench_lazy(chunk=1024)  # 1024 px blocks: per-task overhead is negligible
    bench_lazy(chunk=128)  # small blocks: dask's per-task overhead shows
    bench_suggest()
