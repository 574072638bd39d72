"""Numerics shared by the fitting paths: nearest centre, Lloyd steps, per-cluster sums,
a small thread pool for pieces of an image, reusable scratch buffers, memory checks.

numpy and OpenCV only; nothing here knows about options or results.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import numpy as np

from ..features.image import PixelImage

LUMA = np.array([0.299, 0.587, 0.114])


def labels_dtype(k: int) -> np.dtype:
    return np.dtype(np.uint8 if k <= 255 else np.uint16)


def nearest(x: np.ndarray, centers: np.ndarray, want_dist: bool = False):
    """Index of the nearest centre for each row of ``x`` (and the squared distance).

    Few centres and features: squared differences summed feature by feature, whose float32
    rounding is relative to each distance itself. Otherwise a matrix product
    ``-2 x.c + |c|^2``, in float64 when the centres lie close together next to a far one
    (float32's rounding of ``|c|^2`` would then exceed the gap between the close ones:
    uint16 data with clusters at 100, 105 and 60000 were labelled 8-23% wrongly).
    """
    k = centers.shape[0]
    ref = centers.mean(axis=0, dtype=np.float64)
    c64 = np.asarray(centers, np.float64) - ref
    c2 = (c64**2).sum(axis=1)
    n = x.shape[0]
    lab = np.empty(n, np.int32 if k > 255 else np.uint8)
    dist = np.empty(n, np.float64) if want_dist else None
    step = max(4096, (1 << 23) // k)
    # Few centres and features: broadcast arithmetic instead of a matrix product. A BLAS call
    # here starts BLAS's own threads inside our thread pool, and on a busy 2-core machine
    # that oversubscription made the whole default path about 2x slower.
    small = k * c64.shape[1] <= 48
    wide = not small and k > 1 and float(np.max(c2)) > 1e3 * _closest_pair(c64)
    work = np.dtype(np.float64 if wide else np.float32)
    c: np.ndarray = c64.astype(work)
    m2c: np.ndarray = -2 * c.T  # (F, K)
    c2w: np.ndarray = c2.astype(work)
    ref_w: np.ndarray = ref.astype(work)
    for s in range(0, n, step):
        xs: np.ndarray = x[s : s + step].astype(work, copy=False) - ref_w
        d: np.ndarray
        if small:
            d = xs[:, :1] - c[:, 0]
            d *= d
            for f in range(1, c.shape[1]):
                t: np.ndarray = xs[:, f : f + 1] - c[:, f]
                t *= t
                d += t
        else:
            d = xs @ m2c
            d += c2w
        li = d.argmin(axis=1)
        lab[s : s + step] = li
        if dist is not None:
            dmin = np.take_along_axis(d, li[:, None], axis=1)[:, 0].astype(np.float64)
            if not small:
                dmin += np.einsum("ij,ij->i", xs, xs)
            dist[s : s + step] = np.maximum(dmin, 0)
    return lab, dist


def _closest_pair(c: np.ndarray) -> float:
    """Smallest squared distance between two of the centres ``c`` (K, F) (inf if all equal)."""
    d = ((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=-1)
    d[np.diag_indices_from(d)] = np.inf
    d[d == 0] = np.inf
    return float(d.min())


_SCRATCH: dict = {}
_SCRATCH_GUARD = threading.Lock()


@contextmanager
def scratch(shape, dtype):
    """A zeroed buffer that is kept between runs.

    The 8-bit colour tables are 16-64 MB; allocating them afresh each run costs page faults
    that can take longer than the whole computation. Concurrent runs (a preview and a Run)
    each get their own: a buffer in use is never shared.
    """
    key = (tuple(shape), np.dtype(dtype).str)
    with _SCRATCH_GUARD:
        lock, buf = _SCRATCH.setdefault(key, (threading.Lock(), None))
    if not lock.acquire(blocking=False):
        yield np.zeros(shape, dtype)
        return
    try:
        if buf is None:
            buf = np.zeros(shape, dtype)
            with _SCRATCH_GUARD:
                _SCRATCH[key] = (lock, buf)
        else:
            buf.fill(0)
        yield buf
    finally:
        lock.release()


PIECE = 1 << 18  # pixels per piece of parallel work: small enough to stay in cache
# Distance evaluations (rows x centres) between two cancel checks: ~0.05-0.1 s of work.
NEAREST_WORK = 1 << 24
_POOL = None


def pool_size() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def pieces(n: int, size: int = PIECE) -> list[tuple[int, int]]:
    """Ranges of at most ``size`` covering 0..n."""
    return [(s, min(s + size, n)) for s in range(0, n, size)] or [(0, 0)]


def parallel(fn, ranges):
    """``[fn(start, stop) for start, stop in ranges]`` on a small thread pool.

    numpy and OpenCV release the GIL in the loops used here, so pieces of an image run
    on every core; results come back in order, so sums are added deterministically.
    """
    global _POOL
    if len(ranges) == 1:
        return [fn(*ranges[0])]
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=pool_size(), thread_name_prefix="kmeans-segment")
    return list(_POOL.map(lambda r: fn(*r), ranges))


def assign_rows(x, c, k, *, w=None, values=None, want_labels=False, want_dist=False, check=None):
    """Nearest centre for rows ``x`` in parallel pieces.

    Returns (labels or None, sums of ``values`` (default ``x``) per cluster, counts per
    cluster, sum of squared distances or 0.0), all weighted by ``w`` when given.
    ``check`` (the run's cancel check) is called before each round of pieces; a round is
    at most :data:`NEAREST_WORK` distance evaluations, whatever K is.
    """
    values = x if values is None else values

    def piece(a, b):
        lab, d = nearest(x[a:b], c, want_dist)
        wa = None if w is None else w[a:b]
        sums, cnt = sums_by_label(values[a:b], lab, wa, k)
        dsum = 0.0 if d is None else float(d.sum() if wa is None else (d * wa).sum())
        return (lab if want_labels else None), sums, cnt, dsum

    # np.bincount holds the GIL, so rows are shared out in large pieces, but not so large
    # that a round of them (one per thread) runs long between cancel checks at large K.
    n_threads = pool_size()
    size = max(4096, min(1 << 20, NEAREST_WORK // (max(k, 1) * n_threads)))
    ranges = pieces(x.shape[0], size)
    parts = []
    for g in range(0, len(ranges), n_threads):
        if check is not None:
            check()
        parts += parallel(piece, ranges[g : g + n_threads])
    labels = np.concatenate([p[0] for p in parts]) if want_labels else None
    return (labels, sum(p[1] for p in parts), sum(p[2] for p in parts), sum(p[3] for p in parts))


def sums_by_label(x: np.ndarray, lab: np.ndarray, w: np.ndarray | None, k: int):
    cnt = np.bincount(lab, weights=w, minlength=k).astype(np.float64)
    sums = np.empty((k, x.shape[1]), np.float64)
    for f in range(x.shape[1]):
        col = x[:, f] if w is None else x[:, f] * w
        sums[:, f] = np.bincount(lab, weights=col, minlength=k)
    return sums, cnt


def lloyd(step_fn, centers: np.ndarray, max_iter: int, epsilon: float, check=None) -> np.ndarray:
    """Lloyd iterations until the largest squared centre shift is <= epsilon (cv2's rule).

    ``step_fn(centers) -> (sums, counts)`` does one assignment pass. A cluster that loses
    all its points keeps its centre.
    """
    c = centers.astype(np.float64)
    for _ in range(max_iter):
        if check:
            check()
        sums, cnt = step_fn(c.astype(np.float32))
        new = c.copy()
        nz = cnt > 0
        new[nz] = sums[nz] / cnt[nz, None]
        shift = float(np.max(((new - c) ** 2).sum(axis=1)))
        c = new
        if shift <= epsilon:
            break
    return c.astype(np.float32)


def luminance_image(img: PixelImage, rows=None, check=None) -> np.ndarray:
    """Per-pixel luminance (RGB) or channel mean, float32, spatial shape.

    ``rows(px)`` turns pixels into the float32 values to weigh (the feature space's working
    representation); ``check`` is called between chunks.
    """
    rows = rows or (lambda px: img.features_of(px).astype(np.float32))
    out = np.empty(img.n_pixels, np.float32)
    w = LUMA if img.rgb and img.n_channels == 3 else np.full(img.n_channels, 1 / img.n_channels)
    for c in img.chunks(1 << 20):
        if check is not None:
            check()
        out[c.start : c.stop] = rows(c.pixels[:, : img.n_channels]) @ w.astype(np.float32)
    return out.reshape(img.spatial_shape)


def luminance_order(centers: np.ndarray, counts: np.ndarray, rgb: bool) -> np.ndarray:
    """Old cluster indices in label order: darkest first, larger first among equals."""
    c = np.asarray(centers, np.float64)
    # relative to the largest value: sums and np.round(x, 9) of values near 1e308 overflow
    c = c / (float(np.abs(c).max(initial=0.0)) or 1.0)
    lum = c @ LUMA if rgb and c.shape[1] == 3 else c.mean(axis=1)
    return np.lexsort((-np.asarray(counts), np.round(lum, 9)))


def check_memory(nbytes: int, what: str) -> None:
    """Refuse a run that would not fit in the memory available now."""
    avail = available_memory()
    if avail is not None and nbytes > 0.8 * avail:
        raise ValueError(
            f"{what} would need about {nbytes / 2**30:.1f} GiB but only "
            f"{avail / 2**30:.1f} GiB is available. Use the fast path (sample_size='auto'), "
            "a smaller region (mask), or a lazy (dask) image."
        )


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None
