"""The fast path's fitting: many starts on a summary of every pixel, chosen on finer data.

:func:`fit_fast` is what :func:`.fitting.fit` calls in fast mode; it returns the centres
that the nearest-centre pass then labels every pixel with:

1. **summaries of every pixel** (:func:`summarise`). *fine*: 2,500 weighted points per
   cluster (10,000 to 30,000),
   the exact colour histogram's feature rows (each distinct colour weighted by its pixel
   count) or, without one, every pixel's feature rows (:func:`pixel_summary`), binned on a
   grid whose most scattered cells are given back point by point; *screen*: about
   ``sample_size`` (default 2,000) points, the leaves of a k-d tree over the fine points
   split where the scatter is (dense colours get many small leaves, outliers a few large
   ones);
2. **starts** (:func:`choose`): ``attempts x ceil(K / 3)`` weighted k-means++ starts (more
   clusters have more ways to go wrong), refined together by at most 20 Lloyd steps on
   the screen summary. A colour held by 0.5% of the pixels keeps its full weight there, so many
   starts give it a centre;
3. **choice**: the best distinct starts (:data:`FINALISTS`, or K / 3) are refined to a tight
   tolerance on the fine summary and the lowest inertia there wins. On 2,000 points two
   solutions 1% apart can swap places, and solutions stopped early on a slow approach
   rank by how far they got rather than where they go; refined on the fine summary they
   rank as on every pixel (Hamerly's bounds skip the points that cannot change cluster);
4. without an exact histogram, a few Lloyd passes over all pixels polish the winner
   (:meth:`Run.refine_chunks`); with one, the winner is final for K <= 10, and for larger
   K the best two are refined on the histogram's colours (Hamerly's bounds again).

``init`` does not apply to the fast path: every start is seeded by k-means++ on the
weighted summary (cv2's random centres are what leave small clusters without a centre);
it is passed to ``cv2.kmeans`` by the exact recipe. ``epsilon`` bounds the squared centre
shift of the screening and polishing steps as in cv2.kmeans; the finalists are refined
on to ``epsilon * TIGHT`` before they are compared. ``max_iter`` bounds every refinement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .candidates import distinct, kmeans_pp, lloyd_batch, refine
from .summaries import FINE_CELLS, col_range, grid_summary, split_summary

FINE_POINTS = 2_500  # points per cluster of the fine summary the finalists are compared on
FINE_MIN, FINE_MAX = 10_000, 30_000  # ... and its bounds
SCREEN_POINTS = 2_000  # points of the screen summary the starts run on (sample_size="auto")
FINALISTS = 3  # distinct starts refined on the fine summary, at least (K / 3 for larger K)
TIGHT = 0.1  # the finalists are refined to this fraction of the tolerance
SCREEN_STEPS = 20  # Lloyd steps of the starts, at most: enough to tell the good ones
POLISH_K = 10  # more clusters than this: polish on the exact histogram (the fine summary is
# capped at FINE_MAX points, fewer than 3,000 per cluster)
MAX_DISTANCES = 1 << 21  # starts x K x screen points per Lloyd step, at most (large K)


@dataclass
class Summary:
    """Weighted points standing in for every pixel, at three sizes (feature units)."""

    screen: tuple[np.ndarray, np.ndarray]
    fine: tuple[np.ndarray, np.ndarray]
    tol: float  # epsilon, kept within 1e-6..1e-4 of the total variance


def summarise(
    x: np.ndarray,
    w: np.ndarray,
    k: int,
    epsilon: float,
    screen_points: int = SCREEN_POINTS,
) -> Summary:
    """Fine and screen summaries of rows ``x`` (weights ``w``) for K clusters.

    The tolerance grows to 1e-6 of the total variance for wide data: epsilon=0.2 suits
    8-bit values but would keep 16-bit or float data iterating long after the clustering
    stopped changing.
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    size = min(max(FINE_POINTS * k, FINE_MIN), FINE_MAX)
    fine = grid_summary(x, w, size // 3, size)
    if fine[0].shape[0] < 4 * k:  # too bunched for the grid: every row
        fine = (x, w)
    screen = split_summary(*fine, max(screen_points, 4 * k))
    fx, fw = fine
    mean = (fw @ fx) / fw.sum()
    var = sum(float(fw @ (fx[:, j] - mean[j]) ** 2) for j in range(fx.shape[1])) / float(fw.sum())
    # epsilon bounds the squared centre shift in data units: 0.2 suits 8-bit values. For wide
    # data (16-bit) at least 1e-6 of the variance, so as not to iterate long after nothing
    # changes; for narrow data (floats in 0..1) at most 1e-4 of it, or a shift of a tenth of
    # the data's spread would count as converged (float photos ended 1-4% above the optimum)
    return Summary(screen, fine, min(max(epsilon, 1e-6 * var), 1e-4 * var))


def n_starts(attempts: int, k: int, points: int) -> int:
    """``attempts x ceil(K / 3)`` starts, fewer (but not fewer than ``attempts``) when K is
    so large that a Lloyd step over them all would measure more than MAX_DISTANCES."""
    return max(attempts, min(attempts * -(-k // 3), MAX_DISTANCES // max(1, k * points)))


def choose(
    summary: Summary,
    k: int,
    attempts: int,
    max_iter: int,
    rng: np.random.Generator,
    check=None,
    report=None,
) -> list[tuple[float, np.ndarray]]:
    """Starts on the screen summary, the best finalists refined on the fine one.

    Returns [(inertia on the fine summary, centres (K, F) float64 refined tightly there)],
    best first. ``report(fraction, message)`` is told how far it got.
    """
    screen, fine = summary.screen, summary.fine
    if screen[0].shape[0] < k:
        screen = fine
    if screen[0].shape[0] < k:
        raise ValueError(
            f"n_clusters={k}: the pixels' features take fewer than {k} distinct values; choose a smaller K."
        )
    starts = n_starts(attempts, k, screen[0].shape[0])
    # at most MAX_DISTANCES per Lloyd step: many attempts at large K run group by group
    group = max(1, min(starts, MAX_DISTANCES // max(1, k * screen[0].shape[0])))
    parts = []
    for g in range(0, starts, group):
        if report:
            report(0.5 * g / starts, f"refining starts {g + 1}-{min(g + group, starts)} of {starts}")
        seeds = kmeans_pp(*screen, k, min(group, starts - g), rng, check=check)
        parts.append(lloyd_batch(*screen, seeds, min(max_iter, SCREEN_STEPS), summary.tol, check))
    centers = np.concatenate([p[0] for p in parts])
    inertia = np.concatenate([p[1] for p in parts])
    finalists = distinct(centers, inertia, max(FINALISTS, -(-k // 3)))
    ranked = []
    for i, j in enumerate(finalists):
        if report:
            report(0.5 + 0.5 * i / len(finalists), f"comparing the best starts ({i + 1}/{len(finalists)})")
        c, e = refine(*fine, centers[j], max_iter, summary.tol * TIGHT, check)
        ranked.append((e, c))
    ranked.sort(key=lambda t: t[0])
    return ranked


def fit_fast(run, hist) -> np.ndarray:
    """Centres (feature units, float32) for the fast path of ``run`` (a :class:`Run`).

    ``hist`` is the run's exact colour histogram (keys, colours, counts) or None. With it
    the centres are final: converged on up to 30,000 points standing in for the histogram's
    colours (within ~1e-4 of the inertia of the histogram's own optimum for K <= 10, so a
    pass over every colour would buy nothing a person could see); for larger K, where
    fewer than 3,000 points stand in for a cluster (K > :data:`POLISH_K`), the best two are
    refined on every colour and the better one kept. Without it :meth:`Run.refine_chunks`
    polishes them over every pixel. Sets ``run.tol`` (the tolerance of any later refinement)
    and ``run.fast_points`` (the screen summary's size, for the record).
    """
    opts = run.opts
    k = opts.n_clusters
    if hist is not None:
        run.report(0.3, "summarising the colours")
        x, w = run.fs.transform(hist[1]), hist[2]
    else:
        x, w = pixel_summary(run)
        if x.shape[0] < 4 * k:  # values too few or too bunched for the grid: plain pixels
            flat, px = run.img.sample(100_000, np.random.default_rng(run.seed + 3))
            x, w = run.rows(flat, px), np.ones(px.shape[0])
    screen_points = SCREEN_POINTS if opts.sample_size == "auto" else int(opts.sample_size)
    summary = summarise(x, w, k, opts.epsilon, screen_points)
    run.tol = summary.tol
    run.fast_points = int(summary.screen[0].shape[0])

    def report(fraction, message):
        run.report(0.32 + 0.3 * fraction, message)

    rng = np.random.default_rng(run.seed)
    ranked = choose(summary, k, opts.attempts, opts.max_iter, rng, run.check, report)
    centers = ranked[0][1]
    if hist is not None and k > POLISH_K and summary.fine[0].shape[0] < x.shape[0]:
        # many clusters share the fine summary's points: the best two finish on every colour
        # exactly (the fine summary can hold one in a local optimum the colours do not have)
        run.report(0.62, "refining centres on the colour histogram")
        xf, wf = np.asarray(x, np.float64), np.asarray(w, np.float64)
        # tightly: a better optimum can lie at the end of a long drift of small steps
        tight = run.tol * TIGHT * TIGHT
        polished = [refine(xf, wf, c, opts.max_iter, tight, run.check) for _, c in ranked[:2]]
        centers = min(polished, key=lambda t: t[1])[0]
    return centers.astype(np.float32)


def pixel_summary(run) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows of every valid pixel binned on a fine grid, in one pass over the image:
    (weighted mean of each occupied cell (M, F) float64, pixel counts (M,)).

    The grid spans a large random sample's range; rarer values beyond it fall in the edge
    cells, whose means stay exact.
    """
    img = run.img
    flat, px = img.sample(100_000, np.random.default_rng(run.seed + 3))
    rows = run.rows(flat, px).astype(np.float64)
    f = rows.shape[1]
    lo, span = col_range(rows)
    levels = max(2, int(FINE_CELLS ** (1.0 / f)))
    cells = levels**f
    counts = np.zeros(cells)
    sums = np.zeros((cells, f))
    for i, chunk in enumerate(img.chunks()):
        run.report(0.3 * i / img.n_chunks, "summarising the pixels")
        x, _ = run.chunk_rows(chunk)
        q = np.clip(((x - lo) * (levels / span)).astype(np.int64), 0, levels - 1)
        key = q[:, 0]
        for j in range(1, f):
            key = key * levels + q[:, j]
        counts += np.bincount(key, minlength=cells)
        for j in range(f):
            sums[:, j] += np.bincount(key, weights=x[:, j], minlength=cells)
    occupied = counts > 0
    return sums[occupied] / counts[occupied, None], counts[occupied]
