"""The nearest centre of every 8-bit RGB colour, box by box instead of colour by colour.

A lazy image's label table (:func:`.lazy.label_table`) holds the label of all 2^24 RGB
colours; measuring them one by one takes seconds. When the features are an affine map of
the colour (``color_space="rgb"``, normalised or not), the difference of two squared
distances, |f(x) - c_B|^2 - |f(x) - c_A|^2, is affine in the colour x, so its smallest
value over a box of colours is at a corner. When, for every other centre B, that smallest
value exceeds a margin far above float32's rounding, every colour of the box has centre A,
in exact arithmetic and in the float32 arithmetic of :func:`.numerics.nearest`. Boxes that
fail are halved (16, 8, 4, 2 colours a side); the colours of 2-boxes that still fail (near
a boundary) are measured with :func:`.numerics.nearest` itself, so every entry is what the
in-memory path computes for that colour.
"""

from __future__ import annotations

import numpy as np

from .numerics import nearest

BOX = 16  # side of the first boxes of colours (16^3 boxes)


def boxes_apply(fs) -> bool:
    """Whether :func:`rgb8_labels` applies: features an affine map of the colour alone."""
    return fs.color_space == "rgb" and fs.per_color and fs.offset is None


def rgb8_labels(fs, centers: np.ndarray, labels: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[key] = labels[nearest feature centre]`` for every 8-bit RGB colour key
    r << 16 | g << 8 | b (``out``: 2^24 entries; centres (K, 3); see the module docstring)."""
    centers = np.asarray(centers, np.float64)
    normalized = fs.normalize and fs.mean is not None
    mean = np.asarray(fs.mean, np.float64) if normalized else np.zeros(3)
    inv = 1.0 / np.asarray(fs.std, np.float64) if normalized else np.ones(3)
    # 1e-5 of the squared feature range: ~2 for plain 8-bit RGB, where float32's error is ~0.05
    margin = 1e-5 * float(((255.0 * inv) ** 2).sum())
    # most negative change of d_B - d_A per colour step along every channel, per (A, B)
    grad = 2.0 * (centers[:, None, :] - centers[None, :, :]) * inv
    drop = np.minimum(grad, 0.0).sum(axis=2)
    labels = np.asarray(labels, out.dtype)
    cube = out.reshape(256, 256, 256)
    side = BOX
    g = np.arange(0, 256, side)
    origins = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    corners = np.stack(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij"), axis=-1).reshape(-1, 3)
    while side > 1 and origins.size:
        a, gap = _nearest_and_gap(((origins - mean) * inv).T, centers, (side - 1) * drop)
        sure = gap >= margin
        o = origins[sure] // side
        view = cube.reshape(256 // side, side, 256 // side, side, 256 // side, side)
        view[o[:, 0], :, o[:, 1], :, o[:, 2], :] = labels[a[sure], None, None, None]
        side //= 2
        origins = (origins[~sure][:, None, :] + side * corners[None]).reshape(-1, 3)
    if origins.size:  # single colours near a boundary: measured as the in-memory path does
        x = fs.transform(origins.astype(np.float32))
        lab, _ = nearest(x, centers.astype(np.float32))
        cube[origins[:, 0], origins[:, 1], origins[:, 2]] = labels[lab]
    return out


def _nearest_and_gap(ft: np.ndarray, centers: np.ndarray, drop: np.ndarray):
    """For points ``ft`` (F, n): the nearest centre A and, over every other centre B, the
    smallest d_B - d_A + drop[A, B] (float64, one centre at a time: no (n, K) temporaries)."""
    k = centers.shape[0]
    d = np.empty((k, ft.shape[1]))
    for j in range(k):
        t = ft[0] - centers[j, 0]
        np.multiply(t, t, out=d[j])
        for f in range(1, ft.shape[0]):
            t = ft[f] - centers[j, f]
            t *= t
            d[j] += t
    a = np.zeros(ft.shape[1], np.intp)
    best = d[0].copy()
    for j in range(1, k):
        closer = d[j] < best
        a[closer] = j
        np.minimum(best, d[j], out=best)
    gap = np.full(ft.shape[1], np.inf)
    for j in range(k):
        t = d[j] - best
        t += drop[a, j]
        t[a == j] = np.inf
        np.minimum(gap, t, out=gap)
    return a, gap
