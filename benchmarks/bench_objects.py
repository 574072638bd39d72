"""Counting nuclei against known truth, and what smoothing costs.

Part 1 (quality): for every image with a true mask, every K in {2, 3} and smoothing in
{0, 1, 2} pixels, the README's recipe "count nuclei" runs: ``segment(image, K, seed=0,
smoothing=s, scale=...)``, objects of "all but darkest" with ``split=True`` and
``min_size=20``. Printed per row: foreground Dice, object F1 at IoU 0.5 (precision,
recall), the count and the true count. Images: synthetic nuclei (touching, dim, noisy; two
2D seeds and an anisotropic 3D volume, :mod:`napari_kmeans_segment._core.truth`), the 2018
Data Science Bowl image of 125 nuclei with expert masks and stardist's synthetic 3D volume
(tests/data). The last lines give, per image, the best row.

Part 2 (cost): the default run on a full-HD (1920x1080) fluorescence-like image, the plain
``cv2.kmeans`` recipe on it (one attempt), and the default run with smoothing 1 and 2 px;
the median of ``--repeats`` runs.

Part 3 (bounds): split on a cluster of a million one-pixel specks, its time and peak memory.

Usage: python benchmarks/bench_objects.py [--repeats 3] [--skip-cost]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import napari_kmeans_segment as nks
from napari_kmeans_segment._core.truth import dice, match_objects, synthetic_nuclei, synthetic_nuclei_3d

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def images():
    for seed in (0, 1):
        nu = synthetic_nuclei(seed=seed)
        yield f"synthetic 2D seed {seed}", nu.image, nu.truth, None
    nu3 = synthetic_nuclei_3d(seed=0)
    yield "synthetic 3D (2x1x1)", nu3.image, nu3.truth, nu3.scale
    for name, label in (("dsb2018_nuclei_2d", "DSB 2018 (experts)"), ("stardist_nuclei_3d", "stardist 3D")):
        path = DATA / f"{name}.npz"
        if path.exists():
            d = np.load(path)
            yield label, d["image"], d["truth"], None


def count(image, k, s, scale):
    seg = nks.segment(image, k, seed=0, smoothing=s, scale=scale)
    fg = nks.foreground_labels(seg, "all but darkest")
    objects, table = nks.extract_objects(seg.labels, fg, split=True, min_size=20, scale=scale)
    return np.isin(seg.labels, fg), objects


def quality() -> None:
    cols = ("Dice", "F1", "prec", "rec", "count", "truth")
    head = f"{'image':24} {'K':>2} {'s':>3} " + " ".join(f"{c:>6}" for c in cols)
    print(head)
    print("-" * len(head))
    best: dict[str, tuple] = {}
    for name, image, truth, scale in images():
        for k in (2, 3):
            for s in (0, 1, 2):
                fg, objects = count(image, k, s, scale)
                m = match_objects(objects, truth)
                row = (name, k, s, dice(fg, truth), m.f1, m.precision, m.recall, m.found, m.truth)
                print(
                    f"{name:24} {k:>2} {s:>3} {row[3]:6.3f} {m.f1:6.3f} {m.precision:6.3f} {m.recall:6.3f} "
                    f"{m.found:6d} {m.truth:6d}",
                    flush=True,
                )
                if name not in best or row[4] > best[name][4]:
                    best[name] = row
    print("\nbest of K x smoothing per image (targets: F1 >= 0.80, Dice >= 0.88, count within 10%)")
    for name, (_, k, s, d, f1, _, _, found, true) in best.items():
        print(
            f"{name:24} K={k} s={s}: F1 {f1:.3f}, Dice {d:.3f}, count {found} of {true} "
            f"({100 * (found - true) / true:+.0f}%)"
        )


def cost(repeats: int) -> None:
    import cv2
    from skimage import data

    images = {
        "nuclei uint16": synthetic_nuclei((1080, 1920), n=900, seed=0).image,
        "astronaut RGB": cv2.resize(data.astronaut(), (1920, 1080), interpolation=cv2.INTER_AREA),
    }

    def timed(fn) -> float:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    print(f"\nfull HD 1920x1080, K=3, median of {repeats} runs (seconds; x the default run)")
    for name, img in images.items():

        def recipe(img=img):
            data = img.reshape(-1, 1 if img.ndim == 2 else 3).astype(np.float32)
            crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 0.2)
            cv2.kmeans(data, 3, None, crit, 1, cv2.KMEANS_RANDOM_CENTERS)

        base = timed(lambda img=img: nks.segment(img, 3, seed=0))
        rows = [("plain cv2.kmeans recipe (1 attempt)", timed(recipe)), ("default run, smoothing 0", base)]
        for s in (1, 2):
            rows.append(
                (
                    f"default run, smoothing {s}",
                    timed(lambda s=s, img=img: nks.segment(img, 3, seed=0, smoothing=s)),
                )
            )
        for what, t in rows:
            print(f"{name:14} {what:38} {t:7.3f}  {t / base:5.2f}x")


def specks() -> None:
    """Split on a cluster of a million isolated pixels: time and peak memory (tracemalloc
    sees numpy's allocations) against the labels' own size."""
    import tracemalloc

    lab = np.ones((2000, 2000), np.uint8)
    lab[::2, ::2] = 2
    tracemalloc.start()
    t = time.perf_counter()
    _, table = nks.extract_objects(lab, 2, split=True)
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"\nsplit of {len(table['index']):,} specks in 2000x2000: {dt:.2f} s, peak {peak / 2**20:.0f} MB "
        f"({peak / lab.size:.0f} bytes per pixel)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-cost", action="store_true")
    args = ap.parse_args()
    quality()
    if not args.skip_cost:
        cost(args.repeats)
    specks()


if __name__ == "__main__":
    main()
