"""Long runs: every stage polls ``cancel``, no single call holds the GIL for long,
and options that would run for minutes are refused with a reason.

Cancel latency is tested structurally, never with a timer: the heavy primitives are wrapped
to count the work they are given, and the ``cancel`` callback records how much work was
done since it was last polled. Real latencies are measured by ``scripts/measure_latency.py``
(timings are never asserted: the machine running the tests may be busy).
"""

import importlib
import textwrap
import threading

import numpy as np
import pytest
from fuzz_cases import run_python

import napari_kmeans_segment as nks

# Work between two polls of ``cancel``, in the units of each meter: ~0.05-0.1 s on one core.
BLUR_BUDGET = 1 << 28  # pixels x kernel taps handed to cv2.GaussianBlur
NEAREST_BUDGET = 1 << 24  # rows x centres handed to the nearest-centre search
UNIQUE_ROWS = 1 << 18  # rows per np.unique call (np.unique on rows holds the GIL)


def _core(*names):
    for name in names:
        try:
            return importlib.import_module(f"napari_kmeans_segment._core.{name}")
        except ImportError:
            continue
    raise ImportError(names)


class Meter:
    """Work done since the last poll of ``cancel``; the worst gap and the largest single call."""

    def __init__(self, cancel_at: int | None = None):
        self.lock = threading.Lock()
        self.since = self.worst = self.biggest = self.polls = 0
        self.cancel_at = cancel_at

    def add(self, n: int) -> None:
        with self.lock:
            self.since += n
            self.biggest = max(self.biggest, n)

    def poll(self) -> bool:
        with self.lock:
            self.worst = max(self.worst, self.since)
            self.since = 0
            self.polls += 1
            return self.cancel_at is not None and self.polls >= self.cancel_at

    def finish(self) -> None:
        self.worst = max(self.worst, self.since)


def test_texture_is_computed_in_cancellable_pieces(monkeypatch):
    # regression: texture_sigma=100 on a 16 MP float image returned 27 s after Cancel
    # (local_std ran over the whole image before any check)
    import cv2

    meter = Meter()
    blur = cv2.GaussianBlur

    def counted(src, ksize, sigma, *a, **kw):
        meter.add(int(np.asarray(src).size) * int(8 * max(sigma, kw.get("sigmaY", 0) or 0) + 1))
        return blur(src, ksize, sigma, *a, **kw)

    monkeypatch.setattr(cv2, "GaussianBlur", counted)
    img = np.random.default_rng(0).random((1024, 1024)).astype(np.float32)
    nks.segment(img, 2, seed=0, attempts=1, texture_sigma=100.0, cancel=meter.poll)
    meter.finish()
    assert meter.biggest > 0, "the texture was not computed with cv2.GaussianBlur"
    assert meter.worst <= BLUR_BUDGET, f"{meter.worst:.3g} pixel-taps blurred between polls"
    # and Cancel during the texture stage stops the run
    with pytest.raises(nks.Cancelled):
        nks.segment(img, 2, seed=0, texture_sigma=100.0, cancel=Meter(cancel_at=2).poll)


def test_assignment_with_many_centers_polls_cancel_often(monkeypatch):
    # regression: float RGB at K=64 took up to 1.2 s between checks (a 4 MP chunk at a time)
    mod = _core("fit.numerics", "kmeans")
    meter = Meter()
    nearest = mod.nearest

    def counted(x, centers, *a, **kw):
        meter.add(int(x.shape[0]) * int(centers.shape[0]))
        return nearest(x, centers, *a, **kw)

    monkeypatch.setattr(mod, "nearest", counted)
    rng = np.random.default_rng(0)
    img = rng.random((1024, 1024, 3), dtype=np.float32)
    seg = nks.segment(img, 64, seed=0, attempts=1, max_iter=3, cancel=meter.poll)
    meter.finish()
    assert seg.labels.max() == 64
    assert meter.biggest > 0
    assert meter.worst <= NEAREST_BUDGET, f"{meter.worst:.3g} row-centres between polls"


def test_fast_path_at_large_k_polls_cancel_often_and_bounds_its_memory(monkeypatch):
    """Regression: K=100 and 200 with many attempts: k-means++ seeding never
    polled cancel (5.7 s), the histogram polish measured 100M distances before its first poll
    (6.7 s), and attempts=1000 at K=255 asked for one (2000, 1000, 255) float64 array (3.8 GiB,
    MemoryError): starts now run in groups of at most MAX_DISTANCES per Lloyd step."""
    import tracemalloc

    from napari_kmeans_segment._core.fit import candidates

    meter = Meter()
    distances = candidates.squared_distances

    def counted(x, c, *a, **kw):
        meter.add(int(x.shape[0]) * int(np.prod(np.shape(c)[:-1])))
        return distances(x, c, *a, **kw)

    monkeypatch.setattr(candidates, "squared_distances", counted)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)  # ~110k distinct colours
    seg = nks.segment(img, 200, seed=0, attempts=3, max_iter=5, cancel=meter.poll)
    meter.finish()
    assert seg.labels.max() == 200
    assert meter.worst <= NEAREST_BUDGET, f"{meter.worst:.3g} row-centres between polls"
    tracemalloc.start()
    with pytest.raises(nks.Cancelled):
        nks.segment(img, 255, seed=0, attempts=1000, cancel=Meter(cancel_at=300).poll)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 400 * 2**20, f"{peak / 2**20:.0f} MB before the 300th poll"


def test_distinct_value_count_works_in_small_pieces(monkeypatch):
    # regression: counting distinct values of a nearly constant 16 MP float image held the GIL
    # for 5.8 s (np.unique over 4 MP rows at a time), with no cancel check
    meter = Meter()
    unique = np.unique

    def counted(ar, *a, **kw):
        meter.add(int(np.shape(ar)[0]) if np.ndim(ar) else 1)
        return unique(ar, *a, **kw)

    monkeypatch.setattr(np, "unique", counted)
    img = np.ones((2048, 2048))
    img[1000, 1000] = 2.0  # two values: K=3 is impossible, and proving it reads every pixel
    polls = Meter()
    with pytest.raises(ValueError, match="distinct"):
        nks.segment(img, 3, seed=0, cancel=polls.poll)
    assert meter.biggest <= UNIQUE_ROWS, f"np.unique on {meter.biggest} rows at once"
    assert polls.polls >= img.size // (1 << 20), f"cancel polled {polls.polls} times"
    with pytest.raises(nks.Cancelled):
        nks.segment(img, 3, seed=0, cancel=Meter(cancel_at=2).poll)


@pytest.mark.parametrize(
    "call",
    [
        "nks.segment(np.random.default_rng(0).random((4, 4)), 2, attempts=10**6)",
        "nks.segment(np.random.default_rng(0).random((6, 6)), 2, texture_sigma=1e6)",
    ],
    ids=["attempts", "texture_sigma"],
)
def test_options_that_would_run_for_minutes_are_refused(call):
    # regression: attempts=10**6 or texture_sigma=1e6 on a tiny image ran on for minutes
    rc, out, err = run_python(
        textwrap.dedent(f"""
        import numpy as np, napari_kmeans_segment as nks
        try:
            {call}
        except ValueError as e:
            print("REFUSED", e)
    """),
        timeout=60,
    )
    assert rc == 0 and "REFUSED" in out, f"rc={rc}\n{out}\n{err[-1500:]}"
    assert "at most" in out


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"max_iter": 2**31}, ValueError, "at most"),
        ({"init": ["random"]}, TypeError, "init"),
        ({"channel_axis": 1.5}, TypeError, "channel_axis"),
    ],
    ids=["max_iter", "init", "channel_axis"],
)
def test_raw_messages_are_replaced_by_advice(kwargs, exc, words):
    # regression: "integer won't fit into a C int", "unhashable type: 'list'",
    # "'float' object is not iterable"
    img = np.random.default_rng(0).random((6, 6, 2))
    with pytest.raises(exc) as e:
        nks.segment(img, 2, sample_size=None, **kwargs)
    msg = str(e.value)
    assert words in msg and "C int" not in msg and "unhashable" not in msg
    assert "not iterable" not in msg


def test_constant_image_says_it_is_constant():
    # regression: "choose K <= 1" for a constant image
    with pytest.raises(ValueError) as e:
        nks.segment(np.full((8, 8), 5.0), 3)
    msg = str(e.value)
    assert "constant" in msg and "K <= 1" not in msg


def test_suggest_k_refuses_a_silhouette_sample_it_cannot_hold():
    # regression: MemoryError (or minutes of work) from suggest_k(silhouette_size=10**6)
    img = np.random.default_rng(0).random((30, 30))
    with pytest.raises(ValueError, match="at most"):
        nks.suggest_k(img, range(2, 4), silhouette_size=10**6)


def test_progress_of_the_float_fast_path_never_goes_back():
    """The float path's polish reported 40-70% after the starts had reached 62% (the CLI
    printed 47% then 46%)."""
    seen = []
    img = np.random.default_rng(0).random((600, 800, 3), dtype=np.float32)
    nks.segment(img, 5, seed=0, progress=lambda f, msg: seen.append(f))
    assert len(seen) > 5 and all(b >= a for a, b in zip(seen, seen[1:])), seen
