"""Weighted summaries of many rows: a few thousand points standing in for every pixel.

The k-means objective on a summary (each point the weighted mean of the rows it stands
for, weighted by their total weight) equals the one on the rows up to the scatter inside
the groups, which no assignment can change. So that this loss stays small where the pixels
are, both summaries here put more points where the weighted scatter is:

* :func:`grid_summary` bins the rows on a grid and gives the most scattered cells back row
  by row (the *fine* summary of :mod:`.fitting_fast`, 10,000-30,000 points);
* :func:`split_summary` is a k-d tree whose leaves split where the scatter is (the *screen*
  summary, ~2,000 points: dense colours get many small leaves, outliers a few large ones).
"""

from __future__ import annotations

import numpy as np

FINE_CELLS = 1 << 18  # cells of the finest grid (64 levels per feature for three features)
SPLIT_START = 64  # the k-d tree starts from a grid of about size // 64 cells (cheaper first rounds)


def col_range(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature minimum and span (1 where constant) of rows ``x``. Column by column:
    numpy reduces a tall, narrow array along axis 0 some 20x slower."""
    lo = np.array([x[:, j].min() for j in range(x.shape[1])], np.float64)
    span = np.array([x[:, j].max() for j in range(x.shape[1])], np.float64) - lo
    span[~(span > 0)] = 1.0
    return lo, span


def _levels(f: int, cells: int) -> int:
    return max(2, int(round(cells ** (1.0 / f))))


def _cells(scaled: np.ndarray, levels: int) -> tuple[np.ndarray, int]:
    """Cell of each row of ``scaled`` (values in [0, 1]) on a grid of ``levels`` per feature:
    (cell index 0..m-1 per row, m occupied cells)."""
    f = scaled.shape[1]
    q = np.minimum((scaled * levels).astype(np.int64), levels - 1)
    key = q[:, 0].copy()
    for j in range(1, f):
        key *= levels
        key += q[:, j]
    if levels**f <= 1 << 22:
        occupied = np.bincount(key, minlength=levels**f).astype(bool)
        return (np.cumsum(occupied) - 1)[key], int(occupied.sum())
    _, inverse = np.unique(key, return_inverse=True)  # too many cells for a dense table
    return inverse, int(np.max(inverse)) + 1


def grid_summary(
    x: np.ndarray, w: np.ndarray, cells: int, budget: int | None = None, levels: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted points standing in for rows ``x`` (weights ``w``), finer where it matters.

    The rows are binned on a grid spanning their range: ``levels`` per feature, or a grid
    with between ``cells`` and ``budget`` occupied cells (found in a few tries).
    Each cell becomes one point, the weighted mean of its rows, weighted by their total
    weight; the k-means objective on these points equals the one on the rows up to the
    scatter inside the cells. So that this loss stays small where the pixels are (a dark
    image has most of them in a few cells), the cells with the largest scatter (weight x
    variance) are then given back as their rows, most scattered first, while the points
    number at most ``budget`` (default ``cells``). Rows are returned as they are when there
    are no more than ``budget``. Returns (points (M, F) float64, weights (M,) float64).
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, f = x.shape
    budget = cells if budget is None else budget
    if n <= budget:
        return x, w
    lo, span = col_range(x)
    scaled = (x - lo) / span
    finest = _levels(f, FINE_CELLS)
    if levels is not None:
        inverse, m = _cells(scaled, levels)
    else:
        # Photographs' colours fill a surface more than a volume: a grid of 8x the cells
        # has about ``cells`` occupied; then correct by the shortfall (or excess) as if the
        # occupied cells grew with the square of the levels.
        lv = min(_levels(f, 8 * cells), finest)
        for _ in range(4):
            inverse, m = _cells(scaled, lv)
            if m < cells and lv < finest:
                lv = min(max(lv + 1, int(lv * 1.05 * (cells / max(m, 1)) ** 0.5)), finest)
            elif m > budget and lv > 2:
                lv = max(2, min(lv - 1, int(lv * (budget / m) ** 0.5)))
            else:
                break
    weights = np.bincount(inverse, weights=w, minlength=m)
    sums = np.stack([np.bincount(inverse, weights=x[:, j] * w, minlength=m) for j in range(f)], axis=1)
    points = sums / weights[:, None]
    if m < budget:
        # scatter of each cell: sum of w |x|^2 minus W |mean|^2
        sq = np.bincount(inverse, weights=w * np.einsum("ij,ij->i", x, x), minlength=m)
        scatter = sq - weights * np.einsum("ij,ij->i", points, points)
        rows = np.bincount(inverse, minlength=m)
        order = np.argsort(-scatter, kind="stable")
        order = order[rows[order] > 1]
        extra = np.cumsum(rows[order] - 1)  # points added by giving back each cell's rows
        expand = np.zeros(m, bool)
        expand[order[: int(np.searchsorted(extra, budget - m, side="right"))]] = True
        if expand.any():
            back = expand[inverse]
            keep = ~expand
            points = np.concatenate([points[keep], x[back]])
            weights = np.concatenate([weights[keep], w[back]])
    return points, weights


def split_summary(x: np.ndarray, w: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """About ``size`` weighted points standing in for rows ``x`` (weights ``w``): the means of
    the leaves of a k-d tree that splits, round by round, the leaves holding the most
    scatter (weight x variance) at their mean along their widest axis.

    Splitting by scatter keeps the loss of the summary (the scatter left inside the
    leaves, which is what the k-means objective cannot see) nearly even across leaves, so a
    dense region gets many small leaves and sparse outliers a few large ones.
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, f = x.shape
    if n <= size:
        return x, w
    # the first levels of the tree are a coarse grid (an eighth of the leaves): cheaper than
    # splitting one leaf at a time, and the scatter-driven splits that follow even it out
    lo, span = col_range(x)
    leaf, m = _cells((x - lo) / span, _levels(f, max(1, size // SPLIT_START)))
    wx = x * w[:, None]
    while m < size:
        cnt = np.bincount(leaf, weights=w, minlength=m)
        mean = (
            np.stack([np.bincount(leaf, weights=wx[:, j], minlength=m) for j in range(f)], 1) / cnt[:, None]
        )
        dev = x - mean[leaf]
        var = np.stack([np.bincount(leaf, weights=w * dev[:, j] ** 2, minlength=m) for j in range(f)], 1)
        scatter = var.sum(axis=1)
        rows = np.bincount(leaf, minlength=m)
        splittable = rows > 1
        # split the most scattered leaves, at most doubling the leaves and not past size
        room = min(m, size - m)
        order = np.argsort(-np.where(splittable, scatter, -1.0), kind="stable")[:room]
        order = order[splittable[order] & (scatter[order] > 0)]
        if order.size == 0:
            break
        split = np.zeros(m, bool)
        split[order] = True
        axis = var.argmax(axis=1)
        child = np.full(m, -1, np.int64)
        child[order] = m + np.arange(order.size)
        on = split[leaf]
        right = on & (dev[np.arange(n), axis[leaf]] > 0)
        leaf[right] = child[leaf[right]]
        m += order.size
    cnt = np.bincount(leaf, weights=w, minlength=m)
    keep = cnt > 0
    mean = np.stack([np.bincount(leaf, weights=wx[:, j], minlength=m) for j in range(f)], 1)
    return mean[keep] / cnt[keep, None], cnt[keep]
