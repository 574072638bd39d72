"""K-means on pixels: the exact cv2.kmeans recipe, and a fast path that keeps its quality.

The exact path (``sample_size=None``) is the tutorial: every valid pixel becomes a float32
row, ``cv2.kmeans`` runs with the given criteria, attempts and init after
``cv2.setRNGSeed(seed)`` in the calling thread. The attempts are run one call at a time so
a run can report progress and be cancelled between attempts; OpenCV draws the same random
numbers either way, so the partition is the same as one call with ``attempts`` (tested).

The fast path fits ``cv2.kmeans`` (all attempts, same init and criteria) on a random
sample of pixels, refines the centres with Lloyd steps over *all* pixels and ends with a
nearest-centre pass, so labels and centres agree. For images whose colours pack into a
24-bit key (8-bit RGB, 8/16-bit grayscale) the refinement runs on the exact colour
histogram (each distinct colour weighted by its pixel count), which is the same
computation as over every pixel, at a fraction of the cost.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .features import COLOR_SPACES, FeatureSpace, local_std, value_range_of
from .image import Cancelled, PixelImage

INITS = {"random": "KMEANS_RANDOM_CENTERS", "kmeans++": "KMEANS_PP_CENTERS"}
MAX_CLUSTERS = 65535
LUMA = np.array([0.299, 0.587, 0.114])

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class Options:
    """Validated k-means options (see :func:`napari_kmeans_segment.segment`)."""

    n_clusters: int
    attempts: int
    max_iter: int
    epsilon: float
    init: str
    seed: int | None
    sample_size: int | str | None

    @classmethod
    def check(cls, n_clusters, attempts, max_iter, epsilon, init, seed, sample_size) -> Options:
        n_clusters = _int("n_clusters", n_clusters)
        if not 2 <= n_clusters <= MAX_CLUSTERS:
            raise ValueError(
                f"n_clusters={n_clusters}: choose at least 2 clusters (and at most {MAX_CLUSTERS})."
            )
        attempts = _int("attempts", attempts)
        if attempts < 1:
            raise ValueError(f"attempts={attempts}: k-means needs at least 1 attempt (10 is usual).")
        max_iter = _int("max_iter", max_iter)
        if max_iter < 1:
            raise ValueError(f"max_iter={max_iter}: allow at least 1 iteration (100 is usual).")
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float | np.number):
            raise TypeError(f"epsilon must be a number, not {type(epsilon).__name__}.")
        epsilon = float(epsilon)
        if not epsilon >= 0 or not np.isfinite(epsilon):
            raise ValueError(f"epsilon={epsilon}: use a finite value >= 0 (0.2 is the tutorial's).")
        if init not in INITS:
            raise ValueError(f"init={init!r}: choose one of {sorted(INITS)}.")
        if seed is not None:
            seed = _int("seed", seed)
            if not 0 <= seed < 2**63:
                raise ValueError(f"seed={seed}: use a non-negative integer (or None).")
        if sample_size is not None and sample_size != "auto":
            sample_size = _int("sample_size", sample_size)
            if sample_size < n_clusters:
                raise ValueError(
                    f"sample_size={sample_size} is smaller than n_clusters={n_clusters}; use "
                    "'auto', None (exact recipe) or a sample of at least K pixels."
                )
        return cls(n_clusters, attempts, max_iter, epsilon, init, seed, sample_size)

    def criteria(self):
        import cv2

        return (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, self.max_iter, self.epsilon)

    def flags(self) -> int:
        import cv2

        return getattr(cv2, INITS[self.init])

    def auto_sample(self) -> int:
        return max(5_000, 625 * self.n_clusters)


def _int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a whole number, not {value!r}.")
    return int(value)


def new_seed() -> int:
    """A fresh seed, recorded so an unseeded run can be reproduced from its parameters."""
    return int(np.random.SeedSequence().entropy % (2**31 - 1))


def labels_dtype(k: int) -> np.dtype:
    return np.dtype(np.uint8 if k <= 255 else np.uint16)


# --------------------------------------------------------------------------------------
# Nearest centre and Lloyd steps
# --------------------------------------------------------------------------------------
def nearest(x: np.ndarray, centers: np.ndarray, want_dist: bool = False):
    """Index of the nearest centre for each row of ``x`` (and the squared distance)."""
    k = centers.shape[0]
    ref = centers.mean(axis=0, dtype=np.float64).astype(np.float32)
    c = (centers - ref).astype(np.float32)
    c2 = (c.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
    n = x.shape[0]
    lab = np.empty(n, np.int32 if k > 255 else np.uint8)
    dist = np.empty(n, np.float64) if want_dist else None
    step = max(4096, (1 << 23) // k)
    for s in range(0, n, step):
        xs = x[s : s + step] - ref
        d = xs @ (-2 * c.T)
        d += c2
        li = d.argmin(axis=1)
        lab[s : s + step] = li
        if want_dist:
            # float32 is ample here: values are centred on the centres' mean first
            dmin = np.take_along_axis(d, li[:, None], axis=1)[:, 0]
            dmin += np.einsum("ij,ij->i", xs, xs)
            dist[s : s + step] = np.maximum(dmin, 0)
    return lab, dist


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
_POOL = None


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

        _POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                   thread_name_prefix="kmeans-segment")
    return list(_POOL.map(lambda r: fn(*r), ranges))


def assign_rows(x, c, k, *, w=None, values=None, want_labels=False, want_dist=False):
    """Nearest centre for rows ``x`` in parallel pieces.

    Returns (labels or None, sums of ``values`` (default ``x``) per cluster, counts per
    cluster, sum of squared distances or 0.0), all weighted by ``w`` when given.
    """
    values = x if values is None else values

    def piece(a, b):
        lab, d = nearest(x[a:b], c, want_dist)
        wa = None if w is None else w[a:b]
        sums, cnt = _sums(values[a:b], lab, wa, k)
        dsum = 0.0 if d is None else float(d.sum() if wa is None else (d * wa).sum())
        return (lab if want_labels else None), sums, cnt, dsum

    # np.bincount holds the GIL, so rows are only shared out in large pieces
    parts = parallel(piece, pieces(x.shape[0], 1 << 20))
    labels = np.concatenate([p[0] for p in parts]) if want_labels else None
    return (labels, sum(p[1] for p in parts), sum(p[2] for p in parts),
            sum(p[3] for p in parts))


def distinct_solutions(candidates: list[np.ndarray]) -> list[np.ndarray]:
    """Attempts that reached the same centres (in any order) counted once, first kept."""
    seen, out = set(), []
    for c in candidates:
        c = np.asarray(c, np.float32)
        scale = float(np.abs(c).max()) or 1.0
        key = np.round(c[np.lexsort(c.T[::-1])] / scale, 4).tobytes()
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _sums(x: np.ndarray, lab: np.ndarray, w: np.ndarray | None, k: int):
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
        shift = float(((new - c) ** 2).sum(axis=1).max())
        c = new
        if shift <= epsilon:
            break
    return c.astype(np.float32)


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------
class Run:
    """One k-means run on a :class:`PixelImage`: fit centres, then assign every pixel."""

    def __init__(self, img: PixelImage, fs: FeatureSpace, opts: Options, seed: int,
                 progress: ProgressFn | None = None, cancel: CancelFn | None = None):
        self.img, self.fs, self.opts, self.seed = img, fs, opts, seed
        self._progress, self._cancel = progress, cancel
        self.rng = np.random.default_rng(seed)
        self.tol = opts.epsilon  # refinement tolerance; fit_sample widens it for wide data
        self.texture = None
        if fs.texture_sigma > 0:
            lum = luminance_image(img)
            self.texture = local_std(lum, fs.texture_sigma).ravel()

    # -- plumbing -------------------------------------------------------------------------
    def check(self):
        if self._cancel is not None and self._cancel():
            raise Cancelled("The k-means run was cancelled.")

    def report(self, fraction: float, message: str):
        self.check()
        if self._progress is not None:
            self._progress(float(min(max(fraction, 0.0), 1.0)), message)

    def rows(self, flat: np.ndarray, px: np.ndarray) -> np.ndarray:
        """Feature rows for pixels ``px`` at flat indices ``flat``."""
        coords = None
        if self.fs.spatial_weight > 0:
            coords = np.stack(np.unravel_index(flat, self.img.spatial_shape), axis=1)
            coords = coords.astype(np.float32)
        tex = self.texture[flat] if self.texture is not None else None
        return self.fs.transform(self.img.features_of(px), coords, tex)

    def chunk_rows(self, chunk):
        if chunk.valid is None:
            flat = np.arange(chunk.start, chunk.stop) if not self.fs.per_colour else None
            px = chunk.pixels
        else:
            flat = chunk.start + np.flatnonzero(chunk.valid)
            px = chunk.pixels[chunk.valid]
        if self.fs.per_colour:
            return self.fs.transform(self.img.features_of(px)), px
        return self.rows(flat, px), px

    def fit_feature_space(self):
        if self.fs.is_identity:
            return
        flat, px = self.img.sample(100_000, np.random.default_rng(self.seed))
        self.fs.value_range = value_range_of(self.img.dtype, self.img.features_of(px))
        tex = self.texture[flat] if self.texture is not None else None
        self.fs.fit(self.img.features_of(px), self.img.spatial_shape, tex)

    # -- cv2.kmeans, one attempt at a time ------------------------------------------------------
    def cv2_kmeans(self, data: np.ndarray, lo: float, hi: float, candidates: list | None = None):
        import cv2

        if data.shape[0] < self.opts.n_clusters:
            raise ValueError(
                f"n_clusters={self.opts.n_clusters} is more than the {data.shape[0]} pixel(s) "
                "to cluster; choose a smaller K."
            )
        from concurrent.futures import ThreadPoolExecutor

        k = self.opts.n_clusters
        data = np.ascontiguousarray(data, dtype=np.float32)
        # One helper thread runs the seeding and every attempt (OpenCV's RNG is per
        # thread), while this thread polls ``cancel``: a cancelled run returns within
        # ~0.1 s even in the middle of a long attempt, whose result is then discarded.
        helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cv2-kmeans")
        best = None
        try:
            helper.submit(cv2.setRNGSeed, int(self.seed % (2**31))).result()
            for a in range(self.opts.attempts):
                self.report(lo + (hi - lo) * a / self.opts.attempts,
                            f"cv2.kmeans attempt {a + 1}/{self.opts.attempts}")
                fut = helper.submit(cv2.kmeans, data, k, None, self.opts.criteria(), 1,
                                    self.opts.flags())
                while True:
                    try:
                        res = fut.result(timeout=0.1)
                        break
                    except TimeoutError:
                        self.check()
                    except cv2.error as e:  # pragma: no cover - guarded by the checks before
                        raise ValueError(f"OpenCV's kmeans refused this input: {e.err}") from None
                if candidates is not None:
                    candidates.append(res[2])
                if best is None or res[0] < best[0]:
                    best = res
        finally:
            helper.shutdown(wait=False, cancel_futures=True)
        return float(best[0]), best[1].ravel(), best[2]

    # -- exact --------------------------------------------------------------------------
    def exact(self):
        """The tutorial's recipe on every valid pixel. Returns (labels0, centres_f, compactness)."""
        img = self.img
        n_feat = self.fs_dim()
        check_memory(img.n_valid * (n_feat * 4 + 16), "the exact recipe")
        parts, flats = [], []
        for c in img.chunks():
            rows, _ = self.chunk_rows(c)
            parts.append(rows)
            if c.valid is not None:
                flats.append(c.start + np.flatnonzero(c.valid))
        data = parts[0] if len(parts) == 1 else np.concatenate(parts)
        del parts
        compactness, lab, centres = self.cv2_kmeans(data, 0.0, 0.9)
        del data
        full = np.zeros(img.n_pixels, labels_dtype(self.opts.n_clusters))
        if img.can_exclude and img.n_valid < img.n_pixels:
            full[np.concatenate(flats)] = lab + 1
        else:
            full[:] = lab + 1
        return full, centres, compactness

    def fs_dim(self) -> int:
        c = self.img.n_channels if self.fs.color_space == "rgb" else 3
        return c + (self.fs.texture_sigma > 0) + (
            len(self.img.spatial_shape) if self.fs.spatial_weight > 0 else 0
        )

    # -- fast ---------------------------------------------------------------------------
    def fit_sample(self, m: int) -> list[np.ndarray]:
        """cv2.kmeans on ``m`` random pixels: the centres of every attempt."""
        flat, px = self.img.sample(m, self.rng)
        rows = self.rows(flat, px)
        # Refinement (ours, after cv2.kmeans) stops when the centres move less than epsilon
        # or less than 0.1% of the data's spread: epsilon=0.2 suits 8-bit values but would
        # keep 16-bit data iterating long after the clustering stopped changing.
        self.tol = max(self.opts.epsilon, 1e-6 * float(rows.var(axis=0).sum()))
        candidates: list[np.ndarray] = []
        self.cv2_kmeans(rows, 0.0, 0.35, candidates)
        return candidates

    def choose(self, candidates, scoring) -> np.ndarray:
        """The attempt whose centres fit the whole image best.

        The best attempt on a small sample is not always the best on all pixels, so every
        attempt gets a few Lloyd steps on ``scoring`` (a coarse histogram of all pixels, or
        a larger sample) and the one with the lowest inertia there is kept.
        """
        x, w = scoring
        k = self.opts.n_clusters
        self.report(0.38, "choosing among the attempts")

        best, best_inertia = None, np.inf
        for c in distinct_solutions(candidates):
            c = self.lloyd_rows(x, w, c, min(self.opts.max_iter, 5))
            inertia = assign_rows(x, c, k, w=w, want_dist=True)[3]
            if inertia < best_inertia:
                best, best_inertia = c, inertia
        return best

    def scoring_set(self, hist):
        """Points (features) and weights standing in for all pixels when choosing."""
        if hist is not None:
            _, colours, counts = hist
            if len(counts) > 60_000 and self.img.key_bits == 8 and colours.shape[1] == 3:
                # 6 bits per channel: each coarse bin becomes its pixels' mean colour
                q = colours.astype(np.int64) >> 2
                key = (q[:, 0] << 12) | (q[:, 1] << 6) | q[:, 2]
                w = np.bincount(key, weights=counts, minlength=1 << 18)
                mean = np.stack([np.bincount(key, weights=colours[:, ch] * counts,
                                             minlength=1 << 18) for ch in range(3)], axis=1)
                occupied = w > 0
                w = w[occupied]
                mean = mean[occupied] / w[:, None]
                return self.fs.transform(mean.astype(np.float32)), w
            return self.fs.transform(colours), counts
        flat, px = self.img.sample(50_000, np.random.default_rng(self.seed + 1))
        return self.rows(flat, px), None

    def refine_histogram(self, centres, hist):
        colours, weights = hist
        self.report(0.45, "refining centres on the colour histogram")
        return self.lloyd_rows(self.fs.transform(colours), weights, centres, self.opts.max_iter)

    def lloyd_rows(self, x, w, centres, max_iter):
        """Lloyd steps on feature rows ``x`` (weights ``w``) to the run's tolerance."""
        k = self.opts.n_clusters
        return lloyd(lambda c: assign_rows(x, c, k, w=w)[1:3], centres, max_iter, self.tol,
                     self.check)

    def refine_chunks(self, centres, passes: int):
        """Lloyd steps over all pixels, chunk by chunk. Most of the way is done first on a
        200,000-pixel sample (cheap), so the full passes only polish."""
        k = self.opts.n_clusters
        if self.img.n_valid > 400_000:
            flat, px = self.img.sample(200_000, np.random.default_rng(self.seed + 2))
            self.report(0.4, "refining centres on a large sample")
            centres = self.lloyd_rows(self.rows(flat, px), None, centres, self.opts.max_iter)
        done = [0]

        def step(c):
            sums = np.zeros((k, c.shape[1]))
            cnt = np.zeros(k)
            for chunk in self.img.chunks():
                self.check()
                rows, _ = self.chunk_rows(chunk)
                _, s, n, _ = assign_rows(rows, c, k)
                sums += s
                cnt += n
            done[0] += 1
            self.report(0.4 + 0.3 * done[0] / passes, f"refining centres, pass {done[0]}")
            return sums, cnt

        return lloyd(step, centres, passes, self.tol, self.check)

    def histogram(self):
        """Exact colour histogram of valid pixels: (keys, colours (U, C) float32, counts (U,))."""
        import cv2

        img = self.img
        size = 1 << (img.key_bits * img.n_channels)
        rgb8 = img.dtype == np.uint8 and img.n_channels == 3
        total = None
        with scratch((256, 256, 256) if rgb8 else (1,), np.float32) as buf:
            for i, c in enumerate(img.chunks()):
                self.report(0.3 * i / img.n_chunks, "counting colours")
                if rgb8:
                    # cv2.calcHist counts 8-bit RGB in a 256^3 table several times faster than
                    # np.bincount; bin (r, g, b) is key r<<16 | g<<8 | b. Per chunk the float32
                    # counts are exact (a chunk has < 2**24 pixels).
                    m = None if c.valid is None else c.valid.astype(np.uint8)[:, None]
                    px = np.ascontiguousarray(c.pixels[:, :3]).reshape(-1, 1, 3)
                    if i:
                        buf.fill(0)
                    h = cv2.calcHist([px], [0, 1, 2], m, [256] * 3, [0, 256] * 3,
                                     hist=buf, accumulate=True).ravel()
                else:
                    px = c.pixels if c.valid is None else c.pixels[c.valid]
                    h = np.bincount(img.keys(px), minlength=size)
                if img.n_chunks == 1:
                    total = h
                elif total is None:
                    total = h.astype(np.float64)
                else:
                    total += h
            keys = np.flatnonzero(total.astype(bool))
            counts = total[keys].astype(np.float64)
        return keys, img.colours_of_keys(keys), counts

    def use_histogram(self) -> bool:
        return self.img.key_bits > 0 and self.fs.per_colour

    # -- assignment -----------------------------------------------------------------------
    def assign(self, centres_f: np.ndarray, hist=None):
        """Label every pixel with its nearest centre (1..K; 0 for excluded pixels).

        Returns (labels (N,), counts (K,), sums in image units (K, C), compactness).
        """
        img, k = self.img, centres_f.shape[0]
        out = np.zeros(img.n_pixels, labels_dtype(k))
        counts = np.zeros(k, np.int64)
        sums = np.zeros((k, img.n_channels))
        compactness = 0.0
        if self.use_histogram():
            keys, colours, weights = hist if hist is not None else self.histogram()
            lab, s, n, compactness = assign_rows(
                self.fs.transform(colours), centres_f, k, w=weights, values=colours,
                want_labels=True, want_dist=True)
            with scratch((1 << (img.key_bits * img.n_channels),), out.dtype) as table:
                table[keys] = lab + 1
                for i, c in enumerate(img.chunks()):
                    self.report(0.7 + 0.3 * i / img.n_chunks, "assigning pixels")

                    def piece(a, b, c=c):
                        dst = out[c.start + a : c.start + b]
                        np.take(table, img.keys(c.pixels[a:b]), out=dst)
                        if c.valid is not None:
                            dst[~c.valid[a:b]] = 0

                    parallel(piece, pieces(c.stop - c.start))
            return out, n.round().astype(np.int64), s, compactness
        for i, c in enumerate(img.chunks()):
            self.report(0.7 + 0.3 * i / img.n_chunks, f"assigning chunk {i + 1}/{img.n_chunks}")
            rows, px = self.chunk_rows(c)
            lab, s, n, dsum = assign_rows(rows, centres_f, k, values=img.features_of(px),
                                          want_labels=True, want_dist=True)
            sums += s
            counts += n.astype(np.int64)
            compactness += dsum
            if c.valid is None:
                out[c.start : c.stop] = lab + 1
            else:
                out[c.start + np.flatnonzero(c.valid)] = lab + 1
        return out, counts, sums, compactness

    def cluster_stats(self, labels: np.ndarray):
        """Counts and sums (image units) per label of an existing labelling."""
        k = self.opts.n_clusters
        counts = np.zeros(k + 1, np.int64)
        sums = np.zeros((k + 1, self.img.n_channels))
        for c in self.img.chunks():
            lab = labels[c.start : c.stop]
            s, n = _sums(self.img.features_of(c.pixels).astype(np.float64), lab, None, k + 1)
            sums += s
            counts += n.astype(np.int64)
        return counts[1:], sums[1:]


def luminance_image(img: PixelImage) -> np.ndarray:
    """Per-pixel luminance (RGB) or channel mean, float32, spatial shape."""
    out = np.empty(img.n_pixels, np.float32)
    w = LUMA if img.rgb and img.n_channels == 3 else np.full(img.n_channels, 1 / img.n_channels)
    for c in img.chunks():
        out[c.start : c.stop] = img.features_of(c.pixels) @ w.astype(np.float32)
    return out.reshape(img.spatial_shape)


def luminance_order(centers: np.ndarray, counts: np.ndarray, rgb: bool) -> np.ndarray:
    """Old cluster indices in label order: darkest first, larger first among equals."""
    c = np.asarray(centers, np.float64)
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


def check_color_space(color_space: str, img: PixelImage) -> None:
    if color_space not in COLOR_SPACES:
        raise ValueError(f"color_space={color_space!r}: choose one of {COLOR_SPACES}.")
    if color_space != "rgb" and not (img.rgb and img.n_channels == 3):
        raise ValueError(
            f"color_space={color_space!r} needs an RGB(A) image; this one has "
            f"{img.n_channels} channel(s). Use color_space='rgb' (plain channel values), "
            "perhaps with normalize=True."
        )
