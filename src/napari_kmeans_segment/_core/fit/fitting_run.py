"""The Run: one k-means fit on a :class:`PixelImage`, step by step.

The exact path (``sample_size=None``) is the tutorial: every valid pixel becomes a float32
row, ``cv2.kmeans`` runs with the given criteria, attempts and init after
``cv2.setRNGSeed(seed)`` in the calling thread. The attempts are run one call at a time so
a run can report progress and be cancelled between attempts; OpenCV draws the same random
numbers either way, so the partition is the same as one call with ``attempts`` (tested).

The fast path fits its centres on weighted summaries of every pixel
(:mod:`.fitting_fast`) and ends with a nearest-centre pass, so labels and centres agree.
For images whose colours pack into a 24-bit key (8-bit RGB, 8/16-bit grayscale) the
summaries start from the exact colour histogram (each distinct colour weighted by its
pixel count), which is the same computation as over every pixel, at a fraction of the
cost; other images are summarised in one pass and polished by :meth:`Run.refine_chunks`.

Which steps run, in which order, is decided by :func:`.fitting.fit`.
"""

from __future__ import annotations

import numpy as np

from ..features.features import FeatureSpace, local_std
from ..features.image import STEP_PIXELS, Cancelled, PixelImage
from ..options import CancelFn, Options, ProgressFn
from .numerics import (
    assign_rows,
    check_memory,
    labels_dtype,
    lloyd,
    luminance_image,
    parallel,
    pieces,
    scratch,
    sums_by_label,
)


class Run:
    """One k-means run on a :class:`PixelImage`: fit centres, then assign every pixel."""

    def __init__(
        self,
        img: PixelImage,
        fs: FeatureSpace,
        opts: Options,
        seed: int,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ):
        self.img, self.fs, self.opts, self.seed = img, fs, opts, seed
        self._progress, self._cancel = progress, cancel
        self.rng = np.random.default_rng(seed)
        self.tol = opts.epsilon  # refinement tolerance; fit_fast widens it for wide data
        self.fast_points = 0  # points of the summary the fast path's starts ran on
        self._texture: np.ndarray | None = None

    def prepare(self, fitted: bool = False):
        """Read the image's value range, choose the working representation (unless the
        feature space is ``fitted`` already, as a model's is) and compute the texture;
        every step polls ``cancel``."""
        if not fitted:
            lo, hi = self.img.value_bounds(self.check)
            self.fs.fit_range(lo, hi, self.img.dtype)
        _ = self.texture

    @property
    def texture(self) -> np.ndarray | None:
        """Local standard deviation of the luminance (working units), computed on first use
        (after the working representation is fixed), in cancellable pieces."""
        if self._texture is None and self.fs.texture_sigma > 0:
            self.report(0.0, "computing the texture")
            lum = luminance_image(self.img, self.fs.working, self.check)
            self._texture = local_std(lum, self.fs.texture_sigma, self.check).ravel()
        return self._texture

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
            flat = np.arange(chunk.start, chunk.stop) if not self.fs.per_color else None
            px = chunk.pixels
        else:
            flat = chunk.start + np.flatnonzero(chunk.valid)
            px = chunk.pixels[chunk.valid]
        if self.fs.per_color:
            return self.fs.transform(self.img.features_of(px)), px
        return self.rows(flat, px), px

    def fit_feature_space(self):
        if self.fs.is_identity:
            return
        flat, px = self.img.sample(100_000, np.random.default_rng(self.seed))
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
                self.report(
                    lo + (hi - lo) * a / self.opts.attempts,
                    f"cv2.kmeans attempt {a + 1}/{self.opts.attempts}",
                )
                # bestLabels=None is the tutorial's call; OpenCV's stubs do not list it
                fut = helper.submit(
                    lambda: cv2.kmeans(  # type: ignore[call-overload,unused-ignore]
                        data, k, None, self.opts.criteria(), 1, self.opts.flags()
                    )
                )
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
        assert best is not None  # attempts >= 1
        return float(best[0]), best[1].ravel(), best[2]

    # -- exact --------------------------------------------------------------------------
    def exact(self):
        """The tutorial's recipe on every valid pixel. Returns (labels0, centers_f, compactness)."""
        img = self.img
        n_feat = self.fs_dim()
        check_memory(img.n_valid * (n_feat * 4 + 16), "the exact recipe")
        parts, flats = [], []
        for c in img.chunks(STEP_PIXELS):
            self.check()
            rows, _ = self.chunk_rows(c)
            parts.append(rows)
            if c.valid is not None:
                flats.append(c.start + np.flatnonzero(c.valid))
        data = parts[0] if len(parts) == 1 else np.concatenate(parts)
        del parts
        compactness, lab, centers = self.cv2_kmeans(data, 0.0, 0.9)
        del data
        full = np.zeros(img.n_pixels, labels_dtype(self.opts.n_clusters))
        if img.can_exclude and img.n_valid < img.n_pixels:
            full[np.concatenate(flats)] = lab + 1
        else:
            full[:] = lab + 1
        return full, centers, compactness

    def fs_dim(self) -> int:
        c = self.img.n_channels if self.fs.color_space == "rgb" else 3
        return (
            c
            + (self.fs.texture_sigma > 0)
            + (len(self.img.spatial_shape) if self.fs.spatial_weight > 0 else 0)
        )

    # -- fast ---------------------------------------------------------------------------
    def lloyd_rows(self, x, w, centers, max_iter):
        """Lloyd steps on feature rows ``x`` (weights ``w``) to the run's tolerance."""
        k = self.opts.n_clusters
        return lloyd(
            lambda c: assign_rows(x, c, k, w=w, check=self.check)[1:3],
            centers,
            max_iter,
            self.tol,
            self.check,
        )

    def refine_chunks(self, centers, passes: int):
        """Lloyd steps over all pixels, chunk by chunk. The centres come converged on a
        summary of every pixel (:func:`.fitting_fast.fit_fast`), so the passes only polish."""
        k = self.opts.n_clusters
        done = [0]

        def step(c):
            sums = np.zeros((k, c.shape[1]))
            cnt = np.zeros(k)
            for chunk in self.img.chunks(STEP_PIXELS):
                self.check()
                rows, _ = self.chunk_rows(chunk)
                _, s, n, _ = assign_rows(rows, c, k, check=self.check)
                sums += s
                cnt += n
            done[0] += 1
            self.report(0.62 + 0.08 * done[0] / passes, f"refining centres, pass {done[0]}")
            return sums, cnt

        return lloyd(step, centers, passes, self.tol, self.check)

    def histogram(self):
        """Exact colour histogram of valid pixels: (keys, colours (U, C) float32, counts (U,))."""
        import cv2

        img = self.img
        size = 1 << (img.key_bits * img.n_channels)
        rgb8 = img.dtype == np.uint8 and img.n_channels == 3
        total = None
        for i, c in enumerate(img.chunks()):
            self.report(0.3 * i / img.n_chunks, "counting colours")
            if rgb8:
                # cv2.calcHist counts 8-bit RGB in a 256^3 table several times faster than
                # np.bincount; bin (r, g, b) is key r<<16 | g<<8 | b. Per chunk the float32
                # counts are exact (a chunk has < 2**24 pixels). No ``hist=`` buffer: OpenCV
                # 5.1's binding reads a 256x256x256 array as a 256-channel matrix and refuses it.
                m = None if c.valid is None else c.valid.astype(np.uint8)[:, None]
                px = np.ascontiguousarray(c.pixels[:, :3]).reshape(-1, 1, 3)
                h = np.asarray(cv2.calcHist([px], [0, 1, 2], m, [256] * 3, [0, 256] * 3)).ravel()
                if h.size != size:
                    raise RuntimeError(
                        f"cv2.calcHist returned {h.size} bins instead of {size} "
                        f"(OpenCV {cv2.__version__}); please report this version."
                    )
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
        return keys, img.colors_of_keys(keys), counts

    def use_histogram(self) -> bool:
        return self.img.key_bits > 0 and self.fs.per_color

    # -- assignment -----------------------------------------------------------------------
    def assign(self, centers_f: np.ndarray, hist=None):
        """Label every pixel with its nearest centre (1..K; 0 for excluded pixels).

        Returns (labels (N,), counts (K,), sums in working units (K, C), compactness).
        """
        img, k = self.img, centers_f.shape[0]
        out = np.zeros(img.n_pixels, labels_dtype(k))
        counts = np.zeros(k, np.int64)
        sums = np.zeros((k, img.n_channels))
        compactness = 0.0
        if self.use_histogram():
            keys, colors, weights = hist if hist is not None else self.histogram()
            lab, s, n, compactness = assign_rows(
                self.fs.transform(colors),
                centers_f,
                k,
                w=weights,
                values=self.fs.working(colors, np.float64),
                want_labels=True,
                want_dist=True,
                check=self.check,
            )
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
        n_steps = -(-img.n_pixels // STEP_PIXELS)
        for i, c in enumerate(img.chunks(STEP_PIXELS)):
            self.report(0.7 + 0.3 * i / n_steps, f"assigning pixels, part {i + 1}/{n_steps}")
            rows, px = self.chunk_rows(c)
            lab, s, n, dsum = assign_rows(
                rows,
                centers_f,
                k,
                values=self.fs.working(img.features_of(px), np.float64),
                want_labels=True,
                want_dist=True,
                check=self.check,
            )
            sums += s
            counts += n.astype(np.int64)
            compactness += dsum
            if c.valid is None:
                out[c.start : c.stop] = lab + 1
            else:
                out[c.start + np.flatnonzero(c.valid)] = lab + 1
        return out, counts, sums, compactness

    def smooth(self, centers_f: np.ndarray, sigmas, temperature: float):
        """Labels 1..K (0 for excluded pixels) by mean-field Potts smoothing of every pixel's
        distances to ``centers_f`` (:mod:`.smoothing`), slab by slab, under cancel and
        progress. Returns (labels (N,), compactness)."""
        from .smoothing import smooth_labels, squared_distances

        img = self.img
        shape = img.spatial_shape
        per_row = int(np.prod(shape[1:-1]))  # rows of arr3 per index of the first axis
        centers = np.asarray(centers_f, np.float64)

        def distances_of(r0: int, r1: int):
            c = img.chunk(r0 * per_row, r1 * per_row)
            rows = self.rows(np.arange(c.start, c.stop), c.pixels)
            with np.errstate(invalid="ignore", over="ignore"):
                d = squared_distances(rows, centers)
            d = d.reshape(len(centers), r1 - r0, *shape[1:])
            valid = None if c.valid is None else c.valid.reshape(r1 - r0, *shape[1:])
            return d, valid

        def report(f: float, msg: str) -> None:
            self.report(0.7 + 0.3 * f, msg)

        return smooth_labels(distances_of, shape, len(centers), sigmas, temperature, self.check, report)

    def cluster_stats(self, labels: np.ndarray):
        """Counts and sums (working units, see :meth:`FeatureSpace.to_image`) per label of
        an existing labelling. Identity feature spaces take their centres from the fit
        (:func:`.fitting._image_centers`), so only the counts are computed for them."""
        k = self.opts.n_clusters
        if self.fs.is_identity:
            counts = np.bincount(labels, minlength=k + 1).astype(np.int64)
            return counts[1:], np.zeros((k, self.img.n_channels))
        counts = np.zeros(k + 1, np.int64)
        sums = np.zeros((k + 1, self.img.n_channels))
        for c in self.img.chunks(STEP_PIXELS):
            self.check()
            lab = labels[c.start : c.stop]
            px = self.fs.working(self.img.features_of(c.pixels), np.float64)
            if c.valid is not None:  # left-out pixels (label 0) may be NaN or inf
                px[~c.valid] = 0
            s, n = sums_by_label(px, lab, None, k + 1)
            sums += s
            counts += n.astype(np.int64)
        return counts[1:], sums[1:]
