"""Candidate centres for the fast path, fitted on weighted summaries of *every* pixel.

Choosing among ``cv2.kmeans`` attempts fitted on a 5,000-pixel sample misses clusters that
hold few pixels: a cluster of 0.5% of the image has ~25 sampled pixels, and an attempt
that never puts a centre there is not saved by refining later. Here every pixel counts:

* the weighted points come from :mod:`.summaries` (a few thousand standing in for
  millions of pixels, each weighted by its pixel count);
* :func:`kmeans_pp` seeds many starts at once by weighted greedy k-means++ (centres drawn
  with probability proportional to pixel count x squared distance to the centres so far,
  the best of a few draws kept), so a distinct colour held by few pixels still gets a
  centre in a good share of the starts;
* :func:`lloyd_batch` refines all starts together with weighted Lloyd steps (one numpy
  pass per step for every start: the cost is in arithmetic, not in Python calls);
* :func:`refine` refines one solution with Hamerly's bounds (rows that cannot change
  cluster are not measured again), cheap to converge tightly on many points.

Everything is float64 numpy without BLAS (thin matrix products spin OpenBLAS threads,
which costs far more than they save on a shared machine); deterministic for a given rng.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def squared_distances(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared distances of rows ``x`` (n, F) to centres ``c`` (..., F): shape (n, ...).

    Accumulated feature by feature (exact in float64, no cancellation, no BLAS).
    """
    flat = c.reshape(-1, c.shape[-1])
    d = np.subtract.outer(x[:, 0], flat[:, 0])
    d *= d
    for j in range(1, x.shape[1]):
        t = np.subtract.outer(x[:, j], flat[:, j])
        t *= t
        d += t
    return d.reshape(x.shape[0], *c.shape[:-1])


def kmeans_pp(
    x: np.ndarray,
    w: np.ndarray,
    k: int,
    starts: int,
    rng: np.random.Generator,
    trials: int | None = None,
    check: Callable[[], None] | None = None,
) -> np.ndarray:
    """Weighted greedy k-means++ seeding of ``starts`` independent starts: (starts, k, F).

    Each new centre is the best (lowest resulting inertia) of ``trials`` rows drawn with
    probability proportional to weight x squared distance to the nearest centre so far.
    ``check()`` is called before each centre (it raises to cancel).
    """
    n = x.shape[0]
    if n < k:
        raise ValueError(f"k-means++ needs at least K={k} points; got {n}.")
    trials = trials or 2 + int(np.log(k))
    rows = np.arange(starts)
    cw = np.cumsum(w)
    first = np.minimum(np.searchsorted(cw, rng.random(starts) * cw[-1], side="right"), n - 1)
    chosen = np.empty((starts, k), np.int64)
    chosen[:, 0] = first
    d = squared_distances(x, x[first]).T  # (starts, n)
    for m in range(1, k):
        if check is not None:
            check()
        cum = np.cumsum(d * w, axis=1)
        total = cum[:, -1:].copy()
        flat_rows = total[:, 0] > 0
        total[~flat_rows] = 1.0
        # one searchsorted for every start: row b's cumulative sums are shifted into [b, b+1]
        cum /= total
        cum += rows[:, None]
        draws = rng.random((starts, trials)) + rows[:, None]
        cand = np.searchsorted(cum.ravel(), draws.ravel(), side="right").reshape(starts, trials)
        cand = np.clip(cand - rows[:, None] * n, 0, n - 1)
        if not flat_rows.all():  # every row of a start sits on a centre: take unused rows
            for b in np.flatnonzero(~flat_rows):
                free = np.setdiff1d(np.arange(n), chosen[b, :m])
                cand[b] = free[0]
        dc = np.minimum(squared_distances(x, x[cand]).transpose(1, 2, 0), d[:, None, :])
        best = (dc @ w).argmin(axis=1)
        chosen[:, m] = cand[rows, best]
        d = dc[rows, best]
    return x[chosen]


def lloyd_batch(
    x: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    max_iter: int,
    tol: float,
    check: Callable[[], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Lloyd steps for several starts at once (centres (B, K, F)).

    A start stops when the largest squared shift of its centres is <= ``tol`` (cv2's rule
    for epsilon). A cluster left without rows moves to the row that adds most to the
    inertia, so no centre is wasted. Returns (centres (B, K, F), inertia (B,)).
    """
    c = np.array(centers, np.float64, ndmin=3)
    b_all, k, f = c.shape
    wx = x * w[:, None]
    active = np.arange(b_all)
    for _ in range(max_iter):
        if check is not None:
            check()
        ca = c[active]
        nb = active.size
        d = squared_distances(x, ca)  # (n, nb, k)
        lab = d.argmin(axis=2)  # (n, nb)
        flat = (lab + np.arange(nb) * k).ravel()
        cnt = np.bincount(flat, weights=np.repeat(w, nb), minlength=nb * k).reshape(nb, k)
        sums = np.stack(
            [np.bincount(flat, weights=np.repeat(wx[:, j], nb), minlength=nb * k) for j in range(f)], axis=1
        ).reshape(nb, k, f)
        new = ca.copy()
        nz = cnt > 0
        new[nz] = sums[nz] / cnt[nz][:, None]
        for b in np.flatnonzero(~nz.all(axis=1)):
            cost = w * np.take_along_axis(d[:, b], lab[:, b, None], axis=1)[:, 0]
            for j in np.flatnonzero(~nz[b]):
                p = int(np.argmax(cost))
                new[b, j] = x[p]
                cost[p] = 0.0
        shift = ((new - ca) ** 2).sum(axis=2).max(axis=1)
        c[active] = new
        active = active[shift > tol]
        if active.size == 0:
            break
    return c, inertia(x, w, c, check)


def last_min(d: np.ndarray) -> np.ndarray:
    """``d.min(axis=-1)``; for a few columns (<= 8) column by column, since numpy's
    reduction along a short last axis is several times slower (along a long one, as at
    large K, numpy's own is up to 30x faster than a loop over the columns)."""
    if d.shape[-1] > 8:
        return d.min(axis=-1)
    out = d[..., 0].copy()
    for j in range(1, d.shape[-1]):
        np.minimum(out, d[..., j], out=out)
    return out


def inertia(
    x: np.ndarray, w: np.ndarray, centers: np.ndarray, check: Callable[[], None] | None = None
) -> np.ndarray:
    """Weighted sum of squared distances to the nearest centre, per start (centres (B, K, F)),
    in pieces of at most 2^22 distances (``check()`` before each)."""
    b, k = centers.shape[:2]
    out = np.zeros(b)
    rows = max(1, (1 << 22) // (b * k))
    for s in range(0, x.shape[0], rows):
        if check is not None:
            check()
        out += w[s : s + rows] @ last_min(squared_distances(x[s : s + rows], centers))
    return out


def distinct(
    centers: np.ndarray, scores: np.ndarray, limit: int | None = None, rel: float = 0.01
) -> list[int]:
    """Indices of the starts (centres (B, K, F)) in order of ``scores``, a solution counted
    once: a start whose every centre lies within ``rel`` of the centres' scale from a centre
    of a solution already kept (and the other way round) is the same solution, reached
    from another start and stopped at another point of its slow final approach."""
    scale = float(np.abs(centers).max()) or 1.0
    near = (rel * scale) ** 2
    kept: list[int] = []
    for i in np.argsort(scores, kind="stable"):
        ci = centers[i]
        same = False
        for j in kept:
            d = squared_distances(ci, centers[j])
            if d.min(axis=1).max() <= near and d.min(axis=0).max() <= near:
                same = True
                break
        if not same:
            kept.append(int(i))
            if limit is not None and len(kept) >= limit:
                break
    return kept


def _two_nearest(x: np.ndarray, c: np.ndarray, check: Callable[[], None] | None = None):
    """Nearest centre of each row, its distance and the distance to the second nearest
    (inf with one centre), in pieces of at most 2^22 distances (``check()`` before each)."""
    n, k = x.shape[0], c.shape[0]
    lab = np.empty(n, np.intp)
    first = np.empty(n)
    second = np.full(n, np.inf)
    step = max(1, (1 << 22) // k)
    for s in range(0, n, step):
        if check is not None:
            check()
        d = squared_distances(x[s : s + step], c)
        li = d.argmin(axis=1)
        rows = np.arange(li.size)
        lab[s : s + step] = li
        first[s : s + step] = d[rows, li]
        if k > 1:
            d[rows, li] = np.inf
            second[s : s + step] = last_min(d)
    return lab, np.sqrt(first), np.sqrt(second)


def refine(
    x: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    max_iter: int,
    tol: float,
    check: Callable[[], None] | None = None,
    want_inertia: bool = True,
) -> tuple[np.ndarray, float]:
    """Weighted Lloyd steps for one solution, with Hamerly's distance bounds.

    Each row keeps an upper bound on the distance to its centre and a lower bound on the
    distance to any other; after the centres move, only rows whose bounds overlap are
    measured again, and the cluster sums are updated by the rows that changed cluster.
    Near convergence a step costs a few vector operations over the rows instead of a
    full (n, K) distance pass, so converging tightly on a 300k-colour histogram is cheap.
    Stops when the largest squared centre shift is <= ``tol``. Returns (centres, inertia
    at those centres, or NaN without ``want_inertia``).
    """
    c = np.asarray(centers, np.float64).copy()
    k, f = c.shape
    lab, u, low = _two_nearest(x, c, check)
    cnt = np.bincount(lab, weights=w, minlength=k)
    sums = np.stack([np.bincount(lab, weights=x[:, j] * w, minlength=k) for j in range(f)], axis=1)
    for _ in range(max_iter):
        if check is not None:
            check()
        new = c.copy()
        nz = cnt > 0
        new[nz] = sums[nz] / cnt[nz, None]
        move = np.sqrt(((new - c) ** 2).sum(axis=1))
        c = new
        if float((move**2).max()) <= tol:
            break
        # bounds after the move: own centre may have come closer by at most move[lab]...
        u += move[lab]
        order = np.argsort(move)
        far, second = move[order[-1]], (move[order[-2]] if k > 1 else 0.0)
        low -= np.where(lab == order[-1], second, far)
        # ...and a row is safe when its centre is nearer than half the gap to any other
        gap = np.sqrt(squared_distances(c, c))
        np.fill_diagonal(gap, np.inf)
        half = 0.5 * gap.min(axis=1)
        bound = np.maximum(low, half[lab])
        idx = np.flatnonzero(u > bound)
        if idx.size:
            xi = x[idx]
            diff = xi - c[lab[idx]]
            u[idx] = np.sqrt(sum(diff[:, j] ** 2 for j in range(f)))
            keep = u[idx] > bound[idx]
            idx, xi = idx[keep], xi[keep]
        if idx.size:
            li, u[idx], low[idx] = _two_nearest(xi, c, check)
            moved = li != lab[idx]
            if moved.any():
                j, old, to = idx[moved], lab[idx[moved]], li[moved]
                wj = w[j]
                cnt -= np.bincount(old, weights=wj, minlength=k)
                cnt += np.bincount(to, weights=wj, minlength=k)
                for m in range(f):
                    wxm = x[j, m] * wj
                    sums[:, m] -= np.bincount(old, weights=wxm, minlength=k)
                    sums[:, m] += np.bincount(to, weights=wxm, minlength=k)
                lab[j] = to
    return c, float(inertia(x, w, c[None], check)[0]) if want_inertia else float("nan")
