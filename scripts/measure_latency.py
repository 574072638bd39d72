"""Cancel latency and GIL hold of the long cases: large texture scales, float RGB at K = 64,
distinct values of a nearly constant image, extreme numbers (a measurement, not a test).

For each case, one full run records
- the longest gap between two polls of ``cancel`` (the worst wait after pressing Cancel),
- the longest gap of a thread that wakes every 5 ms (how long napari's event loop could be
  starved: GIL held by one call, plus scheduling noise on a busy machine),
then runs are cancelled at a few points of their course and the time to ``Cancelled`` taken.

    PYTHONPATH=src python scripts/measure_latency.py [--size 4096] [--cases texture,rgb64,objects]

``--size 4096`` is a 16 MP image. Timings depend on the machine and its load: quote them
with the number of cores and what else was running.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np

import napari_kmeans_segment as nks


def cases(size: int) -> dict:
    rng = np.random.default_rng(0)
    flat = np.ones((size, size))
    flat[size // 2, size // 2] = 2.0
    return {
        "texture": (
            lambda: rng.random((size, size)).astype(np.float32),
            dict(n_clusters=3, texture_sigma=100.0, attempts=3),
        ),
        "rgb64": (lambda: rng.random((size, size, 3), dtype=np.float32), dict(n_clusters=64, attempts=3)),
        "distinct": (lambda: flat, dict(n_clusters=3)),  # ends in "only 2 distinct values"
        "extreme": (lambda: np.tile([-1e308, 0.0, 1e308], (size, size // 3)), dict(n_clusters=3)),
        # extract_objects of one cluster of a noisy 3-cluster labelling: ~size^2/60 objects
        "objects": (lambda: rng.integers(1, 4, (size, size)).astype(np.uint8), dict(label=1)),
    }


class Watch:
    def __init__(self, cancel_after: float | None = None):
        self.t0 = time.perf_counter()
        self.polls = [self.t0]
        self.cancel_after = cancel_after
        self.cancelled_at: float | None = None
        self.gil_gap = 0.0
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self):
        while not self._stop.is_set():
            t = time.perf_counter()
            time.sleep(0.005)
            self.gil_gap = max(self.gil_gap, time.perf_counter() - t - 0.005)

    def cancel(self) -> bool:
        now = time.perf_counter()
        self.polls.append(now)
        if self.cancel_after is not None and now - self.t0 >= self.cancel_after:
            if self.cancelled_at is None:
                self.cancelled_at = now
            return True
        return False

    def stop(self):
        self._stop.set()
        self._ticker.join()
        end = time.perf_counter()
        self.polls.append(end)
        return end


def run(image, kw, cancel_after=None):
    w = Watch(cancel_after)
    outcome = "done"
    try:
        if "label" in kw:  # the labels of a noisy segmentation: measure one cluster's objects
            nks.extract_objects(image, kw["label"], np.dstack([image] * 3), cancel=w.cancel)
        else:
            nks.segment(image, seed=0, cancel=w.cancel, **kw)
    except nks.Cancelled:
        outcome = "cancelled"
    except ValueError as e:
        outcome = f"ValueError: {str(e)[:60]}"
    end = w.stop()
    gaps = np.diff(w.polls)
    latency = None if w.cancelled_at is None else end - w.cancelled_at
    return dict(
        total=end - w.t0,
        poll_gap=float(gaps.max()),
        gil_gap=w.gil_gap,
        latency=latency,
        outcome=outcome,
        polls=len(w.polls) - 2,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--cases", default="texture,rgb64,distinct,extreme")
    a = ap.parse_args()
    all_cases = cases(a.size)
    nks.segment(np.random.default_rng(1).random((20, 20)), 2)  # imports (cv2...) happen once
    for name in a.cases.split(","):
        make, kw = all_cases[name]
        image = make()
        full = run(image, kw)
        print(
            f"{name:9s} {a.size}^2 {kw}: {full['outcome']} in {full['total']:.2f} s, "
            f"{full['polls']} polls, longest gap between polls {full['poll_gap']:.3f} s, "
            f"longest 5 ms tick gap {full['gil_gap']:.3f} s"
        )
        worst = 0.0
        for frac in (0.1, 0.3, 0.5, 0.7, 0.9):
            r = run(image, kw, cancel_after=frac * full["total"])
            if r["latency"] is not None:
                worst = max(worst, r["latency"])
        print(f"{'':9s} cancelled at 10/30/50/70/90% of the run: worst time to Cancelled {worst:.3f} s")


if __name__ == "__main__":
    main()
