"""Speed, quality and memory: the plugin's default path vs the plain cv2.kmeans recipe.

Each row runs, in this one process, on a real photograph resized to 1920x1080:
  exact   = the tutorial: cv2.kmeans on every pixel, 10 attempts, 100 iterations,
            epsilon 0.2, random centres (napari_kmeans_segment.segment(sample_size=None),
            which the tests show splits pixels exactly like the tutorial's code);
  default = napari_kmeans_segment.segment() with the same parameters (fast path).
"inertia ratio" is default compactness / exact compactness (lower is better; <= 1.005 is
the contract). Times are wall-clock without tracing: the exact recipe once, the default path
the median of 5 runs. Peak memory comes from a separate run under tracemalloc (numpy's
allocations, which include every array OpenCV returns, but not OpenCV's internal buffers),
with the 8-bit colour tables that later runs reuse (80 MB) counted as in a first run.

Usage: python benchmarks/bench_speed.py [--quick] [--big]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc

import cv2
import numpy as np
from skimage import data

import napari_kmeans_segment as nks
from napari_kmeans_segment._core.fit.numerics import _SCRATCH

IMAGES = ("rocket", "astronaut", "chelsea")  # the tests use coffee and others at native size


def timed(fn, repeat=1):
    """(result, median seconds over ``repeat`` untraced runs, traced peak bytes)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    _SCRATCH.clear()  # count the reusable colour tables in the peak, as in a first run
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, float(np.median(times)), peak


def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, OpenCV {cv2.__version__}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one image, K=3 only")
    ap.add_argument("--big", action="store_true", help="also a 10000x10000 RGB image, K=8")
    a = ap.parse_args()
    print(f"machine: {machine()}\n")
    print("| image | K | exact s | default s | speed-up | inertia ratio | exact peak MB | default peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    images = IMAGES[:1] if a.quick else IMAGES
    cases = [
        (f"{name} 1920x1080", cv2.resize(getattr(data, name)(), (1920, 1080), interpolation=cv2.INTER_AREA))
        for name in images
    ]
    if not a.quick:  # not photographs: no exact colour histogram, chunked refinement
        cases.append(
            (
                "astronaut 16-bit RGB 1024x1024",
                cv2.resize(data.astronaut(), (1024, 1024)).astype(np.uint16) * 257,
            )
        )
        cases.append(
            ("camera float32 2048x2048", cv2.resize(data.camera(), (2048, 2048)).astype(np.float32) / 255)
        )
    for name, img in cases:
        for k in (3,) if a.quick else (3, 8):
            exact, te, pe = timed(lambda img=img, k=k: nks.segment(img, k, seed=0, sample_size=None))
            fast, tf, pf = timed(lambda img=img, k=k: nks.segment(img, k, seed=0), repeat=5)
            ratio = fast.compactness / exact.compactness
            print(
                f"| {name} | {k} | {te:.2f} | {tf:.3f} | {te / tf:.0f}x | "
                f"{ratio:.4f} | {pe / 2**20:.0f} | {pf / 2**20:.0f} |",
                flush=True,
            )
    if a.big:
        rng = np.random.default_rng(0)
        tile = cv2.resize(data.astronaut(), (2000, 2000))
        big = np.tile(tile, (5, 5, 1))
        big = np.clip(big.astype(np.int16) + rng.integers(-3, 4, big.shape, dtype=np.int16), 0, 255).astype(
            np.uint8
        )
        t = time.perf_counter()
        for _ in range(3):
            cv2.cvtColor(big, cv2.COLOR_RGB2Lab)
        lab_pass = (time.perf_counter() - t) / 3
        seg, tf, pf = timed(lambda: nks.segment(big, 8, seed=0))
        out_mb = (seg.labels.nbytes + seg.recolored.nbytes) / 2**20
        print(
            f"\n10000x10000 RGB, K=8: {tf:.1f} s = {tf / lab_pass:.1f} RGB->Lab passes "
            f"({lab_pass:.2f} s each); peak {pf / 2**20:.0f} MB of which outputs "
            f"{out_mb:.0f} MB; image {big.nbytes / 2**20:.0f} MB; extra beyond outputs "
            f"{(pf / 2**20 - out_mb):.0f} MB"
        )
        import dask.array as da

        lazy = da.from_array(big, chunks=(2000, 2000, 3))
        t = time.perf_counter()
        lseg = nks.segment(lazy, 8, seed=0)
        t_fit = time.perf_counter() - t
        t = time.perf_counter()
        n_done = 0
        for block in lseg.labels.blocks.ravel():  # stream: one block in memory at a time
            n_done += int(np.asarray(block).size)
        t_all = time.perf_counter() - t
        print(
            f"same image as dask (2000x2000 chunks), K=8: lazy fit {t_fit:.2f} s, "
            f"streaming all {n_done / 1e6:.0f} MP of labels {t_all:.1f} s"
        )


if __name__ == "__main__":
    main()
