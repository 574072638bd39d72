"""Spatially coherent clusters: a mean-field Potts smoothing of the pixel-to-centre distances.

Pixel-wise k-means labels every pixel alone, so a dim, noisy object comes out speckled. With
``smoothing = s`` the labels maximise, approximately, the posterior of a Potts model: each
pixel's own evidence (its squared distance to every centre, in units of the fit's mean
squared distance, the "temperature") plus a reward for agreeing with its neighbours, the
neighbourhood being a Gaussian of width ``s``. The approximation is mean-field: the class
probabilities of every pixel are updated :data:`ITERATIONS` times from the Gaussian-weighted
probabilities around it (Zhang 1992, "Mean field theory in EM procedures for Markov random
fields"). Edges between regions stay where the distances put them (the smoothing weighs
labels, not intensities), while isolated pixels that disagree with their surroundings flip.

The work goes in slabs along the first axis with a halo of :func:`halo` pixels, which is
exact (each slab's inner pixels see the same neighbourhood as in one piece) and bounds the
memory; the same halo serves dask's ``map_overlap``. ``smoothing = 0`` skips all of this.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

#: Strength of the neighbours' vote, in units of the temperature: a pixel whose whole
#: neighbourhood is in one class joins it unless its own distances favour another class by
#: more than this many times the fit's mean squared distance.
BETA = 8.0
#: Mean-field updates. Each spreads information by about one kernel width.
ITERATIONS = 2
#: Gaussian kernels are cut at this many sigmas.
TRUNCATE = 3.0
#: Pixels (times K) per slab: bounds the memory of the K probability maps.
SLAB_WORK = 1 << 23


def smoothing_sigmas(smoothing, spatial_shape: Sequence[int], scale=None) -> tuple[float, ...] | None:
    """The Gaussian's sigma along every spatial axis, in pixels, or None for no smoothing.

    Parameters
    ----------
    smoothing : float
        Width of the neighbourhood, in pixels, or in the units of ``scale`` when given.
    spatial_shape : sequence of int
        The image's spatial shape.
    scale : sequence of float, optional
        Size of a pixel along each spatial axis (napari's ``layer.scale``); anisotropic
        voxels get a narrower kernel (in pixels) along their long axis.

    Raises
    ------
    ValueError
        For a negative, NaN or infinite ``smoothing``, one wider than the image, or a
        ``scale`` that is not one positive number per axis.
    """
    if isinstance(smoothing, bool) or not isinstance(smoothing, int | float | np.number):
        raise TypeError(f"smoothing must be a number (0 turns it off), not {smoothing!r}.")
    s = float(smoothing)
    if not math.isfinite(s) or s < 0:
        raise ValueError(f"smoothing={smoothing!r}: use a finite number >= 0 (0 turns it off).")
    ndim = len(spatial_shape)
    if scale is None:
        px = np.ones(ndim)
    else:
        px = np.abs(np.asarray(scale, np.float64).ravel())  # a negative scale flips, same size
        if px.size != ndim or not (np.isfinite(px).all() and (px > 0).all()):
            raise ValueError(
                f"scale={list(np.ravel(scale))}: give one non-zero pixel size per spatial axis "
                f"({ndim} here), as napari's layer.scale."
            )
    if s == 0:
        return None
    sigmas = s / px
    top = max(spatial_shape)
    if float(np.max(sigmas)) > top:
        unit = "pixels" if scale is None else "units of the scale"
        raise ValueError(
            f"smoothing={smoothing!r} ({unit}) is wider than the image ({top} pixels along its "
            "largest axis): every pixel would take its neighbourhood's majority, the whole "
            "image one cluster. Use a smoothing of about an object's radius or less (1-2 pixels "
            "for nuclei)."
        )
    return tuple(float(v) for v in sigmas)


def halo(sigmas: Sequence[float]) -> tuple[int, ...]:
    """Pixels along each axis that a pixel's label depends on (kernel radius x iterations)."""
    return tuple(ITERATIONS * kernel_radius(s) for s in sigmas)


def kernel_radius(sigma: float) -> int:
    return int(math.ceil(TRUNCATE * sigma)) if sigma > 0 else 0


def blur(maps: np.ndarray, sigmas: Sequence[float]) -> None:
    """Gaussian blur of every map ``maps[k]`` over its spatial axes, in place (edges reflect).

    The last two axes go through ``cv2.sepFilter2D`` (several times faster here than
    ``cv2.GaussianBlur`` on float32), further axes through scipy's 1-D filter.
    """
    import cv2
    from scipy import ndimage

    nd = maps.ndim - 1
    sy, sx = sigmas[-2], sigmas[-1]
    ry, rx = kernel_radius(sy), kernel_radius(sx)
    ky = _kernel(ry, sy)
    kx = _kernel(rx, sx)
    for k in range(maps.shape[0]):
        m = maps[k]
        if rx or ry:
            for p in m.reshape(-1, *m.shape[-2:]):  # views: blurred in place, plane by plane
                cv2.sepFilter2D(p, cv2.CV_32F, kx, ky, dst=p, borderType=cv2.BORDER_REFLECT)
        for axis in range(nd - 2):
            if sigmas[axis] > 0:
                ndimage.gaussian_filter1d(
                    m, sigmas[axis], axis=axis, mode="reflect", truncate=TRUNCATE, output=m
                )


def _kernel(radius: int, sigma: float) -> np.ndarray:
    if radius == 0:
        return np.ones((1, 1), np.float32)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return (w / w.sum()).astype(np.float32).reshape(-1, 1)


def _softmax(e: np.ndarray, out: np.ndarray) -> None:
    """``out[k] = exp(e[k]) / sum_j exp(e[j])``, map by map (contiguous planes: several times
    faster than numpy's reductions over the first axis)."""
    import cv2

    top = e[0].copy()
    for k in range(1, e.shape[0]):
        np.maximum(top, e[k], out=top)
    total = np.zeros_like(top)
    for k in range(e.shape[0]):
        np.subtract(e[k], top, out=out[k])
        flat = out[k].reshape(-1, 1)
        cv2.exp(flat, dst=flat)
        total += out[k]
    np.divide(1.0, total, out=total)
    for k in range(e.shape[0]):
        out[k] *= total


def _argmax(e: np.ndarray) -> np.ndarray:
    """Index of the largest map at every pixel (the first among equals), map by map."""
    best = e[0].copy()
    lab = np.zeros(e.shape[1:], np.uint8 if e.shape[0] < 256 else np.int32)
    better = np.empty(e.shape[1:], bool)
    for k in range(1, e.shape[0]):
        np.greater(e[k], best, out=better)
        np.copyto(lab, lab.dtype.type(k), where=better)
        np.maximum(best, e[k], out=best)
    return lab


def potts(distances: np.ndarray, sigmas: Sequence[float], temperature: float) -> np.ndarray:
    """Mean-field Potts labels from squared distances ``distances`` (K, *spatial), float32:
    the index 0..K-1 of every pixel's most probable class. Pixels with equal distances to
    every centre (left out of the run) are neutral: they favour no class."""
    t = max(float(temperature), 1e-30)
    unary = distances * np.float32(-1.0 / t)  # log-likelihood up to a constant
    q = np.empty_like(unary)
    _softmax(unary, q)
    e = np.empty_like(unary)
    for i in range(ITERATIONS):
        # each class's probability around every pixel; the probabilities sum to 1 and the
        # kernel to 1, so the last class's is what the others leave
        blur(q[:-1], sigmas)
        np.subtract(1.0, q[:-1].sum(axis=0), out=q[-1])
        for k in range(e.shape[0]):
            np.multiply(q[k], np.float32(BETA), out=e[k])
            e[k] += unary[k]
        if i < ITERATIONS - 1:
            _softmax(e, q)
    return _argmax(e)


def slabs(n: int, inner: int, k: int, reach: int) -> list[tuple[int, int, int, int]]:
    """Slabs along the first axis: (start, stop) of the slab's own rows and of the rows read
    with the halo, so that every slab holds about :data:`SLAB_WORK` / K pixels."""
    rows = max(1, SLAB_WORK // max(1, k * inner) - 2 * reach)
    out = []
    for a in range(0, n, rows):
        b = min(a + rows, n)
        out.append((a, b, max(0, a - reach), min(n, b + reach)))
    return out


def smooth_labels(
    distances_of: Callable[[int, int], tuple[np.ndarray, np.ndarray | None]],
    spatial_shape: Sequence[int],
    k: int,
    sigmas: Sequence[float],
    temperature: float,
    check: Callable[[], None] | None = None,
    report: Callable[[float, str], None] | None = None,
) -> tuple[np.ndarray, float]:
    """Smoothed labels 1..K (0 for pixels left out) of a whole image, slab by slab.

    ``distances_of(r0, r1)`` gives the squared distances (K, r1 - r0, *spatial_shape[1:])
    of the rows ``r0:r1`` of the first axis, float32, and their valid mask (None: all valid).
    Returns the flat labels and the sum of the squared distances of the valid pixels to
    their label's centre (the compactness).
    """
    n = spatial_shape[0]
    inner = int(np.prod(spatial_shape[1:]))
    reach = halo(sigmas)[0]
    parts = slabs(n, inner, k, reach)
    dtype = np.dtype(np.uint8 if k < 255 else np.uint16 if k < 65535 else np.uint32)
    out = np.zeros(n * inner, dtype)
    compactness = 0.0
    for i, (a, b, lo, hi) in enumerate(parts):
        if check is not None:
            check()
        if report is not None:
            report(i / len(parts), f"smoothing the clusters, part {i + 1}/{len(parts)}")
        d, valid = distances_of(lo, hi)
        if valid is not None:
            d[:, ~valid] = 0  # neutral: the same for every class
        lab = potts(d, sigmas, temperature)[a - lo : b - lo]
        v = None if valid is None else valid[a - lo : b - lo]
        for j in range(k):  # the compactness: distances to the chosen centres
            mine = lab == j
            if v is not None:
                mine &= v
            compactness += float(d[j, a - lo : b - lo][mine].sum(dtype=np.float64))
        lab = lab.astype(dtype, copy=False)
        lab += 1
        if v is not None:
            lab[~v] = 0
        out[a * inner : b * inner] = lab.ravel()
    return out, compactness


def squared_distances(rows: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """(K, n) float32 squared distances of feature rows (n, F) to centres (K, F), feature by
    feature on contiguous columns (relative to the centres' mean, so float32 keeps the
    digits that separate them)."""
    c = np.asarray(centers, np.float64)
    ref = c.mean(axis=0)
    cols = np.empty((rows.shape[1], rows.shape[0]), np.float32)
    for f in range(rows.shape[1]):
        np.subtract(rows[:, f], ref[f], out=cols[f], casting="unsafe")
    cc = (c - ref).astype(np.float32)
    d = np.zeros((c.shape[0], rows.shape[0]), np.float32)
    tmp = np.empty(rows.shape[0], np.float32)
    for j in range(c.shape[0]):
        for f in range(cols.shape[0]):
            np.subtract(cols[f], cc[j, f], out=tmp)
            np.multiply(tmp, tmp, out=tmp)
            d[j] += tmp
    return d


def model_sigmas(params: dict, spatial_shape: Sequence[int], scale=None) -> tuple[float, ...] | None:
    """The sigmas a saved model smooths with on an image of ``spatial_shape``: from its
    ``smoothing`` and the image's ``scale`` when given, else the sigmas (pixels) it was fitted
    with, else its ``smoothing`` in pixels. None when the model does not smooth."""
    s = params.get("smoothing") or 0
    if not s:
        return None
    if scale is not None:
        return smoothing_sigmas(s, spatial_shape, scale)
    stored = params.get("smoothing_sigma")
    if isinstance(stored, list | tuple) and len(stored) == len(spatial_shape):
        sig = np.asarray(stored, np.float64)
        if not (np.isfinite(sig).all() and (sig >= 0).all()) or float(np.max(sig)) > max(spatial_shape):
            raise ValueError(
                f"This model's smoothing_sigma {list(stored)} is not a usable width for an image "
                f"of shape {tuple(spatial_shape)}; refit the model."
            )
        return tuple(float(v) for v in sig)
    return smoothing_sigmas(s, spatial_shape)
